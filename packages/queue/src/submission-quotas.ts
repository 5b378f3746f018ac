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
 * ARGV: tag, tenant, key name, now ms, jobs, bytes, whether the key has limits of its own ('1'|'0'),
 * then the tenant's rate, burst, max waiting, max bytes, then the key's (each '' when not set).
 * Takes lapsed bytes off first (see the job store's scripts), then checks each scope's waiting
 * jobs, stored bytes and token bucket, and takes the tokens only when every check passed.
 * Returns {'ok'} or the first refusal: {'waiting', scope, limit, held}, {'bytes', scope, limit,
 * held, ms until enough lapse or ''}, {'burst', scope, burst}, {'rate', scope, rate, ms until
 * enough tokens}.
 */
const ADMIT = `
local tag, tenant, name = ARGV[1], ARGV[2], ARGV[3]
local now, n, bytes = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local q = tag .. ':quota:' .. tenant
local lapse = tag .. ':quota-lapse:' .. tenant
for _, member in ipairs(redis.call('ZRANGEBYSCORE', lapse, '-inf', now, 'LIMIT', 0, ${LAPSE_PER_CALL})) do
  local _, _, size, owner = string.find(member, '^[^|]*|(%d+)|(.*)$')
  if size then
    redis.call('HINCRBY', q, 'bytes', -tonumber(size))
    redis.call('HINCRBY', q .. ':key:' .. owner, 'bytes', -tonumber(size))
  end
  redis.call('ZREM', lapse, member)
end
local scopes = {{'tenant', q, 8}}
if ARGV[7] == '1' then scopes[2] = {'key', q .. ':key:' .. name, 12} end
local buckets = {}
for _, s in ipairs(scopes) do
  local scope, h, base = s[1], s[2], s[3]
  local rate, burst = tonumber(ARGV[base]), tonumber(ARGV[base + 1])
  local maxWaiting, maxBytes = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local state = redis.call('HMGET', h, 'waiting', 'bytes', 'tokens', 'ts')
  local waiting, held = tonumber(state[1]) or 0, tonumber(state[2]) or 0
  if maxWaiting and waiting + n > maxWaiting then
    return {'waiting', scope, tostring(maxWaiting), tostring(waiting)}
  end
  if maxBytes and held + bytes > maxBytes then
    local need, freed, at = held + bytes - maxBytes, 0, ''
    local entries = redis.call('ZRANGE', lapse, 0, ${LAPSE_PER_CALL}, 'WITHSCORES')
    for i = 1, #entries, 2 do
      local _, _, size, owner = string.find(entries[i], '^[^|]*|(%d+)|(.*)$')
      if size and (scope == 'tenant' or owner == name) then
        freed = freed + tonumber(size)
        if freed >= need then at = tostring(math.max(0, tonumber(entries[i + 1]) - now)); break end
      end
    end
    return {'bytes', scope, tostring(maxBytes), tostring(held), at}
  end
  if rate and burst then
    if n > burst then return {'burst', scope, tostring(burst)} end
    local tokens, ts = tonumber(state[3]) or burst, tonumber(state[4]) or now
    tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
    if tokens < n then return {'rate', scope, tostring(rate), tostring(math.ceil((n - tokens) * 1000 / rate))} end
    buckets[#buckets + 1] = {h, tokens - n}
  end
end
for _, b in ipairs(buckets) do redis.call('HSET', b[1], 'tokens', tostring(b[2]), 'ts', tostring(now)) end
return {'ok'}
`;

interface ScriptedRedis extends Redis {
  harombeAdmitSubmission(...argv: string[]): Promise<string[]>;
}

/**
 * Per-tenant (and, where configured, per-key) limits on submissions, checked before a job or a
 * batch is stored, in one Redis script so that concurrent API instances share them exactly:
 * - a token bucket, `submission_burst` jobs refilled at `submissions_per_second` (a batch takes a
 *   token per job): 429 RateLimited with Retry-After;
 * - `max_waiting_jobs` queued or awaiting approval, and `max_stored_bytes` held in the store until
 *   the jobs expire: 429 QuotaExceeded with Retry-After.
 * The counts themselves are kept by the job store's scripts as jobs are created, move and end.
 */
export class SubmissionQuotas {
  private readonly redis: ScriptedRedis;
  private readonly keys: RedisKeys;

  constructor(private readonly options: SubmissionQuotasOptions) {
    this.keys = options.keys ?? new RedisKeys();
    this.redis = options.redis as ScriptedRedis;
    if (!this.redis.harombeAdmitSubmission)
      this.redis.defineCommand('harombeAdmitSubmission', { numberOfKeys: 0, lua: ADMIT });
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
    const answer = await this.redis.harombeAdmitSubmission(
      this.keys.tag,
      principal.tenant,
      principal.name,
      String(this.options.clock.now()),
      String(jobs),
      String(Math.ceil(bytes)),
      own ? '1' : '0',
      ...limits(tenant),
      ...limits(key),
    );
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
}
