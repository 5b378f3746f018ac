import { JOB_STATUSES, ManualClock, TERMINAL_STATUSES, type JobStatus } from '@harombe/core';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JOB_EVENTS, JobStore, newId, type JobEvent, type JobRecord } from '../src/index.js';
import { TRANSITION_JOB } from '../src/queue-scripts.js';
import { connect, Harness, jobRecord, monitorOf, OTHER_TENANT, RESULT_TTL_SECONDS } from './harness.js';

const EVENTS = Object.keys(JOB_EVENTS) as JobEvent[];

/** A field change per event, as the services make them, to prove the patch is applied. */
function patchFor(event: JobEvent): Partial<JobRecord> {
  switch (event) {
    case 'start':
      return { worker_id: 'worker-a', started_at: 1 };
    case 'retry':
      return { worker_id: null };
    case 'approve':
    case 'deny':
    case 'expire':
    case 'withdraw':
      return { error: event === 'approve' ? null : { code: 'Cancelled', message: event } };
    default:
      return {
        result: { success: event === 'complete', event },
        error: event === 'complete' ? null : { code: 'InternalError', message: event },
      };
  }
}

let container: RedisContainer;

beforeAll(async () => {
  container = await startRedis();
});

afterAll(async () => {
  await container?.stop();
});

describe('JobStore lifecycle', () => {
  let h: Harness;
  let clock: ManualClock;

  beforeEach(() => {
    clock = new ManualClock();
    h = new Harness(container.url, { clock });
  });

  afterEach(async () => {
    await h.close();
  });

  /** Where the job appears among the store's indexes. */
  async function indexesOf(job: JobRecord): Promise<string[]> {
    const found: string[] = [];
    if ((await h.redis.zscore(h.keys.index('queued'), job.job_id)) !== null) found.push('queued');
    if ((await h.redis.zscore(h.keys.index('running'), job.job_id)) !== null) found.push('running');
    if ((await h.redis.zscore(h.keys.approvalDeadlines(), job.job_id)) !== null) found.push('deadlines');
    if ((await h.redis.zscore(h.keys.tenantPending(job.tenant), job.job_id)) !== null) found.push('pending');
    return found;
  }

  const expectedIndexes = (status: JobStatus): string[] =>
    status === 'queued'
      ? ['queued']
      : status === 'running'
        ? ['running']
        : status === 'awaiting_approval'
          ? ['deadlines', 'pending']
          : [];

  it('applies every event from each of its allowed statuses', async () => {
    let checked = 0;
    for (const event of EVENTS) {
      const { from, to } = JOB_EVENTS[event];
      for (const status of from) {
        // Reach `status` through the lifecycle where the indexes matter (running is only indexed by `start`).
        const job = jobRecord(clock, { status: status === 'running' ? 'queued' : status });
        await h.store.create(job);
        if (status === 'running')
          expect((await h.store.transition(job.job_id, 'start', {}, clock.now())).outcome).toBe('ok');
        const attemptsBefore = (await h.job(job.job_id)).attempts;

        const outcome = await h.store.transition(job.job_id, event, patchFor(event), clock.now());

        expect(outcome, `${event} from ${status}`).toEqual({ outcome: 'ok', previous: status });
        const stored = await h.job(job.job_id);
        expect(stored.status, `${event} from ${status}`).toBe(to);
        expect(stored).toMatchObject(patchFor(event));
        expect(stored.attempts).toBe(event === 'start' ? attemptsBefore + 1 : attemptsBefore);
        expect(await indexesOf(stored), `indexes after ${event} from ${status}`).toEqual(expectedIndexes(to));
        if (TERMINAL_STATUSES.includes(to)) expect(stored.finished_at).toBe(clock.now());
        checked += 1;
      }
    }
    // Every (event, from) pair of the table was exercised.
    expect(checked).toBe(EVENTS.reduce((n, event) => n + JOB_EVENTS[event].from.length, 0));
  });

  it('refuses every event from a status it does not allow, changing nothing', async () => {
    let checked = 0;
    for (const event of EVENTS) {
      const from = JOB_EVENTS[event].from as readonly JobStatus[];
      for (const status of JOB_STATUSES.filter((s) => !from.includes(s))) {
        const job = jobRecord(clock, { status, batch_id: newId('batch') });
        await h.store.create(job);
        const before = await h.rawJob(job.job_id);
        const countsBefore = await h.batches.counts(job.batch_id as string);

        const outcome = await h.store.transition(job.job_id, event, patchFor(event), clock.now());

        expect(outcome, `${event} from ${status}`).toEqual({ outcome: 'refused', previous: status });
        expect(await h.rawJob(job.job_id), `${event} from ${status}`).toEqual(before);
        expect(await h.ttl(h.keys.job(job.job_id))).toBe(-1);
        expect(await h.batches.counts(job.batch_id as string)).toEqual(countsBefore);
        expect(await indexesOf(job)).toEqual(expectedIndexes(status).filter((i) => i !== 'running'));
        checked += 1;
      }
    }
    expect(checked).toBe(EVENTS.reduce((n, event) => n + JOB_STATUSES.length - JOB_EVENTS[event].from.length, 0));
  });

  it('never moves a job that has ended, whatever the event', async () => {
    // Reach each terminal status through the lifecycle, then try every event on it.
    const paths: Record<string, JobEvent[]> = {
      completed: ['start', 'complete'],
      failed: ['start', 'lose_worker'],
      cancelled: ['cancel'],
      denied: ['deny'],
      expired: ['expire'],
    };
    expect(Object.keys(paths).sort()).toEqual([...TERMINAL_STATUSES].sort());
    for (const [terminal, path] of Object.entries(paths)) {
      const job = jobRecord(clock, {
        status: path[0] === 'start' || path[0] === 'cancel' ? 'queued' : 'awaiting_approval',
      });
      await h.store.create(job);
      for (const event of path)
        expect((await h.store.transition(job.job_id, event, patchFor(event), clock.now())).outcome).toBe('ok');
      const ended = await h.rawJob(job.job_id);
      expect(ended.status).toBe(terminal);

      clock.advance(1_000);
      for (const event of EVENTS) {
        const outcome = await h.store.transition(
          job.job_id,
          event,
          { worker_id: 'late-worker', result: { late: true } },
          clock.now(),
        );
        expect(outcome, `${event} on ${terminal}`).toEqual({ outcome: 'refused', previous: terminal });
      }
      expect(await h.rawJob(job.job_id)).toEqual(ended);
      expect(await indexesOf(job)).toEqual([]);
    }
  });

  it("answers 'missing' for an unknown job and creates nothing", async () => {
    const jobId = newId('job');
    for (const event of EVENTS)
      expect(await h.store.transition(jobId, event, { worker_id: 'w' }, clock.now())).toEqual({ outcome: 'missing' });
    expect(await h.store.get(jobId)).toBeUndefined();
    expect(await h.allKeys()).toEqual([]);
  });

  it('sets the result TTL on a terminal transition (job, approval and idempotency keys) and none before', async () => {
    const job = jobRecord(clock, { status: 'awaiting_approval' });
    const approvalId = job.approval?.approval_id as string;
    await h.store.create(job, 'idem-ttl');
    const idemKey = h.keys.idempotency(job.tenant, 'idem-ttl');
    expect(await h.ttl(h.keys.job(job.job_id))).toBe(-1);
    expect(await h.ttl(h.keys.approval(approvalId))).toBe(-1);
    expect(await h.ttl(idemKey)).toBe(-1);
    expect(await h.store.jobIdForApproval(approvalId)).toBe(job.job_id);

    // Non-terminal transitions leave the job without a TTL.
    for (const event of ['approve', 'start', 'retry', 'start'] as const) {
      expect((await h.store.transition(job.job_id, event, {}, clock.now())).outcome).toBe('ok');
      expect(await h.ttl(h.keys.job(job.job_id)), `after ${event}`).toBe(-1);
    }

    expect((await h.store.transition(job.job_id, 'complete', { result: { success: true } }, clock.now())).outcome).toBe(
      'ok',
    );
    for (const key of [h.keys.job(job.job_id), h.keys.approval(approvalId), idemKey]) {
      const ttl = await h.ttl(key);
      expect(ttl, key).toBeGreaterThan(RESULT_TTL_SECONDS - 60);
      expect(ttl, key).toBeLessThanOrEqual(RESULT_TTL_SECONDS);
    }
    expect((await h.job(job.job_id)).attempts).toBe(2);
  });

  it("refuses a step whose keys were built from other fields than the job's ('moved'), changing nothing", async () => {
    const job = jobRecord(clock, { status: 'awaiting_approval' });
    await h.store.create(job);
    const before = await h.rawJob(job.job_id);
    const keysBefore = (await h.allKeys()).sort();
    const events = await h.redis.xlen(h.keys.jobEventStream(job.job_id));
    // Keys of another tenant's pending approvals and quotas than the job's.
    const routing = {
      job_id: job.job_id,
      tenant: OTHER_TENANT,
      submitted_by: job.submitted_by,
      batch_id: '',
      approval_id: job.approval?.approval_id ?? '',
      idempotency_ref: '',
    };
    const argv = ['approve', 'awaiting_approval', 'queued', String(clock.now()), '60', '{}', '1', '0'];
    argv.push(
      h.keys.jobEvents(),
      '',
      '{}',
      '',
      '100',
      routing.tenant,
      routing.submitted_by,
      '',
      routing.approval_id,
      '',
    );
    expect(await TRANSITION_JOB.run(h.redis, [h.keys, routing], argv)).toEqual(['moved', 'awaiting_approval']);
    expect(await h.rawJob(job.job_id)).toEqual(before);
    expect((await h.allKeys()).sort()).toEqual(keysBefore);
    expect(await h.redis.xlen(h.keys.jobEventStream(job.job_id))).toBe(events);
    // The store builds them from the job itself.
    expect((await h.store.transition(job.job_id, 'approve', {}, clock.now())).outcome).toBe('ok');
    expect(await h.redis.zcard(h.keys.tenantPending(job.tenant))).toBe(0);
  });

  it("reads a job's fields again when those it kept are not the job's (a job made again under its id)", async () => {
    const job = jobRecord(clock, { status: 'awaiting_approval' });
    await h.store.create(job);
    // Another store makes the job again under the same id, for another tenant.
    await h.redis.del(h.keys.job(job.job_id));
    const other = new JobStore({ redis: h.redis, keys: h.keys, resultTtlSeconds: RESULT_TTL_SECONDS });
    await other.create({ ...job, tenant: OTHER_TENANT });
    expect(await h.redis.zrange(h.keys.tenantPending(OTHER_TENANT), 0, -1)).toEqual([job.job_id]);
    expect((await h.store.transition(job.job_id, 'approve', {}, clock.now())).outcome).toBe('ok');
    // The step touched the keys of the job as it is, not of the one the first store made.
    expect(await h.redis.zrange(h.keys.tenantPending(OTHER_TENANT), 0, -1)).toEqual([]);
  });

  it("refuses a decision at or after the approval deadline as 'late', changing nothing", async () => {
    const job = jobRecord(clock, { status: 'awaiting_approval' });
    await h.store.create(job);
    const before = await h.rawJob(job.job_id);
    for (const event of ['approve', 'deny'] as const) {
      expect(await h.store.transition(job.job_id, event, {}, job.approval_deadline)).toEqual({
        outcome: 'late',
        previous: 'awaiting_approval',
      });
      expect(await h.store.transition(job.job_id, event, {}, job.approval_deadline + 1)).toEqual({
        outcome: 'late',
        previous: 'awaiting_approval',
      });
    }
    expect(await h.rawJob(job.job_id)).toEqual(before);
    expect(await h.store.dueApprovalJobIds(job.approval_deadline - 1, 10)).toEqual([]);
    expect(await h.store.dueApprovalJobIds(job.approval_deadline, 10)).toEqual([job.job_id]);
    // Expiry is not deadline-guarded: it is what ends such a job.
    expect((await h.store.transition(job.job_id, 'expire', {}, job.approval_deadline)).outcome).toBe('ok');
    expect(await h.store.dueApprovalJobIds(job.approval_deadline, 10)).toEqual([]);
    expect(await h.store.pendingApprovalJobIds(job.tenant, 10)).toEqual([]);
  });

  it('keeps batch counts current through transitions', async () => {
    const batchId = newId('batch');
    await h.batches.create({
      batch_id: batchId,
      tenant: 'acme',
      created_at: clock.now(),
      total: 4,
      payload_sha256: '0'.repeat(64),
    });
    const jobs = [
      jobRecord(clock, { status: 'queued', batch_id: batchId }),
      jobRecord(clock, { status: 'queued', batch_id: batchId }),
      jobRecord(clock, { status: 'awaiting_approval', batch_id: batchId }),
      jobRecord(clock, { status: 'awaiting_approval', batch_id: batchId }),
    ];
    await h.store.createMany(jobs);
    await h.batches.sealed(batchId);
    const [a, b, c, d] = jobs.map((job) => job.job_id) as [string, string, string, string];
    expect(await h.batches.jobIds(batchId)).toEqual([a, b, c, d]);
    expect(await h.batches.counts(batchId)).toEqual({ queued: 2, awaiting_approval: 2 });

    await h.store.transition(a, 'start', {}, clock.now());
    expect(await h.batches.counts(batchId)).toEqual({ queued: 1, running: 1, awaiting_approval: 2 });
    await h.store.transition(a, 'complete', {}, clock.now());
    await h.store.transition(c, 'approve', {}, clock.now());
    await h.store.transition(d, 'deny', {}, clock.now());
    expect(await h.batches.counts(batchId)).toEqual({ queued: 2, completed: 1, denied: 1 });
    // A refused event moves no count.
    expect((await h.store.transition(a, 'cancel', {}, clock.now())).outcome).toBe('refused');
    await h.store.transition(b, 'cancel', {}, clock.now());
    expect(await h.batches.counts(batchId)).toEqual({ queued: 1, completed: 1, denied: 1, cancelled: 1 });
    const total = Object.values(await h.batches.counts(batchId)).reduce((n, v) => n + v, 0);
    expect(total).toBe(4);
  });

  it('lets exactly one of 20 concurrent starts claim a queued job', async () => {
    // Four connections, as four workers would have, racing for one job.
    const others: Redis[] = [0, 1, 2, 3].map(() => connect(container.url));
    try {
      const stores = others.map((redis) => new JobStore({ redis, keys: h.keys, resultTtlSeconds: RESULT_TTL_SECONDS }));
      for (let round = 0; round < 3; round++) {
        const job = jobRecord(clock, { status: 'queued' });
        await h.store.create(job);
        const outcomes = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (stores[i % stores.length] as JobStore).transition(
              job.job_id,
              'start',
              { worker_id: `worker-${i}` },
              clock.now(),
            ),
          ),
        );
        const winners = outcomes.map((o, i) => [o.outcome, i] as const).filter(([o]) => o === 'ok');
        expect(winners).toHaveLength(1);
        expect(outcomes.filter((o) => o.outcome === 'refused')).toHaveLength(19);
        const stored = await h.job(job.job_id);
        expect(stored.status).toBe('running');
        expect(stored.attempts).toBe(1);
        expect(stored.worker_id).toBe(`worker-${(winners[0] as readonly [string, number])[1]}`);
        expect(await h.store.countIndex('running')).toBe(round + 1);
        expect(await h.store.countIndex('queued')).toBe(0);
      }
    } finally {
      await Promise.all(others.map((redis) => redis.quit()));
    }
  });
});

describe("JobStore: the fields a job's steps are routed by", () => {
  let h: Harness;
  let clock: ManualClock;
  /** Another process's store: it made none of the jobs, and its connection is its own. */
  let redis: Redis;
  let store: JobStore;

  beforeEach(() => {
    clock = new ManualClock();
    h = new Harness(container.url, { clock });
    redis = connect(container.url);
    store = new JobStore({ redis, keys: h.keys, resultTtlSeconds: RESULT_TTL_SECONDS });
  });

  afterEach(async () => {
    await redis.quit();
    await h.close();
  });

  /**
   * The commands the store's connection sent while `work` ran, as Redis saw them (MONITOR), each
   * as its name and its first key: `hgetall job`, `script job` (EVAL or EVALSHA, by its first key).
   */
  async function commandsOf(work: () => Promise<unknown>): Promise<string[]> {
    const addr = /addr=(\S+)/.exec(await redis.client('INFO'))?.[1];
    const monitor = await monitorOf(h.redis);
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === addr) seen.push(args);
    });
    try {
      await work();
      // Redis answers one connection's commands in order: once this one shows, all before it have.
      const end = `end-${newId('job')}`;
      await redis.echo(end);
      await expect.poll(() => seen.some((args) => args[1] === end)).toBe(true);
    } finally {
      monitor.disconnect();
    }
    const named = (key: string | undefined): string => (key?.startsWith(h.keys.job('')) ? 'job' : String(key));
    return seen
      .filter((args) => args[0]?.toLowerCase() !== 'echo')
      .map(([name, ...rest]) => {
        const command = (name as string).toLowerCase();
        const script = command === 'evalsha' || command === 'eval';
        return `${script ? 'script' : command} ${named(script ? rest[2] : rest[0])}`;
      });
  }

  /** A queued job made by the harness's store (the API's, say). */
  async function queuedJob(): Promise<JobRecord> {
    const job = jobRecord(clock, { status: 'queued' });
    await h.store.create(job);
    return job;
  }

  it('steps a job it has just read without reading its fields again (a worker claiming a job it read)', async () => {
    const job = await queuedJob();
    const commands = await commandsOf(async () => {
      expect((await store.get(job.job_id))?.status).toBe('queued');
      expect(await store.transition(job.job_id, 'start', { worker_id: 'w1' }, clock.now())).toEqual({
        outcome: 'ok',
        previous: 'queued',
      });
      expect((await store.transition(job.job_id, 'complete', {}, clock.now())).outcome).toBe('ok');
    });
    expect(commands).toEqual(['hgetall job', 'script job', 'script job']);
    expect((await h.job(job.job_id)).status).toBe('completed');
    // Unread, a job's first step here reads those fields first.
    const other = await queuedJob();
    expect(await commandsOf(() => store.transition(other.job_id, 'start', {}, clock.now()))).toEqual([
      'hmget job',
      'script job',
    ]);
  });

  it('remembers no job read after it ended: it takes no further step', async () => {
    const job = await queuedJob();
    await h.store.transition(job.job_id, 'cancel', {}, clock.now());
    const commands = await commandsOf(async () => {
      await store.get(job.job_id);
      expect((await store.transition(job.job_id, 'cancel', {}, clock.now())).outcome).toBe('refused');
    });
    expect(commands).toEqual(['hgetall job', 'hmget job', 'script job']);
  });

  it("checks the fields it read all the same: a job made again under its id since is stepped by its own ('moved')", async () => {
    const job = jobRecord(clock, { status: 'awaiting_approval' });
    await h.store.create(job);
    await store.get(job.job_id);
    // The job is made again under the same id, for another tenant, after the read.
    await h.redis.del(h.keys.job(job.job_id));
    await h.store.create({ ...job, tenant: OTHER_TENANT });
    const commands = await commandsOf(async () => {
      expect((await store.transition(job.job_id, 'approve', {}, clock.now())).outcome).toBe('ok');
    });
    expect(commands).toEqual(['script job', 'hmget job', 'script job']);
    // The step touched the keys of the job as it is, not of the one read.
    expect(await h.redis.zrange(h.keys.tenantPending(OTHER_TENANT), 0, -1)).toEqual([]);
    expect((await h.job(job.job_id)).status).toBe('queued');
  });
});
