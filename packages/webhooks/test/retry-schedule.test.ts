import { describe, expect, it } from 'vitest';
import { ExponentialBackoff, parseRetryAfter, type FailedAttempt } from '../src/index.js';

const HOUR = 3_600_000;
const failure = (attempts: number, now: number, retryAfterMs: number | null = null): FailedAttempt => ({
  attempts,
  firstAttemptAt: 0,
  now,
  retryAfterMs,
  status: 503,
  error: 'HTTP 503',
});

describe('ExponentialBackoff (the default schedule)', () => {
  it('doubles from 5 s up to an hour, within ±20 % jitter', () => {
    const low = new ExponentialBackoff({ random: () => 0 });
    const high = new ExponentialBackoff({ random: () => 0.999_999 });
    const exact = new ExponentialBackoff({ jitter: 0 });
    expect([1, 2, 3, 4, 10, 11, 30].map((n) => exact.next(failure(n, 0)))).toEqual([
      5_000,
      10_000,
      20_000,
      40_000,
      2_560_000,
      HOUR,
      HOUR,
    ]);
    expect(low.next(failure(1, 0))).toBe(4_000);
    expect(high.next(failure(1, 0))).toBe(6_000);
  });

  it('retries for 24 hours from the first attempt, then gives up', () => {
    const schedule = new ExponentialBackoff({ jitter: 0 });
    expect(schedule.next(failure(30, 23 * HOUR))).toBe(HOUR);
    expect(schedule.next(failure(31, 23 * HOUR + 1))).toBeUndefined();
    // With the default schedule, how many attempts 24 hours hold.
    let now = 0;
    let attempts = 1;
    for (let delay = schedule.next(failure(1, 0)); delay !== undefined; delay = schedule.next(failure(attempts, now))) {
      now += delay;
      attempts += 1;
    }
    expect(attempts).toBe(33);
    expect(now).toBeLessThanOrEqual(24 * HOUR);
  });

  it('waits what Retry-After asks instead, however short or long, but not past the window', () => {
    const schedule = new ExponentialBackoff({ jitter: 0 });
    expect(schedule.next(failure(5, 0, 1_000))).toBe(1_000);
    expect(schedule.next(failure(1, 0, 2 * HOUR))).toBe(2 * HOUR);
    expect(schedule.next(failure(1, 0, 25 * HOUR))).toBeUndefined();
  });

  it('gives up after max_attempts when one is set', () => {
    const schedule = new ExponentialBackoff({ maxAttempts: 3 });
    expect(schedule.next(failure(2, 0))).toBeDefined();
    expect(schedule.next(failure(3, 0))).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates; ignores anything else', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 31 Dec 2029 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter('-5', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });
});
