import { HarombeError, systemClock, type Clock } from '@harombe/core';
import type { Redis } from 'ioredis';

export interface StoreHeadroomOptions {
  redis: Redis;
  /**
   * Share of Redis's maxmemory that submissions leave to the jobs already in (their moves, results
   * and audit records), so that a full store refuses new work but finishes what it holds. Default 0.1.
   */
  reserve?: number;
  /** How long a reading of Redis's memory stands (ms, by `clock`). Default 1000. */
  refreshMs?: number;
  /** Times the readings. Default: the system clock. */
  clock?: Clock;
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

/** Redis's memory as INFO memory said it, and when (ms). */
interface Reading {
  at: number;
  used: number;
  max: number;
}

const USED_MEMORY = /^used_memory:(\d+)/m;
const MAXMEMORY = /^maxmemory:(\d+)/m;

/**
 * Keeps submissions from filling Redis: before a job or batch is stored, Redis's own memory use
 * (INFO memory) plus what it brings must stay below maxmemory less the reserve. Redis runs with
 * noeviction (see deploy/), so past maxmemory it refuses writes rather than drop jobs; refusing
 * submissions earlier keeps those writes for the jobs already accepted. Without a maxmemory there
 * is nothing to measure against, and nothing is refused here.
 *
 * INFO memory is not asked for every submission (Redis builds the whole section, and this parses
 * it): a reading stands for `refreshMs`, with the bytes admitted since added to it, as long as
 * those stay within half the room it showed; past that, or when a submission would not fit, Redis
 * is asked again, so nothing is refused on an old reading. Near the ceiling readings come closer
 * together; what others write meanwhile (workers' results, other API processes) is what the
 * reserve is for. A reading without a maxmemory does not stand: one set later is seen at once.
 */
export class StoreHeadroom {
  private readonly reserve: number;
  private readonly refreshMs: number;
  private readonly clock: Clock;
  private reading: Reading | undefined;
  /** Bytes admitted since `reading` was taken. */
  private admitted = 0;
  /** The reading under way, shared by the checks that wait for it. */
  private pending: Promise<Reading> | undefined;

  constructor(private readonly options: StoreHeadroomOptions) {
    this.reserve = options.reserve ?? 0.1;
    this.refreshMs = options.refreshMs ?? 1000;
    this.clock = options.clock ?? systemClock;
  }

  /** Throws StoreFull when `bytes` more would eat into the reserve. */
  async check(bytes: number): Promise<void> {
    let reading = this.reading;
    if (!reading || !this.stands(reading, bytes)) reading = await this.read();
    if (reading.max === 0) return;
    const used = reading.used + this.admitted;
    const ceiling = this.ceiling(reading);
    if (used + bytes > ceiling) {
      throw storeFull(`Redis uses ${used} of ${reading.max} bytes; submissions stop at ${ceiling}`);
    }
    this.admitted += bytes;
  }

  private ceiling(reading: Reading): number {
    return Math.floor(reading.max * (1 - this.reserve));
  }

  /** Whether `reading` still answers for `bytes` more: recent, with a maxmemory, and half its room left. */
  private stands(reading: Reading, bytes: number): boolean {
    if (reading.max === 0 || this.clock.now() - reading.at >= this.refreshMs) return false;
    return 2 * (this.admitted + bytes) <= this.ceiling(reading) - reading.used;
  }

  private read(): Promise<Reading> {
    this.pending ??= (async () => {
      const at = this.clock.now();
      const admittedBefore = this.admitted;
      try {
        const info = await this.options.redis.info('memory');
        const field = (pattern: RegExp): number => Number(pattern.exec(info)?.[1] ?? 0);
        this.reading = { at, used: field(USED_MEMORY), max: field(MAXMEMORY) };
        // What was admitted while Redis answered may not be in its answer: it stays counted.
        this.admitted -= admittedBefore;
        return this.reading;
      } finally {
        this.pending = undefined;
      }
    })();
    return this.pending;
  }
}
