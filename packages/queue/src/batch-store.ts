import type { JobStatus } from '@harombe/core';
import type { Redis } from 'ioredis';
import { CREATE_BATCH } from './queue-scripts.js';
import { RedisKeys } from './redis-keys.js';

export interface BatchRecord {
  batch_id: string;
  tenant: string;
  /** Milliseconds since the epoch. */
  created_at: number;
  total: number;
  /** SHA-256 of the jobs' own payload_sha256, in order: what an idempotency key is compared by. */
  payload_sha256: string;
  /** Where batch.finished goes (the submission's callback_url); '' for none. */
  callback_url?: string;
}

/** Calls of create() before giving up when the idempotency key keeps naming another batch. */
const MAX_CALLS = 5;

/**
 * Batches: who owns one, its jobs in submission order, and counts per status that the job
 * store's transitions keep current (so reading a 10,000-job batch's progress is one call).
 */
export class BatchStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** Seconds a batch is kept: its jobs' result time plus a day for stragglers. */
    private readonly ttlSeconds: number,
  ) {}

  /**
   * Written before the batch's jobs, so a reader never sees jobs without their batch. With an
   * idempotency key the tenant already used, writes nothing and returns that key's batch
   * (`created: false`), with `conflict` when its jobs differ (another payload_sha256).
   */
  async create(
    batch: BatchRecord,
    idempotencyKey?: string,
  ): Promise<{ batch_id: string; created: boolean; conflict: boolean }> {
    // Without a key, a placeholder in the same slot: a Redis Cluster refuses keys of two slots.
    const ref = idempotencyKey ? this.keys.idempotency(batch.tenant, `batch:${idempotencyKey}`) : this.keys.unused();
    const fields = JSON.stringify(
      Object.fromEntries(Object.entries(batch).map(([key, value]) => [key, String(value)])),
    );
    // The batch a used key names is one of the script's keys: first expect none, then the one it answers.
    let existing = '';
    for (let call = 1; ; call += 1) {
      const [outcome, batchId] = await CREATE_BATCH.run(
        this.redis,
        [this.keys, batch.batch_id, ref, existing],
        [String(this.ttlSeconds), idempotencyKey ? '1' : '0', fields, existing],
      );
      if (outcome !== 'retry')
        return { batch_id: batchId, created: outcome === 'created', conflict: outcome === 'conflict' };
      if (call >= MAX_CALLS)
        throw new Error(`batch store: the idempotency key of batch ${batch.batch_id} kept changing`);
      existing = batchId;
    }
  }

  /** Whether the tenant's idempotency key already names a batch (a retry, stored already). */
  async idempotencyKeyUsed(tenant: string, idempotencyKey: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.idempotency(tenant, `batch:${idempotencyKey}`))) === 1;
  }

  /** Sets the expiry of the lists the job store fills, once the batch's jobs are in. */
  async sealed(batchId: string): Promise<void> {
    await this.redis
      .multi()
      .expire(this.keys.batchJobs(batchId), this.ttlSeconds)
      .expire(this.keys.batchCounts(batchId), this.ttlSeconds)
      .exec();
  }

  async get(batchId: string): Promise<BatchRecord | undefined> {
    const hash = await this.redis.hgetall(this.keys.batch(batchId));
    if (!hash.batch_id) return undefined;
    return {
      batch_id: hash.batch_id,
      tenant: hash.tenant as string,
      created_at: Number(hash.created_at),
      total: Number(hash.total),
      payload_sha256: hash.payload_sha256 ?? '',
      ...(hash.callback_url ? { callback_url: hash.callback_url } : {}),
    };
  }

  async counts(batchId: string): Promise<Partial<Record<JobStatus, number>>> {
    const raw = await this.redis.hgetall(this.keys.batchCounts(batchId));
    const counts: Partial<Record<JobStatus, number>> = {};
    for (const [status, n] of Object.entries(raw)) if (Number(n) > 0) counts[status as JobStatus] = Number(n);
    return counts;
  }

  async jobIds(batchId: string, offset = 0, limit = -1): Promise<string[]> {
    return this.redis.lrange(this.keys.batchJobs(batchId), offset, limit < 0 ? -1 : offset + limit - 1);
  }
}
