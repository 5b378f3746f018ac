import { randomUUID } from 'node:crypto';
import { ManualClock, parseConfig } from '@harombe/core';
import type { Principal } from '@harombe/queue';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createJobPipeline, JobMetrics, RedisConnections, type JobPipeline } from '../src/index.js';

export const silentLogger = pino({ level: 'silent' });

export const alice: Principal = { tenant: 'acme', name: 'alice', scopes: ['submit'] };
export const bob: Principal = { tenant: 'acme', name: 'bob', scopes: ['approve'] };

/** The job pipeline as the API and the approval service build it, on a fresh key prefix and a manual clock. */
export class PipelineFixture {
  readonly clock = new ManualClock();
  readonly registry = new Registry();
  readonly metrics = new JobMetrics(this.registry);
  readonly redis: RedisConnections;
  readonly pipeline: JobPipeline;

  constructor(url: string) {
    const config = parseConfig({ redis: { url, prefix: `t${randomUUID().slice(0, 8)}` } });
    this.redis = new RedisConnections(url, silentLogger);
    this.pipeline = createJobPipeline(config, this.redis, silentLogger, this.clock, this.metrics);
  }

  /** A code_execute job (HIGH risk: it waits for approval, 60 s by default). */
  async submitCode(code = 'print(1)') {
    return this.pipeline.jobs.submit(alice, { tool: 'code_execute', params: { language: 'python', code } });
  }

  async close(): Promise<void> {
    await this.pipeline.close();
    await this.redis.close();
  }
}
