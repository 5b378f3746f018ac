import type { Redis } from 'ioredis';
import { RedisKeys } from './redis-keys.js';

export interface WorkerInfo {
  worker_id: string;
  hostname: string;
  /** Milliseconds since the epoch of the last heartbeat. */
  last_seen: number;
  concurrency: number;
  running: number;
  sandboxes: number;
  /** How full the worker's sandbox runtime is; absent from workers that do not say. */
  capacity?: WorkerCapacity;
}

/** A worker's sandbox capacity, as its runtime counts it (see SandboxManager.capacity). */
export interface WorkerCapacity {
  /** Sandboxes it may hold at once, and holds now. */
  max: number;
  in_use: number;
  /** Kept sandboxes it holds, may hold, and could still make now. */
  kept: number;
  kept_limit: number;
  kept_free: number;
  /** Ready in its warm pool. */
  pooled: number;
}

/**
 * Who is alive: each worker writes a heartbeat; one silent for longer than `lostAfterMs` is lost
 * (its running jobs end WorkerLost, its sandboxes SandboxLost).
 */
export class WorkerRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** Default 10 000: five missed heartbeats at the default 2 s. */
    readonly lostAfterMs = 10_000,
  ) {}

  async heartbeat(info: WorkerInfo): Promise<void> {
    await this.redis
      .multi()
      .zadd(this.keys.workers(), info.last_seen, info.worker_id)
      .set(this.keys.worker(info.worker_id), JSON.stringify(info), 'PX', this.lostAfterMs * 6)
      .exec();
  }

  /** A worker leaving on purpose: gone at once, not after the lost timeout. */
  async leave(workerId: string): Promise<void> {
    await this.redis.multi().zrem(this.keys.workers(), workerId).del(this.keys.worker(workerId)).exec();
  }

  async isAlive(workerId: string, nowMs: number): Promise<boolean> {
    const score = await this.redis.zscore(this.keys.workers(), workerId);
    return score !== null && Number(score) > nowMs - this.lostAfterMs;
  }

  async alive(nowMs: number): Promise<WorkerInfo[]> {
    const ids = await this.redis.zrangebyscore(this.keys.workers(), nowMs - this.lostAfterMs, '+inf');
    if (ids.length === 0) return [];
    const infos = await this.redis.mget(ids.map((id) => this.keys.worker(id)));
    return infos.flatMap((info) => (info ? [JSON.parse(info) as WorkerInfo] : []));
  }

  /** Workers silent for longer than the lost timeout (still listed until forgotten). */
  async lost(nowMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.workers(), '-inf', `(${nowMs - this.lostAfterMs}`);
  }

  async forget(workerId: string): Promise<void> {
    await this.leave(workerId);
  }
}
