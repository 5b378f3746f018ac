import { randomUUID } from 'node:crypto';
import {
  HarombeError,
  ManualClock,
  QuotasConfig,
  type Clock,
  type ErrorCode,
  type JobStatus,
  type JobView,
  type Limits,
} from '@harombe/core';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { RiskPolicy, type PolicyConfigInput } from '@harombe/policy';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, vi } from 'vitest';
import type { z } from 'zod';
import {
  BatchStore,
  Housekeeper,
  JobDispatcher,
  JobEvents,
  JobEventStream,
  JobService,
  JobStore,
  newId,
  RedisKeys,
  SandboxDirectory,
  SHARED_QUEUE,
  StoreHeadroom,
  SubmissionQuotas,
  WorkerRegistry,
  type JobRecord,
  type Principal,
} from '../src/index.js';

export const silentLogger = pino({ level: 'silent' });

/** How long finished jobs are kept in these tests: the TTL the store must set. */
export const RESULT_TTL_SECONDS = 3_600;
export const LOST_AFTER_MS = 10_000;
export const REDISPATCH_AFTER_MS = 30_000;

export const uniquePrefix = (): string => `t${randomUUID().slice(0, 8)}`;

/**
 * A command connection like the services open: `maxRetriesPerRequest: null` keeps commands
 * waiting through a Redis restart. Connection errors while Redis is down are expected.
 */
export function connect(url: string, options: { lazyConnect?: boolean } = {}): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: options.lazyConnect ?? false });
  redis.on('error', () => {});
  return redis;
}

/**
 * A MONITOR connection beside `redis` (as `redis.monitor()`), opened again when ioredis trips over
 * its own start: it takes the connection as monitoring only once MONITOR's answer has been handled
 * (a promise), so another client's command echoed in the same read as that answer fails it with
 * "Command queue state error" (redis/ioredis#1981, taskforcesh/bullmq#2505).
 */
export async function monitorOf(redis: Redis): Promise<Redis> {
  for (let attempt = 1; ; attempt += 1) {
    const monitor = redis.duplicate({ monitor: true, lazyConnect: false });
    try {
      await new Promise((resolve, reject) => {
        monitor.once('monitoring', resolve);
        monitor.once('error', reject);
      });
      return monitor;
    } catch (error) {
      monitor.disconnect();
      if (attempt >= 3 || !/Command queue state error/.test((error as Error).message)) throw error;
    }
  }
}

/** BullMQ connection options for the fixture's URL (each queue opens its own connection). */
export function bullConnection(url: string): { host: string; port: number; maxRetriesPerRequest: null } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port), maxRetriesPerRequest: null };
}

export interface HarnessOptions {
  /** Default: a fresh unique prefix. */
  prefix?: string;
  /** Default: a new ManualClock. */
  clock?: Clock;
  /** security.policy for the real RiskPolicy; default: the default rules. */
  policy?: PolicyConfigInput;
  /** Default: a connection of the harness's own (closed with it). */
  redis?: Redis;
  maxCodeBytes?: number;
  maxFileBytes?: number;
  maxLimits?: Limits;
  housekeeperIntervalMs?: number;
  /** The `quotas` section; default: none (no submission quotas at all). */
  quotas?: z.input<typeof QuotasConfig>;
  /** Refuse submissions past this share of Redis's maxmemory (StoreHeadroom's reserve); default: no check. */
  headroomReserve?: number;
  /** Tenants with webhook subscriptions in the configuration; default: none. */
  configuredWebhooks?: readonly string[];
}

/** The job pipeline wired by hand, as service-kit's createJobPipeline does, over one prefix. */
export class Harness {
  readonly prefix: string;
  readonly keys: RedisKeys;
  readonly clock: Clock;
  readonly redis: Redis;
  readonly store: JobStore;
  readonly batches: BatchStore;
  readonly workers: WorkerRegistry;
  readonly sandboxes: SandboxDirectory;
  readonly events: JobEvents;
  readonly eventStream: JobEventStream;
  readonly dispatcher: JobDispatcher;
  readonly service: JobService;
  readonly housekeeper: Housekeeper;
  readonly policy: RiskPolicy;
  private readonly ownsRedis: boolean;

  constructor(url: string, options: HarnessOptions = {}) {
    this.prefix = options.prefix ?? uniquePrefix();
    this.keys = new RedisKeys(this.prefix);
    this.clock = options.clock ?? new ManualClock();
    this.ownsRedis = !options.redis;
    this.redis = options.redis ?? connect(url);
    this.store = new JobStore({ redis: this.redis, keys: this.keys, resultTtlSeconds: RESULT_TTL_SECONDS });
    this.batches = new BatchStore(this.redis, this.keys, RESULT_TTL_SECONDS + 86_400);
    this.workers = new WorkerRegistry(this.redis, this.keys, LOST_AFTER_MS);
    this.sandboxes = new SandboxDirectory(this.redis, this.keys);
    // Subscribes only when something waits.
    this.events = new JobEvents(connect(url, { lazyConnect: true }), this.keys);
    this.eventStream = new JobEventStream({ redis: this.redis, keys: this.keys });
    this.dispatcher = new JobDispatcher({
      connection: bullConnection(url),
      keys: this.keys,
      store: this.store,
      sandboxes: this.sandboxes,
      workers: this.workers,
      clock: this.clock,
      logger: silentLogger,
    });
    this.policy = new RiskPolicy(options.policy ? { config: options.policy } : {});
    this.service = new JobService({
      store: this.store,
      batches: this.batches,
      dispatcher: this.dispatcher,
      events: this.events,
      policy: this.policy,
      clock: this.clock,
      logger: silentLogger,
      sandboxes: this.sandboxes,
      ...(options.maxCodeBytes ? { maxCodeBytes: options.maxCodeBytes } : {}),
      ...(options.maxFileBytes ? { maxFileBytes: options.maxFileBytes } : {}),
      ...(options.maxLimits ? { maxLimits: options.maxLimits } : {}),
      ...(options.quotas
        ? {
            quotas: new SubmissionQuotas({
              redis: this.redis,
              keys: this.keys,
              quotas: QuotasConfig.parse(options.quotas),
              clock: this.clock,
            }),
          }
        : {}),
      ...(options.headroomReserve !== undefined
        ? {
            headroom: new StoreHeadroom({ redis: this.redis, reserve: options.headroomReserve, clock: this.clock }),
          }
        : {}),
      ...(options.configuredWebhooks
        ? { configuredWebhooks: (tenant: string) => options.configuredWebhooks?.includes(tenant) ?? false }
        : {}),
    });
    this.housekeeper = new Housekeeper({
      store: this.store,
      service: this.service,
      dispatcher: this.dispatcher,
      workers: this.workers,
      clock: this.clock,
      logger: silentLogger,
      redispatchAfterMs: REDISPATCH_AFTER_MS,
      ...(options.housekeeperIntervalMs ? { intervalMs: options.housekeeperIntervalMs } : {}),
    });
  }

  get manualClock(): ManualClock {
    if (!(this.clock instanceof ManualClock)) throw new Error('this harness runs on real time');
    return this.clock;
  }

  /** The job as stored; fails the test when it is absent. */
  async job(jobId: string): Promise<JobRecord> {
    const job = await this.store.get(jobId);
    expect(job, `job ${jobId} should exist`).toBeDefined();
    return job as JobRecord;
  }

  /** The raw Redis hash of a job, to prove a refused event changed nothing. */
  rawJob(jobId: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.job(jobId));
  }

  ttl(key: string): Promise<number> {
    return this.redis.ttl(key);
  }

  /** Every Redis key under this harness's prefix (SCAN, not KEYS). */
  async allKeys(): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.keys.tag}*`, 'COUNT', 500);
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    return found;
  }

  async jobKeys(): Promise<string[]> {
    return (await this.allKeys()).filter((key) => key.startsWith(`${this.keys.tag}:job:`));
  }

  /** BullMQ job ids of every job on a queue (any state). */
  async queuedBullIds(queueName: string = SHARED_QUEUE): Promise<string[]> {
    const jobs = await this.dispatcher
      .queue(queueName)
      .getJobs(['waiting', 'active', 'delayed', 'prioritized', 'paused', 'waiting-children']);
    return jobs.map((job) => job.id as string).sort();
  }

  async queueTotal(queueName: string = SHARED_QUEUE): Promise<number> {
    const counts = await this.dispatcher.queue(queueName).getJobCounts();
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }

  /** Registers a worker alive now (by this harness's clock). */
  async heartbeat(workerId: string): Promise<void> {
    await this.workers.heartbeat({
      worker_id: workerId,
      hostname: 'test',
      last_seen: this.clock.now(),
      concurrency: 2,
      running: 0,
      sandboxes: 0,
    });
  }

  /** A sandbox of `tenant` held by `workerId`, in the fleet's sandbox directory; with `allowedDomains`, network-enabled. */
  async putSandbox(workerId: string, tenant = TENANT, allowedDomains?: string[]): Promise<string> {
    const sandboxId = `sandbox-${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    const now = this.clock.now();
    await this.sandboxes.put({
      sandbox_id: sandboxId,
      worker_id: workerId,
      tenant,
      language: 'python',
      network_enabled: allowedDomains !== undefined,
      allowed_domains: allowedDomains ?? [],
      created_at: now,
      expires_at: now + 3_600_000,
      record: {},
    });
    return sandboxId;
  }

  /**
   * Runs `run`, and answers what it returned with the commands this harness's own connection sent
   * Redis meanwhile, as MONITOR shows them (the name in lower case, then the arguments): what a step
   * costs in round trips. Scripts' own commands and other connections' (BullMQ's) are left out.
   */
  async commandsDuring<T>(run: () => Promise<T>): Promise<{ value: T; commands: string[][] }> {
    const source = /\baddr=(\S+)/.exec(await this.redis.client('INFO'))?.[1];
    const monitor = await monitorOf(this.redis);
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, [name = '', ...args]: string[], from: string) => {
      if (from === source) seen.push([name.toLowerCase(), ...args]);
    });
    try {
      const value = await run();
      // MONITOR shows a connection's commands in order: once this one is seen, so are those before it.
      const marker = `end-of-${randomUUID()}`;
      await this.redis.echo(marker);
      const isMarker = ([name, arg]: string[]): boolean => name === 'echo' && arg === marker;
      await vi.waitFor(() => expect(seen.some(isMarker)).toBe(true));
      return { value, commands: seen.slice(0, seen.findIndex(isMarker)) };
    } finally {
      monitor.disconnect();
    }
  }

  /**
   * Resolves once the next wait for a job's end is in place (subscribed, its job read and not
   * ended): whatever ends the job after that can wake the wait only through the job event.
   */
  nextWaitInPlace(): Promise<void> {
    const waitForEnd = this.events.waitForEnd.bind(this.events);
    return new Promise((inPlace) => {
      vi.spyOn(this.events, 'waitForEnd').mockImplementationOnce((jobId, timeoutMs, isDone) =>
        waitForEnd(jobId, timeoutMs, async () => {
          const done = await isDone();
          inPlace();
          return done;
        }),
      );
    });
  }

  async close(): Promise<void> {
    await this.housekeeper.stop();
    await this.dispatcher.close();
    await this.events.close();
    if (this.ownsRedis) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

export const TENANT = 'acme';
export const OTHER_TENANT = 'globex';

export const alice: Principal = { tenant: TENANT, name: 'alice-key', scopes: ['submit'], slack_user_id: 'U_ALICE' };
export const bob: Principal = {
  tenant: TENANT,
  name: 'bob-key',
  scopes: ['submit', 'approve'],
  slack_user_id: 'U_BOB',
};
export const carol: Principal = { tenant: TENANT, name: 'carol-key', scopes: ['approve'] };
export const mallory: Principal = { tenant: OTHER_TENANT, name: 'mallory-key', scopes: ['submit', 'approve', 'admin'] };

/** What a consumer's stand-in tool answers: a program that printed 1 and exited 0. */
export const COMPLETED_RUN = {
  success: true,
  sandbox_id: null,
  stdout: '1\n',
  stderr: '',
  exit_code: 0,
  execution_time: 0.01,
  error: null,
};

/** A HIGH job under the default rules: plain code execution. */
export const HIGH_EXECUTE = { tool: 'code_execute', params: { language: 'python', code: 'print(1)' } } as const;

/** Awaits `promise`, expecting a HarombeError with `code`; returns it for further checks. */
export async function expectHarombeError(promise: Promise<unknown>, code: ErrorCode): Promise<HarombeError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, `expected HarombeError ${code}`).toBeInstanceOf(HarombeError);
  expect((error as HarombeError).code).toBe(code);
  return error as HarombeError;
}

/** A job record as the service would build it, stored directly in `status` by the store tests. */
export function jobRecord(clock: Clock, overrides: Partial<JobRecord> = {}): JobRecord {
  const status: JobStatus = overrides.status ?? 'queued';
  const now = clock.now();
  const awaiting = status === 'awaiting_approval';
  const deadline = awaiting ? now + 60_000 : 0;
  return {
    job_id: newId('job'),
    tenant: TENANT,
    submitted_by: alice.name,
    submitted_by_slack: null,
    tool: 'code_execute',
    params: { language: 'python', code: 'print(1)', network_enabled: false, allowed_domains: [] },
    status,
    risk: 'HIGH',
    risk_reason: 'Code execution',
    risk_matched: null,
    created_at: now,
    started_at: null,
    finished_at: null,
    batch_id: null,
    attempts: 0,
    max_attempts: 1,
    approval: awaiting
      ? {
          approval_id: newId('approval'),
          status: 'pending',
          risk: 'HIGH',
          expires_at: new Date(deadline).toISOString(),
          decided_by: null,
          decided_at: null,
          reason: null,
          channel: null,
        }
      : null,
    approval_deadline: deadline,
    result: null,
    error: null,
    sandbox_id: null,
    worker_id: null,
    payload_sha256: '0'.repeat(64),
    ...overrides,
  };
}

/** The approval id of a job that must have one. */
export function approvalIdOf(view: JobView): string {
  if (!view.approval) throw new Error(`job ${view.job_id} has no approval`);
  return view.approval.approval_id;
}

/** One real Redis per test file: started before its tests, stopped after. */
export function useRedisContainer(): { readonly url: string; restart(): Promise<void> } {
  let container: RedisContainer | undefined;
  beforeAll(async () => {
    container = await startRedis();
  });
  afterAll(async () => {
    await container?.stop();
  });
  return {
    get url() {
      if (!container) throw new Error('the Redis container is not started');
      return container.url;
    },
    restart: () => (container as RedisContainer).restart(),
  };
}
