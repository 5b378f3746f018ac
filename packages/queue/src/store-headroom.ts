import { HarombeError } from '@harombe/core';
import type { Redis } from 'ioredis';

export interface StoreHeadroomOptions {
  redis: Redis;
  /**
   * Share of Redis's maxmemory that submissions leave to the jobs already in (their moves, results
   * and audit records), so that a full store refuses new work but finishes what it holds. Default 0.1.
   */
  reserve?: number;
}

/** Seconds a submission refused for a full store is told to wait. */
const STORE_FULL_RETRY_AFTER_S = 30;

/** True for Redis's refusal of a write at maxmemory under noeviction. */
export function isOutOfMemory(error: unknown): boolean {
  return error instanceof Error && /^OOM\b/.test(error.message);
}

/** The error a submission gets when the job store has no room: 503 StoreFull, with Retry-After. */
export function storeFull(detail: string): HarombeError {
  return new HarombeError('StoreFull', `the job store is full (${detail}); try again later`, {
    retry_after_seconds: STORE_FULL_RETRY_AFTER_S,
  });
}

/**
 * Keeps submissions from filling Redis: before a job or batch is stored, Redis's own memory use
 * (INFO memory) plus what it brings must stay below maxmemory less the reserve. Redis runs with
 * noeviction (see deploy/), so past maxmemory it refuses writes rather than drop jobs; refusing
 * submissions earlier keeps those writes for the jobs already accepted. Without a maxmemory there
 * is nothing to measure against, and nothing is refused here.
 */
export class StoreHeadroom {
  private readonly reserve: number;

  constructor(private readonly options: StoreHeadroomOptions) {
    this.reserve = options.reserve ?? 0.1;
  }

  /** Throws StoreFull when `bytes` more would eat into the reserve. */
  async check(bytes: number): Promise<void> {
    const info = await this.options.redis.info('memory');
    const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    const max = field('maxmemory');
    if (max === 0) return;
    const used = field('used_memory');
    const ceiling = Math.floor(max * (1 - this.reserve));
    if (used + bytes > ceiling) {
      throw storeFull(`Redis uses ${used} of ${max} bytes; submissions stop at ${ceiling}`);
    }
  }
}
