import type { JobStatus } from '@harombe/core';
import type { Redis } from 'ioredis';
import { RedisKeys } from './redis-keys.js';

export interface BatchRecord {
  batch_id: string;
  tenant: string;
  /** Milliseconds since the epoch. */
  created_at: number;
  total: number;
}

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

  /** Written before the batch's jobs, so a reader never sees jobs without their batch. */
  async create(batch: BatchRecord, idempotencyKey?: string): Promise<{ batch_id: string; created: boolean }> {
    if (idempotencyKey) {
      const ref = this.keys.idempotency(batch.tenant, `batch:${idempotencyKey}`);
      const won = await this.redis.set(ref, batch.batch_id, 'EX', this.ttlSeconds, 'NX');
      if (won === null) return { batch_id: (await this.redis.get(ref)) as string, created: false };
    }
    await this.redis
      .multi()
      .hset(this.keys.batch(batch.batch_id), { ...batch })
      .expire(this.keys.batch(batch.batch_id), this.ttlSeconds)
      .exec();
    return { batch_id: batch.batch_id, created: true };
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
