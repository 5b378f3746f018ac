/** What the schedule is told after a failed attempt. */
export interface FailedAttempt {
  /** Attempts made so far, this one included (1 after the first). */
  attempts: number;
  /** When the first attempt was made, ms since the epoch. */
  firstAttemptAt: number;
  now: number;
  /** What the answer's Retry-After asked for, ms; null without one. */
  retryAfterMs: number | null;
  /** The answer's status; null when none came. */
  status: number | null;
  /** Why it failed, for people. */
  error: string;
}

/** When to try a failed delivery again: a delay in ms, or undefined when it should be given up (dead). */
export interface RetrySchedule {
  next(failure: FailedAttempt): number | undefined;
}

export interface ExponentialBackoffOptions {
  /** Delay after the first failure, ms; doubled after each further one. Default 5 000. */
  initialDelayMs?: number;
  /** Longest computed delay, ms. Default 3 600 000 (an hour). */
  maxDelayMs?: number;
  /** Random spread of each delay, as a fraction of it (0.2: ±20 %). Default 0.2. */
  jitter?: number;
  /** How long, from the first attempt, a delivery is retried, ms. Default 86 400 000 (24 h). */
  windowMs?: number;
  /** Attempts after which it is given up even within the window. Default: none. */
  maxAttempts?: number;
  /** A number in [0, 1). Default Math.random. */
  random?: () => number;
}

/**
 * Exponential backoff with jitter, within a window: 5 s, 10 s, 20 s … up to an hour between
 * attempts, for 24 hours. A Retry-After from the receiver replaces the computed delay (never
 * sooner than it asks); an attempt that would fall past the window is not made.
 */
export class ExponentialBackoff implements RetrySchedule {
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly jitter: number;
  private readonly windowMs: number;
  private readonly maxAttempts: number;
  private readonly random: () => number;

  constructor(options: ExponentialBackoffOptions = {}) {
    this.initialDelayMs = options.initialDelayMs ?? 5_000;
    this.maxDelayMs = options.maxDelayMs ?? 3_600_000;
    this.jitter = options.jitter ?? 0.2;
    this.windowMs = options.windowMs ?? 86_400_000;
    this.maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY;
    this.random = options.random ?? Math.random;
  }

  next({ attempts, firstAttemptAt, now, retryAfterMs }: FailedAttempt): number | undefined {
    if (attempts >= this.maxAttempts) return undefined;
    const delay = retryAfterMs ?? this.backoff(attempts);
    return now + delay > firstAttemptAt + this.windowMs ? undefined : delay;
  }

  private backoff(attempts: number): number {
    const base = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** Math.min(attempts - 1, 40));
    return Math.max(0, Math.round(base * (1 + this.jitter * (2 * this.random() - 1))));
  }
}
