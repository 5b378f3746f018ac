import { randomUUID } from 'node:crypto';
import { ManualClock, parseConfig, type ApiKeyConfig, type Clock, type HarombeConfig } from '@harombe/core';
import { createJobPipeline, RedisConnections, type JobPipeline } from '@harombe/service-kit';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { ApiKeyring, buildApiServer, type ApiServer, type ApiServerOptions } from '../src/index.js';

export interface ApiHarnessOptions {
  /** The API keys the server knows. */
  keys: ApiKeyConfig[];
  /** Configuration beside a Redis prefix of the harness's own. Default: the defaults. */
  config?: Record<string, unknown>;
  /** Default: silent. */
  logger?: Logger;
  /** Default: a ManualClock. */
  clock?: Clock;
  /** The pipeline's webhook tuning (createJobPipeline's last argument). Default: none. */
  webhookTuning?: Parameters<typeof createJobPipeline>[5];
  /** Server options beside those the pipeline gives (audit, webhooks, events…). Default: none. */
  server?: (pipeline: JobPipeline, config: HarombeConfig, redis: RedisConnections) => Partial<ApiServerOptions>;
}

/** The API server over a job pipeline of its own (a fresh Redis prefix), as the route tests use it. */
export class ApiHarness {
  private constructor(
    readonly app: ApiServer,
    readonly pipeline: JobPipeline,
    readonly redis: RedisConnections,
  ) {}

  static async start(redisUrl: string, options: ApiHarnessOptions): Promise<ApiHarness> {
    const config = parseConfig({ redis: { url: redisUrl, prefix: `t${randomUUID().slice(0, 8)}` }, ...options.config });
    const logger = options.logger ?? pino({ level: 'silent' });
    const redis = new RedisConnections(redisUrl, logger);
    const clock = options.clock ?? new ManualClock();
    const pipeline = createJobPipeline(config, redis, logger, clock, undefined, options.webhookTuning);
    const app = await buildApiServer({
      service: pipeline.jobs,
      store: pipeline.store,
      batches: pipeline.batches,
      sandboxes: pipeline.sandboxes,
      workers: pipeline.workers,
      keyring: new ApiKeyring(options.keys),
      metrics: new Registry(),
      readiness: {},
      clock,
      logger,
      ...options.server?.(pipeline, config, redis),
    });
    return new ApiHarness(app, pipeline, redis);
  }

  /** Listens on a free loopback port; answers its base URL. */
  async listen(): Promise<string> {
    await this.app.listen({ host: '127.0.0.1', port: 0 });
    return `http://127.0.0.1:${(this.app.server.address() as { port: number }).port}`;
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.pipeline.close();
    await this.redis.close();
  }
}
