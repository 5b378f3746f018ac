import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { pino } from 'pino';
import { JobConsumer, SHARED_QUEUE, type JobRecord, type RunJob } from '../src/index.js';
import {
  alice,
  approvalIdOf,
  bullConnection,
  carol,
  COMPLETED_RUN,
  connect,
  Harness,
  HIGH_EXECUTE,
  monitorOf,
  silentLogger,
  useRedisContainer,
} from './harness.js';

const container = useRedisContainer();

describe('JobConsumer', () => {
  let h: Harness;
  let consumer: JobConsumer | undefined;
  let spare: Redis;

  beforeEach(() => {
    h = new Harness(container.url);
    spare = connect(container.url);
  });

  afterEach(async () => {
    await consumer?.stop(1_000);
    consumer = undefined;
    spare.disconnect();
    await h.close();
  });

  const start = async (
    concurrency: number,
    run: RunJob,
    workerId = 'w-consumer',
    logger = silentLogger,
  ): Promise<JobConsumer> => {
    const started = new JobConsumer({
      workerId,
      connection: bullConnection(container.url),
      keys: h.keys,
      store: h.store,
      workers: h.workers,
      events: h.events,
      eventStream: h.eventStream,
      clock: h.clock,
      logger,
      concurrency,
      run,
    });
    consumer ??= started;
    await started.start();
    return started;
  };

  /** Submits and approves a job: it is then on the shared queue. */
  const queued = async (): Promise<string> => {
    const view = await h.service.submit(alice, HIGH_EXECUTE);
    await h.service.decide(carol, approvalIdOf(view), 'approve', null);
    return view.job_id;
  };

  const status = async (jobId: string): Promise<string> => (await h.job(jobId)).status;

  /** This harness's queue connections blocked waiting for a job (BullMQ names them after the prefix). */
  const waitingConnections = async (): Promise<number> =>
    ((await spare.client('LIST')) as string)
      .split('\n')
      .filter((line) => line.includes(`name=${h.keys.bullPrefix()}:`) && / flags=\w*b/.test(line)).length;

  /** Redis's clock, in µs: the monitor's timestamps are read on it. */
  const redisNow = async (): Promise<number> => {
    const [seconds, micros] = await spare.time();
    return Number(seconds) * 1e6 + Number(micros);
  };

  it('runs no more jobs at once than its concurrency, and takes the rest as slots free', async () => {
    const releases: (() => void)[] = [];
    await start(2, () => new Promise((resolve) => releases.push(() => resolve(COMPLETED_RUN))));
    const jobs = [await queued(), await queued(), await queued(), await queued()];
    await expect.poll(() => releases.length).toBe(2);
    expect(consumer?.running).toBe(2);
    expect((await Promise.all(jobs.map(status))).sort()).toEqual(['queued', 'queued', 'running', 'running']);

    releases.shift()?.();
    await expect.poll(() => releases.length).toBe(2);
    expect(consumer?.running).toBe(2);
    for (const release of releases.splice(0)) release();
    await expect.poll(() => releases.length).toBe(1);
    releases.shift()?.();
    await expect.poll(async () => (await Promise.all(jobs.map(status))).every((s) => s === 'completed')).toBe(true);
  });

  it('fetches each job of a trickle with two moves to active at most (one per slot, no empty fetch more)', async () => {
    const concurrency = 3;
    await start(concurrency, async () => COMPLETED_RUN);
    // Steady: every slot of both queues waits on its own blocking connection.
    await expect.poll(waitingConnections, { timeout: 10_000 }).toBe(2 * concurrency);
    const monitor = await monitorOf(connect(container.url));
    const movesToActive: number[] = [];
    let lastSeen = 0;
    // moveToActive is BullMQ's script of 11 keys, the queue's wait list first.
    monitor.on('monitor', (time: string, [name = '', , keys, first = '']: string[]) => {
      lastSeen = Number(time) * 1e6;
      if (/^eval(sha)?$/i.test(name) && keys === '11' && first.startsWith(`${h.keys.bullPrefix()}:`))
        movesToActive.push(Number(time) * 1e6);
    });
    try {
      for (let i = 0; i < 6; i += 1) {
        const from = await redisNow();
        const jobId = await queued();
        await h.events.waitForEnd(jobId, 30_000, async () => (await status(jobId)) === 'completed');
        expect(await status(jobId)).toBe('completed');
        await expect.poll(waitingConnections, { timeout: 10_000 }).toBe(2 * concurrency);
        const to = await redisNow();
        // Everything up to `to` has reached the monitor once a later command has.
        await spare.ping();
        await expect.poll(() => lastSeen).toBeGreaterThanOrEqual(to);
        // A worker of concurrency N fetches again as soon as it has a job: three per job.
        expect(movesToActive.filter((at) => at >= from && at <= to).length, `job ${i}`).toBeLessThanOrEqual(2);
      }
    } finally {
      monitor.disconnect();
    }
  });

  it('starts a job and reads it in one step, from what its queue entry carries', async () => {
    const jobId = await queued();
    const seen: JobRecord[] = [];
    const { commands } = await h.commandsDuring(async () => {
      await start(1, async (job) => {
        seen.push(job);
        return COMPLETED_RUN;
      });
      await expect.poll(async () => (await spare.hget(h.keys.job(jobId), 'status')) ?? '').toBe('completed');
    });
    // The job, as the run was given it: started, here, on its first attempt.
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ job_id: jobId, status: 'running', worker_id: 'w-consumer', attempts: 1 });
    expect(seen[0]?.params).toMatchObject(HIGH_EXECUTE.params);
    expect(commands.filter(([name, key]) => name === 'hgetall' && key === h.keys.job(jobId))).toEqual([]);
  });

  it('does not start a job from the queue entry of an earlier attempt; its current entry starts it', async () => {
    const jobId = await queued();
    // Meanwhile the job ran elsewhere and went back to its queue (a retry): its current entry is `-1`.
    await h.redis.hset(h.keys.job(jobId), 'attempts', '1');
    const seen: JobRecord[] = [];
    await start(1, async (job) => {
      seen.push(job);
      return COMPLETED_RUN;
    });
    const shared = new Queue(SHARED_QUEUE, { connection: bullConnection(container.url), prefix: h.keys.bullPrefix() });
    try {
      // The earlier attempt's entry is taken and dropped: the job stays queued.
      await expect.poll(async () => (await shared.getJob(`${jobId}-0`)) === undefined).toBe(true);
      expect(await status(jobId)).toBe('queued');
      expect(seen).toEqual([]);
      await h.dispatcher.dispatch(await h.job(jobId));
      await expect.poll(() => status(jobId)).toBe('completed');
      expect(seen.map((job) => job.attempts)).toEqual([2]);
    } finally {
      await shared.close();
    }
  });

  it('reads, then starts, a job whose queue entry carries only its id (put there by an older version)', async () => {
    const jobId = await queued();
    const shared = new Queue(SHARED_QUEUE, { connection: bullConnection(container.url), prefix: h.keys.bullPrefix() });
    try {
      const entry = await shared.getJob(`${jobId}-0`);
      await entry?.updateData({ job_id: jobId });
      const seen: JobRecord[] = [];
      await start(1, async (job) => {
        seen.push(job);
        return COMPLETED_RUN;
      });
      await expect.poll(() => status(jobId)).toBe('completed');
      expect(seen[0]).toMatchObject({ job_id: jobId, status: 'running', worker_id: 'w-consumer', attempts: 1 });
      expect(seen[0]?.params).toMatchObject(HIGH_EXECUTE.params);
    } finally {
      await shared.close();
    }
  });

  it("streams a job's output as it is written, its last piece appended by the job's end step", async () => {
    const eventTypes = async (jobId: string): Promise<string[]> =>
      (await h.eventStream.readJob(jobId, undefined, 100)).map((event) => event.type);
    let jobId = '';
    await start(1, async (job, _signal, output) => {
      output('stdout', 'first\n');
      // Live: it is there while the job still runs.
      await expect.poll(() => eventTypes(job.job_id)).toContain('stdout');
      output('stdout', 'last');
      output('stderr', 'warning');
      return COMPLETED_RUN;
    });
    const monitor = await monitorOf(connect(container.url));
    let appends = 0;
    // The append-output script: two keys, the job's first.
    monitor.on('monitor', (_time: string, [name = '', , keys, first = '']: string[]) => {
      if (/^eval(sha)?$/i.test(name) && keys === '2' && first === h.keys.job(jobId)) appends += 1;
    });
    try {
      jobId = await queued();
      await h.events.waitForEnd(jobId, 30_000, async () => (await status(jobId)) === 'completed');
      const events = await h.eventStream.readJob(jobId, undefined, 100);
      expect(events.filter((event) => event.type !== 'status').map((event) => [event.type, event.data])).toEqual([
        ['stdout', JSON.stringify({ text: 'first\n' })],
        ['stdout', JSON.stringify({ text: 'last' })],
        ['stderr', JSON.stringify({ text: 'warning' })],
      ]);
      expect(events.at(-1)).toMatchObject({ type: 'status', ended: true });
      await spare.ping();
      expect(appends).toBe(1);
    } finally {
      monitor.disconnect();
    }
  });

  it("logs each job's start and end, the end with its outcome and the run's figures, every line naming the job and worker", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    await start(1, async () => ({ ...COMPLETED_RUN, sandbox_id: 'sandbox-1' }), 'w-logs', logger);
    const jobId = await queued();
    await expect
      .poll(() => lines.filter((line) => line.job_id === jobId).map((line) => line.msg))
      .toEqual(['job started', 'job finished']);
    expect(lines.find((line) => line.msg === 'job finished')).toMatchObject({
      job_id: jobId,
      worker_id: 'w-logs',
      tenant: 'acme',
      outcome: 'ok',
      success: true,
      sandbox_id: 'sandbox-1',
      exit_code: 0,
      execution_time: 0.01,
    });
    expect(lines.find((line) => line.msg === 'worker taking jobs')).toMatchObject({ worker_id: 'w-logs' });
  });

  it('puts a job that reaches it while it stops back on the queue, unclaimed, for another worker', async () => {
    const releases: (() => void)[] = [];
    const stopping = await start(
      2,
      () => new Promise((resolve) => releases.push(() => resolve(COMPLETED_RUN))),
      'w-stopping',
    );
    const first = await queued();
    await expect.poll(() => releases.length).toBe(1);
    // Its other slots are already waiting for a job when the stop begins.
    await expect.poll(waitingConnections, { timeout: 10_000 }).toBe(3);
    const stopped = stopping.stop(30_000);
    const second = await queued();
    const shared = new Queue(SHARED_QUEUE, { connection: bullConnection(container.url), prefix: h.keys.bullPrefix() });
    let other: JobConsumer | undefined;
    try {
      // The stopping worker took it from the queue and gave it back.
      await expect
        .poll(async () => (await shared.getJob(`${second}-0`))?.attemptsStarted ?? 0, { timeout: 10_000 })
        .toBeGreaterThan(0);
      expect(await status(second)).toBe('queued');
      other = await start(1, async () => COMPLETED_RUN, 'w-other');
      await expect.poll(() => status(second), { timeout: 10_000 }).toBe('completed');
      expect((await h.job(second)).worker_id).toBe('w-other');
      releases.shift()?.();
      await stopped;
      expect(await status(first)).toBe('completed');
    } finally {
      for (const release of releases.splice(0)) release();
      await stopped;
      consumer = undefined;
      await other?.stop(1_000);
      await shared.close();
    }
  });
});
