import type { Clock } from '@harombe/core';
import type { Redis } from 'ioredis';
import type { SlackKeys } from './slack-keys.js';

/** What a delivery task does for its subject: post the request, update it in place, or remind in its thread. */
export const TASK_KINDS = ['announce', 'update', 'remind'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

export interface OutboxTask {
  /** `<kind>:<subject>`: one task per kind and subject, however often it is asked for. */
  task: string;
  kind: TaskKind;
  /** A job id or a batch id. */
  subject: string;
  /** Failed attempts before this one. */
  attempts: number;
}

export interface SlackOutboxOptions {
  redis: Redis;
  keys: SlackKeys;
  clock: Clock;
  /** How long a claimed task is held before another approval service may take it over, ms. Default 60 000. */
  leaseMs?: number;
  /** Delay after the first failure, ms; doubled after each further one. Default 1 000. */
  initialBackoffMs?: number;
  /** Longest delay between attempts, ms. Default 300 000 (5 minutes). */
  maxBackoffMs?: number;
  /** Random spread of each delay, as a fraction of it (0.2: ±20 %). Default 0.2. */
  jitter?: number;
}

/** KEYS: outbox, leases, again. ARGV: task, due ms, now ms. */
const ENQUEUE = `
local lease = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if lease > tonumber(ARGV[3]) then
  redis.call('SADD', KEYS[3], ARGV[1])
  return 'again'
end
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 1 then return 'added' end
return 'queued'
`;

/** KEYS: outbox, leases, attempts. ARGV: now ms, lease ms, limit. Returns task, attempts, task, attempts, ... */
const CLAIM = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local held = tonumber(ARGV[1]) + tonumber(ARGV[2])
local out = {}
for _, task in ipairs(due) do
  redis.call('ZADD', KEYS[1], held, task)
  redis.call('HSET', KEYS[2], task, held)
  out[#out + 1] = task
  out[#out + 1] = redis.call('HGET', KEYS[3], task) or '0'
end
return out
`;

/** KEYS: outbox, leases, again, attempts. ARGV: task, now ms. */
const COMPLETE = `
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
if redis.call('SREM', KEYS[3], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  return 'again'
end
redis.call('ZREM', KEYS[1], ARGV[1])
return 'done'
`;

/** KEYS: outbox, leases, again, attempts. ARGV: task, due ms. The retry reads the state afresh, so a pending "again" is dropped. */
const RETRY = `
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 'ok'
`;

interface ScriptedRedis extends Redis {
  harombeSlackEnqueue(
    outbox: string,
    leases: string,
    again: string,
    task: string,
    due: string,
    now: string,
  ): Promise<string>;
  harombeSlackClaim(
    outbox: string,
    leases: string,
    attempts: string,
    now: string,
    leaseMs: string,
    limit: string,
  ): Promise<string[]>;
  harombeSlackComplete(
    outbox: string,
    leases: string,
    again: string,
    attempts: string,
    task: string,
    now: string,
  ): Promise<string>;
  harombeSlackRetry(
    outbox: string,
    leases: string,
    again: string,
    attempts: string,
    task: string,
    due: string,
  ): Promise<string>;
}

/**
 * Slack deliveries that must not be lost, kept in Redis until they succeed: a sorted set of
 * tasks by due time. An approval service claims due tasks (holding each for a lease, so two
 * services never run one at once and a crashed one's tasks are taken over), then completes
 * them or puts them back with exponential backoff. Asking for a task already waiting changes
 * nothing; asking for one being run makes it run once more afterwards, so the last state is
 * always the one delivered.
 */
export class SlackOutbox {
  private readonly redis: ScriptedRedis;
  private readonly leaseMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly jitter: number;

  constructor(private readonly options: SlackOutboxOptions) {
    this.redis = options.redis as ScriptedRedis;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.initialBackoffMs = options.initialBackoffMs ?? 1_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 300_000;
    this.jitter = options.jitter ?? 0.2;
    if (!this.redis.harombeSlackEnqueue) {
      this.redis.defineCommand('harombeSlackEnqueue', { numberOfKeys: 3, lua: ENQUEUE });
      this.redis.defineCommand('harombeSlackClaim', { numberOfKeys: 3, lua: CLAIM });
      this.redis.defineCommand('harombeSlackComplete', { numberOfKeys: 4, lua: COMPLETE });
      this.redis.defineCommand('harombeSlackRetry', { numberOfKeys: 4, lua: RETRY });
    }
  }

  /** Asks for a task, due at `dueMs` (default now). */
  async enqueue(kind: TaskKind, subject: string, dueMs = this.options.clock.now()): Promise<void> {
    const { keys, clock } = this.options;
    await this.redis.harombeSlackEnqueue(
      keys.outbox(),
      keys.outboxLeases(),
      keys.outboxAgain(),
      `${kind}:${subject}`,
      String(dueMs),
      String(clock.now()),
    );
  }

  /** Takes up to `limit` due tasks, holding each for the lease. */
  async claimDue(limit: number): Promise<OutboxTask[]> {
    const { keys, clock } = this.options;
    const flat = await this.redis.harombeSlackClaim(
      keys.outbox(),
      keys.outboxLeases(),
      keys.outboxAttempts(),
      String(clock.now()),
      String(this.leaseMs),
      String(limit),
    );
    const tasks: OutboxTask[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) tasks.push(parseTask(flat[i] as string, Number(flat[i + 1])));
    return tasks;
  }

  /** The task succeeded (or has nothing left to do). */
  async complete(task: OutboxTask): Promise<void> {
    const { keys, clock } = this.options;
    await this.redis.harombeSlackComplete(
      keys.outbox(),
      keys.outboxLeases(),
      keys.outboxAgain(),
      keys.outboxAttempts(),
      task.task,
      String(clock.now()),
    );
  }

  /**
   * The task failed: puts it back after the backoff for its attempt, or after `minDelayMs` (Slack's
   * Retry-After) when longer. Returns the delay, ms.
   */
  async retry(task: OutboxTask, minDelayMs = 0): Promise<number> {
    const delay = Math.max(minDelayMs, this.backoffMs(task.attempts + 1));
    const { keys, clock } = this.options;
    await this.redis.harombeSlackRetry(
      keys.outbox(),
      keys.outboxLeases(),
      keys.outboxAgain(),
      keys.outboxAttempts(),
      task.task,
      String(clock.now() + delay),
    );
    return delay;
  }

  /** Delay before the attempt after `failures` failures. */
  backoffMs(failures: number): number {
    const base = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.max(0, failures - 1));
    return Math.round(base * (1 + this.jitter * (2 * Math.random() - 1)));
  }

  /** Tasks waiting or being run. */
  async size(): Promise<number> {
    return this.redis.zcard(this.options.keys.outbox());
  }
}

function parseTask(task: string, attempts: number): OutboxTask {
  const colon = task.indexOf(':');
  return { task, kind: task.slice(0, colon) as TaskKind, subject: task.slice(colon + 1), attempts };
}
