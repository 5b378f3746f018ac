import type { Clock, HarombeConfig } from '@harombe/core';
import {
  createJobPipeline,
  createRegistry,
  JobMetrics,
  RedisConnections,
  type JobPipeline,
} from '@harombe/service-kit';
import type { Logger } from 'pino';
import { ApiKeyring } from './api-keyring.js';
import { buildApiServer, type ApiServer } from './api-server.js';

export interface ApiServiceOptions {
  config: HarombeConfig;
  logger: Logger;
  /** Default: the system clock. */
  clock?: Clock;
}

/** The producer API process: wires Redis, the job pipeline and the HTTP server together. */
export class ApiService {
  readonly pipeline: JobPipeline;
  private readonly redis: RedisConnections;
  private readonly metrics = createRegistry('api');
  /** Submissions, decisions, cancels and refused requests: what the API sees happen. */
  private readonly jobMetrics = new JobMetrics(this.metrics);
  private app: ApiServer | undefined;

  constructor(private readonly options: ApiServiceOptions) {
    this.redis = new RedisConnections(options.config.redis.url, options.logger);
    this.pipeline = createJobPipeline(options.config, this.redis, options.logger, options.clock, this.jobMetrics);
  }

  async start(): Promise<ApiServer> {
    const { config, logger } = this.options;
    const { jobs, store, batches, sandboxes, workers, clock } = this.pipeline;
    this.app = await buildApiServer({
      service: jobs,
      store,
      batches,
      sandboxes,
      workers,
      keyring: new ApiKeyring(config.api.keys),
      audit: this.pipeline.audit,
      webhooks: this.pipeline.webhooks,
      metrics: this.metrics,
      jobMetrics: this.jobMetrics,
      readiness: {
        redis: () => this.redis.ping(),
        workers: async () => (await workers.alive(clock.now())).length > 0,
      },
      clock,
      logger,
      maxBodyBytes: config.api.max_body_bytes,
      events: {
        stream: this.pipeline.eventStream,
        notifier: this.pipeline.notifier,
        heartbeatMs: config.api.events.heartbeat_seconds * 1000,
        stallMs: config.api.events.stall_timeout_seconds * 1000,
      },
    });
    await this.pipeline.events.start();
    await this.app.listen({ host: config.api.host, port: config.api.port });
    return this.app;
  }

  get address(): string {
    const address = this.app?.server.address();
    if (!address || typeof address !== 'object') throw new Error('the API is not listening');
    return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  }

  async stop(): Promise<void> {
    await this.app?.close();
    await this.pipeline.close();
    await this.redis.close();
  }
}
