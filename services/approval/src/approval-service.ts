import type { Clock, HarombeConfig } from '@harombe/core';
import {
  createJobPipeline,
  createRegistry,
  JobMetrics,
  RedisConnections,
  startOpsServer,
  WebhookMetrics,
  type JobPipeline,
  type WebhookTuning,
} from '@harombe/service-kit';
import { SlackApprovals, type SlackTuning } from '@harombe/slack-approvals';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ApprovalMetrics } from './approval-metrics.js';
import { FleetController } from './fleet-controller.js';

export interface ApprovalServiceOptions {
  config: HarombeConfig;
  logger: Logger;
  /** Default: the system clock. */
  clock?: Clock;
  /** Most milliseconds between housekeeping sweeps (see HousekeeperOptions.intervalMs). Default 1 000. */
  intervalMs?: number;
  /** Port of /healthz, /readyz, /metrics; 0 picks a free one. Default 9102. */
  opsPort?: number;
  /** Default 127.0.0.1. */
  opsHost?: string;
  /** Where the Slack secrets' environment variables are read. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Timings of the Slack side (tests shorten them). Default: production's. */
  slack?: SlackTuning;
  /** The webhooks' retry schedule and resolver (tests inject them). Default: from the configuration. */
  webhooks?: WebhookTuning;
}

/**
 * The approval service, wiring: the fleet's controller (approval deadlines, housekeeping, the
 * fleet-wide gauges), approvals in Slack when slack.enabled, webhook deliveries, the approval
 * metrics, and /healthz, /readyz, /metrics.
 */
export class ApprovalService {
  readonly pipeline: JobPipeline;
  readonly controller: FleetController;
  /** Approval requests and decisions in Slack, when slack.enabled. */
  readonly slack: SlackApprovals | undefined;
  private readonly redis: RedisConnections;
  private readonly metrics = createRegistry('approval');
  private readonly approvalMetrics: ApprovalMetrics;
  /** Deliveries by outcome and their latency, of the webhooks this service delivers. */
  private readonly webhookMetrics: WebhookMetrics;
  private ops: FastifyInstance | undefined;

  constructor(private readonly options: ApprovalServiceOptions) {
    const { config, logger } = options;
    this.redis = new RedisConnections(config.redis.url, logger);
    // Expiries and lost workers are counted here; the fleet-wide gauges are exported here, and only here.
    const jobMetrics = new JobMetrics(this.metrics);
    this.pipeline = createJobPipeline(config, this.redis, logger, options.clock, jobMetrics, options.webhooks);
    this.controller = new FleetController({
      pipeline: this.pipeline,
      jobMetrics,
      redis: this.redis.commands,
      registry: this.metrics,
      logger,
      intervalMs: options.intervalMs,
      lostSandboxTtlSeconds: config.api.result_ttl_seconds,
    });
    this.approvalMetrics = new ApprovalMetrics({
      registry: this.metrics,
      redis: this.redis.commands,
      keys: this.pipeline.keys,
      events: this.pipeline.events,
      logger,
    });
    const slack = { env: options.env, tuning: options.slack, observer: this.approvalMetrics };
    this.slack = config.slack.enabled
      ? SlackApprovals.forPipeline(config, this.pipeline, this.redis.commands, logger, slack)
      : undefined;
    if (this.slack) this.approvalMetrics.watchOutbox(this.slack.outbox);
    const { webhooks } = this.pipeline;
    this.webhookMetrics = new WebhookMetrics(this.metrics, { pendingEvents: () => webhooks.pendingEvents() });
  }

  async start(): Promise<void> {
    await this.pipeline.events.start();
    this.approvalMetrics.start();
    await this.slack?.start();
    this.controller.start();
    // Recorded webhook events into deliveries, and the deliveries themselves.
    await this.pipeline.webhooks.start({ events: this.pipeline.events, metrics: this.webhookMetrics });
    this.ops = await startOpsServer({
      host: this.options.opsHost ?? '127.0.0.1',
      port: this.options.opsPort ?? 9102,
      registry: this.metrics,
      readiness: { redis: () => this.redis.ping() },
    });
    this.options.logger.info({ ops: this.opsAddress }, 'approval service holding approvals');
  }

  /** http://host:port of /healthz, /readyz and /metrics, once started. */
  get opsAddress(): string | undefined {
    const address = this.ops?.server.address();
    return address && typeof address === 'object' ? `http://${address.address}:${address.port}` : undefined;
  }

  async stop(): Promise<void> {
    await this.pipeline.webhooks.stop();
    await this.slack?.stop();
    this.approvalMetrics.stop();
    await this.ops?.close();
    await this.controller.stop();
    await this.pipeline.close();
    await this.redis.close();
  }
}
