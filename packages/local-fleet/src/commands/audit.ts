import { CliError, EXIT } from '@harombe/cli';
import { loadConfig, parseConfig, type AuditRecordView, type HarombeConfig } from '@harombe/core';
import type { AuditTrail, AuditVerification } from '@harombe/queue';
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { configPathOf } from '@harombe/cli';
import { firstErrorOf, redactUrl } from './doctor.js';

/**
 * `harombe audit verify|tail`. These read the audit trail straight from Redis, not through the
 * API: verifying needs every tenant's records (the chain runs through all of them), and an
 * operator checking the trail should not have to trust the API it audits. `GET /v1/audit` is
 * the API's read of one tenant's records.
 */

/** Where the trail lives: a Redis URL (and where it came from, for messages) and the key prefix. */
export interface AuditSource {
  redisUrl: string;
  urlSource: string;
  prefix: string;
}

/**
 * Resolves the trail's Redis: `--redis-url` > $HAROMBE_REDIS_URL > redis.url of the
 * configuration (`--config`, $HAROMBE_CONFIG, ./harombe.yaml, the local fleet's
 * $HAROMBE_HOME/harombe.yaml, else the defaults), whose redis.prefix names the keys.
 */
export function resolveAuditSource(
  flags: { config?: string | undefined; redisUrl?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): AuditSource {
  const path = configPathOf(flags.config, env);
  const config: HarombeConfig = path ? loadConfig(path) : parseConfig({});
  if (flags.redisUrl) return { redisUrl: flags.redisUrl, urlSource: '--redis-url', prefix: config.redis.prefix };
  if (env.HAROMBE_REDIS_URL)
    return { redisUrl: env.HAROMBE_REDIS_URL, urlSource: 'HAROMBE_REDIS_URL', prefix: config.redis.prefix };
  return {
    redisUrl: config.redis.url,
    urlSource: path ? `redis.url of ${path}` : 'the default redis.url',
    prefix: config.redis.prefix,
  };
}

/** One line per record: time, seq, type, job, tenant, who (through what), and the details. */
export function formatAuditRecord(record: AuditRecordView): string {
  const who = record.actor ? `${record.actor}${record.channel ? ` (${record.channel})` : ''}` : (record.channel ?? '-');
  const details = Object.entries(record.details)
    .filter(([, value]) => value !== null && value !== undefined && value !== '')
    .map(
      ([key, value]) =>
        `${key}=${typeof value === 'string' ? (/\s/.test(value) ? JSON.stringify(value) : value) : JSON.stringify(value)}`,
    )
    .join(' ');
  return `${record.at}  #${record.seq}  ${record.type.padEnd(18)}  ${record.job_id ?? '-'}  ${record.tenant ?? '-'}  ${who}${details ? `  ${details}` : ''}\n`;
}

export function formatVerification(result: AuditVerification): string {
  if (result.ok) {
    if (!result.last) return 'audit trail intact: empty\n';
    return `audit trail intact: ${result.records} record${result.records === 1 ? '' : 's'}, head #${result.last.seq} ${result.last.hash}\n`;
  }
  const lines = result.problems.map((problem) => `  ${problem.kind}: ${problem.message}\n`);
  return `audit trail TAMPERED: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'} in ${result.records} records\n${lines.join('')}`;
}

interface TailFlags {
  lines: number;
  follow?: boolean;
  job?: string;
  tenant?: string;
  json?: boolean;
}

/** `harombe audit verify`. */
export async function runAuditVerify(options: { redisUrl?: string; json?: boolean }, command: Command): Promise<void> {
  await withTrail(sourceOf(command, options), async (trail) => {
    const result = await trail.verify();
    process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : formatVerification(result));
    if (!result.ok) process.exitCode = EXIT.failed;
  });
}

/** `harombe audit tail`. */
export async function runAuditTail(options: TailFlags & { redisUrl?: string }, command: Command): Promise<void> {
  const matches = (record: AuditRecordView): boolean =>
    (options.job === undefined || record.job_id === options.job) &&
    (options.tenant === undefined || record.tenant === options.tenant);
  const print = (record: AuditRecordView): void => {
    process.stdout.write(options.json ? `${JSON.stringify(record)}\n` : formatAuditRecord(record));
  };
  await withTrail(sourceOf(command, options), async (trail, redis) => {
    const filtered = options.job !== undefined || options.tenant !== undefined;
    // Filtered, the latest matching records may lie far back: look through a bounded window.
    const latest = await trail.latest(filtered ? Math.max(options.lines * 50, 10_000) : options.lines);
    for (const record of latest.filter(matches).slice(-options.lines)) print(record);
    if (!options.follow) return;
    let after = latest.at(-1)?.id ?? (await lastId(redis, trail.streamKey));
    for (;;) {
      for (const record of await trail.waitForMore(after, 5_000)) {
        after = record.id;
        if (matches(record)) print(record);
      }
    }
  });
}

function sourceOf(command: Command, options: { redisUrl?: string }): AuditSource {
  const { config } = command.optsWithGlobals<{ config?: string }>();
  return resolveAuditSource({ config, redisUrl: options.redisUrl });
}

/** The stream's last id, `0` while empty: where `--follow` starts on an empty or filtered trail. */
async function lastId(redis: Redis, key: string): Promise<string> {
  const [entry] = (await redis.xrevrange(key, '+', '-', 'COUNT', 1)) as [string, string[]][];
  return entry?.[0] ?? '0';
}

/** Connects (failing fast, naming where the URL came from), runs `work`, disconnects. */
async function withTrail(source: AuditSource, work: (trail: AuditTrail, redis: Redis) => Promise<void>): Promise<void> {
  // Loaded here, not when `harombe` starts: only the audit commands read Redis and the queue's keys.
  const [{ Redis }, { AuditTrail, RedisKeys }] = await Promise.all([import('ioredis'), import('@harombe/queue')]);
  const redis = new Redis(source.redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 3_000,
    retryStrategy: () => null,
  });
  const connectionError = firstErrorOf(redis);
  try {
    await redis.connect();
  } catch (error) {
    // Ended already (no retries): disconnect() would hold the process for its disconnectTimeout.
    if (redis.status !== 'end') redis.disconnect();
    throw new CliError(
      'ServiceUnavailable',
      `cannot reach Redis at ${redactUrl(source.redisUrl)} (from ${source.urlSource}): ${((connectionError() ?? error) as Error).message}. Pass --redis-url or set HAROMBE_REDIS_URL to the fleet's Redis`,
    );
  }
  try {
    await work(new AuditTrail({ redis, keys: new RedisKeys(source.prefix) }), redis);
  } finally {
    redis.disconnect();
  }
}
