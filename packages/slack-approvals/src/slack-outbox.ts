import type { Clock } from '@harombe/core';
import type { Redis } from 'ioredis';
import type { SlackKeys } from './slack-keys.js';
import { SLACK_CLAIM, SLACK_COMPLETE, SLACK_ENQUEUE, SLACK_RETRY } from './slack-scripts.js';

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

/**
 * Slack deliveries that must not be lost, kept in Redis until they succeed: a sorted set of
 * tasks by due time. An approval service claims due tasks (holding each for a lease, so two
 * services never run one at once and a crashed one's tasks are taken over), then completes
 * them or puts them back with exponential backoff. Asking for a task already waiting changes
 * nothing; asking for one being run makes it run once more afterwards, so the last state is
 * always the one delivered.
 */
export class SlackOutbox {
  private readonly redis: Redis;
  private readonly leaseMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly jitter: number;

  constructor(private readonly options: SlackOutboxOptions) {
    this.redis = options.redis;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.initialBackoffMs = options.initialBackoffMs ?? 1_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 300_000;
    this.jitter = options.jitter ?? 0.2;
  }

  /** Asks for a task, due at `dueMs` (default now). */
  async enqueue(kind: TaskKind, subject: string, dueMs = this.options.clock.now()): Promise<void> {
    const { keys, clock } = this.options;
    await SLACK_ENQUEUE.run(this.redis, [keys], [`${kind}:${subject}`, String(dueMs), String(clock.now())]);
  }

  /** Takes up to `limit` due tasks, holding each for the lease. */
  async claimDue(limit: number): Promise<OutboxTask[]> {
    const { keys, clock } = this.options;
    const flat = await SLACK_CLAIM.run(this.redis, [keys], [String(clock.now()), String(this.leaseMs), String(limit)]);
    const tasks: OutboxTask[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) tasks.push(parseTask(flat[i] as string, Number(flat[i + 1])));
    return tasks;
  }

  /** The task succeeded (or has nothing left to do). */
  async complete(task: OutboxTask): Promise<void> {
    const { keys, clock } = this.options;
    await SLACK_COMPLETE.run(this.redis, [keys], [task.task, String(clock.now())]);
  }

  /**
   * The task failed: puts it back after the backoff for its attempt, or after `minDelayMs` (Slack's
   * Retry-After) when longer. Returns the delay, ms.
   */
  async retry(task: OutboxTask, minDelayMs = 0): Promise<number> {
    const delay = Math.max(minDelayMs, this.backoffMs(task.attempts + 1));
    const { keys, clock } = this.options;
    await SLACK_RETRY.run(this.redis, [keys], [task.task, String(clock.now() + delay)]);
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
