import { randomUUID } from 'node:crypto';
import { systemClock, WebhooksConfig, type JobStatus, type WebhooksConfigInput } from '@harombe/core';
import { BatchStore, JobStore, newId, RedisKeys, type JobRecord } from '@harombe/queue';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll } from 'vitest';
import {
  ExponentialBackoff,
  WebhookMetrics,
  Webhooks,
  type FailedAttempt,
  type LookupAll,
  type RetrySchedule,
} from '../src/index.js';

export const TENANT = 'acme';
export const OTHER_TENANT = 'globex';
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** One real Redis per test file. */
export function useRedis(): { readonly url: string; restart(): Promise<void> } {
  let container: RedisContainer | undefined;
  beforeAll(async () => {
    container = await startRedis();
  });
  afterAll(async () => {
    await container?.stop();
  });
  return {
    get url() {
      if (!container) throw new Error('the Redis container is not started');
      return container.url;
    },
    restart: () => (container as RedisContainer).restart(),
  };
}

/** A schedule that runs in milliseconds and remembers every failure it was told of. */
export class RecordingSchedule implements RetrySchedule {
  readonly failures: FailedAttempt[] = [];
  private readonly inner: ExponentialBackoff;

  constructor(options: { delayMs?: number; maxAttempts?: number } = {}) {
    this.inner = new ExponentialBackoff({
      initialDelayMs: options.delayMs ?? 5,
      maxDelayMs: options.delayMs ?? 5,
      jitter: 0,
      ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    });
  }

  next(failure: FailedAttempt): number | undefined {
    this.failures.push(failure);
    return this.inner.next(failure);
  }
}

export interface FixtureOptions {
  /** The webhooks section; default: the receiver's 127.0.0.1 allowed, short timeouts. */
  config?: WebhooksConfigInput;
  schedule?: RetrySchedule;
  lookup?: LookupAll;
}

/**
 * The job store and the webhooks over one Redis prefix, wired as the services wire them; jobs are
 * made and moved through the store's scripts, exactly the steps that record webhook events.
 */
export class WebhookFixture {
  readonly keys = new RedisKeys(`t${randomUUID().slice(0, 8)}`);
  readonly redis: Redis;
  readonly store: JobStore;
  readonly batches: BatchStore;
  readonly webhooks: Webhooks;
  readonly registry = new Registry();
  readonly metrics: WebhookMetrics;

  constructor(url: string, options: FixtureOptions = {}) {
    this.redis = new Redis(url, { maxRetriesPerRequest: null });
    this.redis.on('error', () => {});
    this.store = new JobStore({ redis: this.redis, keys: this.keys, resultTtlSeconds: 3_600 });
    this.batches = new BatchStore(this.redis, this.keys, 7_200);
    const parsed = new URL(url);
    this.webhooks = new Webhooks({
      config: WebhooksConfig.parse(
        options.config ?? { allowed_ranges: ['127.0.0.1/32'], timeout_ms: 2_000, connect_timeout_ms: 1_000 },
      ),
      redis: this.redis,
      connection: { host: parsed.hostname, port: Number(parsed.port), maxRetriesPerRequest: null },
      keys: this.keys,
      store: this.store,
      batches: this.batches,
      logger,
      schedule: options.schedule ?? new RecordingSchedule(),
      ...(options.lookup ? { lookup: options.lookup } : {}),
      dispatcher: { intervalMs: 20, reconcileEveryMs: 200, reconcileAfterMs: 1_000 },
    });
    this.metrics = new WebhookMetrics(this.registry, { pendingEvents: () => this.webhooks.pendingEvents() });
    // BullMQ re-emits its connections' errors; a Redis restart causes some on purpose.
    this.webhooks.queue.open().on('error', () => {});
  }

  start(): Promise<void> {
    return this.webhooks.start({ metrics: this.metrics });
  }

  /** A job stored as the job service stores one (its creation records job.awaiting_approval when it waits). */
  async createJob(overrides: Partial<JobRecord> = {}): Promise<JobRecord> {
    const now = systemClock.now();
    const status: JobStatus = overrides.status ?? 'queued';
    const awaiting = status === 'awaiting_approval';
    const job: JobRecord = {
      job_id: newId('job'),
      tenant: TENANT,
      submitted_by: 'alice',
      submitted_by_slack: null,
      tool: 'code_execute',
      params: { language: 'python', code: 'print(6 * 7)' },
      status,
      risk: 'HIGH',
      risk_reason: 'Code execution',
      risk_matched: null,
      created_at: now,
      started_at: null,
      finished_at: null,
      batch_id: null,
      attempts: 0,
      max_attempts: 1,
      approval: awaiting
        ? {
            approval_id: newId('approval'),
            status: 'pending',
            risk: 'HIGH',
            expires_at: new Date(now + 60_000).toISOString(),
            decided_by: null,
            decided_at: null,
            reason: null,
            channel: null,
          }
        : null,
      approval_deadline: awaiting ? now + 60_000 : 0,
      result: null,
      error: null,
      sandbox_id: null,
      worker_id: null,
      payload_sha256: '0'.repeat(64),
      ...overrides,
    };
    await this.store.create(job);
    return job;
  }

  /** Runs a queued job to `completed` through the store's transitions. */
  async finishJob(jobId: string, stdout = '42\n'): Promise<void> {
    const now = systemClock.now();
    await this.store.transition(jobId, 'start', { worker_id: 'w1', started_at: now }, now);
    const result = { success: true, stdout, stderr: '', exit_code: 0, execution_time: 0.1, error: null };
    const outcome = await this.store.transition(jobId, 'complete', { result }, now);
    if (outcome.outcome !== 'ok') throw new Error(`job ${jobId} did not complete: ${outcome.outcome}`);
  }

  /** The secret the tenant's deliveries are signed with now. */
  async secret(tenant = TENANT): Promise<string> {
    return (await this.webhooks.secrets.signing(tenant))[0] as string;
  }

  /** harombe_webhook_deliveries_total{outcome}. */
  async deliveriesCounted(outcome: 'delivered' | 'failed' | 'dead'): Promise<number> {
    const metric = await this.registry.getSingleMetric('harombe_webhook_deliveries_total')?.get();
    return metric?.values.find((value) => value.labels.outcome === outcome)?.value ?? 0;
  }

  async close(): Promise<void> {
    await this.webhooks.stop();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
