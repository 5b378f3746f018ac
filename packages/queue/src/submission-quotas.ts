import {
  HarombeError,
  keyQuotasFor,
  quotasFor,
  type Clock,
  type QuotasConfig,
  type SubmissionQuotas as SubmissionLimits,
} from '@harombe/core';
import type { Redis } from 'ioredis';
import type { Principal } from './principal.js';
import { ADMIT_SUBMISSION, LAPSE_QUOTA, QUEUE_SCRIPTS } from './queue-scripts.js';
import { RedisKeys } from './redis-keys.js';

export interface SubmissionQuotasOptions {
  redis: Redis;
  keys?: RedisKeys;
  /** The `quotas` section: everybody's limits, per-tenant and per-key overrides. */
  quotas: QuotasConfig;
  clock: Clock;
}

/** Seconds a tenant over its waiting-jobs quota is told to wait: jobs leave it as they start or end. */
const WAITING_RETRY_AFTER_S = 10;
/** Seconds a tenant over its stored-bytes quota is told to wait when none of its bytes lapse soon. */
const BYTES_RETRY_AFTER_S = 60;
/** Lapsed entries taken off per admission: a large batch's expiry is spread over a few calls. */
const LAPSE_PER_CALL = 10_000;

/**
 * Per-tenant (and, where configured, per-key) limits on submissions, checked before a job or a
 * batch is stored, in one Redis script so that concurrent API instances share them exactly:
 * - a token bucket, `submission_burst` jobs refilled at `submissions_per_second` (a batch takes a
 *   token per job): 429 RateLimited with Retry-After;
 * - `max_waiting_jobs` queued or awaiting approval, and `max_stored_bytes` held in the store until
 *   the jobs expire: 429 QuotaExceeded with Retry-After.
 * The counts themselves are kept by the job store's scripts as jobs are created, move and end;
 * the bytes of ended jobs leave them once the jobs expire, taken off here before the checks.
 */
export class SubmissionQuotas {
  private readonly redis: Redis;
  private readonly keys: RedisKeys;

  constructor(private readonly options: SubmissionQuotasOptions) {
    this.keys = options.keys ?? new RedisKeys();
    this.redis = options.redis;
    // Before any pipeline is made: a pipeline has the scripts its client had then.
    QUEUE_SCRIPTS.install(this.redis);
  }

  /**
   * Admits `jobs` new jobs of about `bytes` in all from the principal, taking their tokens, or
   * throws RateLimited, QuotaExceeded or (a batch larger than the burst) LimitTooHigh.
   */
  async admit(principal: Principal, jobs: number, bytes: number): Promise<void> {
    const tenant = quotasFor(this.options.quotas, principal.tenant);
    const own = keyQuotasFor(this.options.quotas, principal.name);
    const limits = (l: Partial<SubmissionLimits>): string[] => [
      String(l.submissions_per_second ?? ''),
      String(l.submission_burst ?? ''),
      String(l.max_waiting_jobs ?? ''),
      String(l.max_stored_bytes ?? ''),
    ];
    // A key that sets one half of its bucket takes the other from its tenant.
    const key =
      own && (own.submissions_per_second !== undefined || own.submission_burst !== undefined)
        ? {
            submissions_per_second: tenant.submissions_per_second,
            submission_burst: tenant.submission_burst,
            ...own,
          }
        : (own ?? {});
    const now = this.options.clock.now();
    const admit = (handBackLapses: boolean): Promise<string[]> =>
      ADMIT_SUBMISSION.run(
        this.redis,
        [this.keys, principal.tenant, principal.name],
        [
          String(now),
          String(jobs),
          String(Math.ceil(bytes)),
          own ? '1' : '0',
          principal.name,
          String(LAPSE_PER_CALL),
          handBackLapses ? '1' : '0',
          ...limits(tenant),
          ...limits(key),
        ],
      );
    let answer = await admit(true);
    if (answer[0] === 'lapsed') {
      // Ended jobs' bytes that expired: off the quotas of the keys that held them, then the checks.
      await this.lapse(principal.tenant, answer.slice(1));
      answer = await admit(false);
    }
    const [outcome, scope = 'tenant', limit = '', held = '', extra = ''] = answer;
    if (outcome === 'ok') return;
    const who = scope === 'key' ? `API key ${principal.name}` : `tenant ${principal.tenant}`;
    const quotaPath = scope === 'key' ? `quotas.keys.${principal.name}` : 'quotas';
    switch (outcome) {
      case 'waiting':
        throw new HarombeError(
          'QuotaExceeded',
          `${who} has ${held} jobs waiting (queued or awaiting approval) of its ${limit}; ${jobs} more would pass it`,
          {
            quota: 'max_waiting_jobs',
            scope,
            limit: Number(limit),
            held: Number(held),
            retry_after_seconds: WAITING_RETRY_AFTER_S,
          },
        );
      case 'bytes':
        throw new HarombeError(
          'QuotaExceeded',
          `${who} holds ${held} bytes of jobs in the store of its ${limit}; these ${Math.ceil(bytes)} would pass it (ended jobs leave when their results expire)`,
          {
            quota: 'max_stored_bytes',
            scope,
            limit: Number(limit),
            held: Number(held),
            retry_after_seconds: extra === '' ? BYTES_RETRY_AFTER_S : Math.max(1, Math.ceil(Number(extra) / 1000)),
          },
        );
      case 'burst':
        throw new HarombeError(
          'LimitTooHigh',
          `${jobs} jobs at once are more than ${who} may submit at once (${limit}, ${quotaPath}.submission_burst): split the batch`,
          { field: 'jobs', limit: 'submission_burst', scope, maximum: Number(limit) },
        );
      default:
        throw new HarombeError(
          'RateLimited',
          `${who} submits faster than its ${limit} jobs per second (${quotaPath}.submissions_per_second); try again later`,
          {
            quota: 'submissions_per_second',
            scope,
            limit: Number(limit),
            retry_after_seconds: Math.max(1, Math.ceil(Number(held) / 1000)),
          },
        );
    }
  }

  /**
   * Takes due lapses (pairs of member and the name of the key that held it, as ADMIT_SUBMISSION
   * hands them back) off the tenant's quotas and their keys', one script call per key, in one
   * round trip.
   */
  private async lapse(tenant: string, pairs: readonly string[]): Promise<void> {
    const byKey = new Map<string, string[]>();
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const keyName = pairs[i + 1] as string;
      const members = byKey.get(keyName) ?? [];
      if (members.length === 0) byKey.set(keyName, members);
      members.push(pairs[i] as string);
    }
    const pipeline = this.redis.pipeline();
    for (const [keyName, members] of byKey)
      LAPSE_QUOTA.queue(pipeline, [this.keys, tenant, keyName], [keyName, ...members]);
    for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
  }
}
