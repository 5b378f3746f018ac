import type { Clock, HarombeConfig } from '@harombe/core';
import { Housekeeper } from '@harombe/queue';
import {
  createJobPipeline,
  createRegistry,
  FleetMetrics,
  JobMetrics,
  RedisConnections,
  startOpsServer,
  WebhookMetrics,
  type JobPipeline,
  type WebhookTuning,
} from '@harombe/service-kit';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ApprovalMetrics } from './approval-metrics.js';
import { SlackApprovals, type SlackTuning } from './slack-approvals.js';

export interface ApprovalServiceOptions {
  config: HarombeConfig;
  logger: Logger;
  /** Default: the system clock. */
  clock?: Clock;
  /** Milliseconds between housekeeping sweeps. Default 250. */
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
 * Holds risky jobs until a person decides: approval deadlines live in Redis and this service
 * expires them on time, across restarts of anything. It also keeps the fleet's other timers
 * (jobs of lost workers, jobs accepted but never queued) and delivers the webhooks.
 */
export class ApprovalService {
  readonly housekeeper: Housekeeper;
  readonly pipeline: JobPipeline;
  private readonly redis: RedisConnections;
  private readonly metrics = createRegistry('approval');
  /** Expiries and lost workers; the fleet-wide gauges are exported here, and only here. */
  private readonly jobMetrics = new JobMetrics(this.metrics);
  private readonly fleetMetrics: FleetMetrics;
  private ops: FastifyInstance | undefined;
  /** Approval requests and decisions in Slack, when slack.enabled. */
  readonly slack: SlackApprovals | undefined;
  private readonly approvalMetrics: ApprovalMetrics;
  /** Deliveries by outcome and their latency, of the webhooks this service delivers. */
  private readonly webhookMetrics: WebhookMetrics;

  constructor(private readonly options: ApprovalServiceOptions) {
    const { config, logger } = options;
    this.redis = new RedisConnections(config.redis.url, logger);
    this.pipeline = createJobPipeline(config, this.redis, logger, options.clock, this.jobMetrics, options.webhooks);
    const { store, jobs, dispatcher, workers, clock, keys } = this.pipeline;
    this.housekeeper = new Housekeeper({
      store,
      service: jobs,
      dispatcher,
      workers,
      clock,
      logger,
      intervalMs: options.intervalMs ?? 250,
      observer: this.jobMetrics,
      audit: this.pipeline.audit,
      sandboxes: this.pipeline.sandboxes,
      lostSandboxTtlSeconds: config.api.result_ttl_seconds,
    });
    this.fleetMetrics = new FleetMetrics({
      registry: this.metrics,
      redis: this.redis.commands,
      keys,
      store,
      workers,
      clock,
      logger,
    });
    this.approvalMetrics = new ApprovalMetrics({
      registry: this.metrics,
      redis: this.redis.commands,
      keys,
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
    this.housekeeper.start();
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
    await this.housekeeper.stop();
    await this.ops?.close();
    await this.fleetMetrics.close();
    await this.pipeline.close();
    await this.redis.close();
  }
}
