import type { Clock, HarombeConfig } from '@harombe/core';
import { Housekeeper } from '@harombe/queue';
import { createJobPipeline, createRegistry, RedisConnections, startOpsServer, type JobPipeline } from '@harombe/service-kit';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Gauge } from 'prom-client';

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
}

/**
 * Holds risky jobs until a person decides: approval deadlines live in Redis and this service
 * expires them on time, across restarts of anything. It also keeps the fleet's other timers
 * (jobs of lost workers, jobs accepted but never queued).
 */
export class ApprovalService {
  readonly housekeeper: Housekeeper;
  readonly pipeline: JobPipeline;
  private readonly redis: RedisConnections;
  private readonly metrics = createRegistry('approval');
  private ops: FastifyInstance | undefined;

  constructor(private readonly options: ApprovalServiceOptions) {
    const { config, logger } = options;
    this.redis = new RedisConnections(config.redis.url, logger);
    this.pipeline = createJobPipeline(config, this.redis, logger, options.clock);
    const { store, jobs, dispatcher, workers, clock } = this.pipeline;
    this.housekeeper = new Housekeeper({ store, service: jobs, dispatcher, workers, clock, logger, intervalMs: options.intervalMs ?? 250 });
    new Gauge({
      name: 'harombe_approvals_pending',
      help: 'Jobs waiting for an approval decision',
      registers: [this.metrics],
      collect: async function (this: Gauge) {
        this.set(await store.countAwaitingApproval());
      },
    });
  }

  async start(): Promise<void> {
    await this.pipeline.events.start();
    this.housekeeper.start();
    this.ops = await startOpsServer({
      host: this.options.opsHost ?? '127.0.0.1',
      port: this.options.opsPort ?? 9102,
      registry: this.metrics,
      readiness: { redis: () => this.redis.ping() },
    });
    this.options.logger.info('approval service holding approvals');
  }

  async stop(): Promise<void> {
    await this.housekeeper.stop();
    await this.ops?.close();
    await this.pipeline.close();
    await this.redis.close();
  }
}
