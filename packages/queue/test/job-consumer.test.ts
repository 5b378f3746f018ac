import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { JobConsumer, type RunJob } from '../src/index.js';
import {
  alice,
  approvalIdOf,
  bullConnection,
  carol,
  connect,
  Harness,
  HIGH_EXECUTE,
  silentLogger,
  useRedisContainer,
} from './harness.js';

const container = useRedisContainer();

const done = {
  success: true,
  sandbox_id: null,
  stdout: '1\n',
  stderr: '',
  exit_code: 0,
  execution_time: 0.01,
  error: null,
};

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

  const start = async (concurrency: number, run: RunJob): Promise<JobConsumer> => {
    consumer = new JobConsumer({
      workerId: 'w-consumer',
      connection: bullConnection(container.url),
      keys: h.keys,
      store: h.store,
      workers: h.workers,
      events: h.events,
      clock: h.clock,
      logger: silentLogger,
      concurrency,
      run,
    });
    await consumer.start();
    return consumer;
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
      .filter((line) => line.includes(`name=${h.keys.bullPrefix()}:`) && line.includes('cmd=bzpopmin')).length;

  it('runs no more jobs at once than its concurrency, and takes the rest as slots free', async () => {
    const releases: (() => void)[] = [];
    await start(2, () => new Promise((resolve) => releases.push(() => resolve(done))));
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
    await start(concurrency, async () => done);
    // Steady: every slot of both queues waits on its own blocking connection.
    await expect.poll(waitingConnections, { timeout: 10_000 }).toBe(2 * concurrency);
    const monitor = await connect(container.url).monitor();
    const movesToActive: string[][] = [];
    // moveToActive is BullMQ's script of 11 keys, the queue's wait list first.
    monitor.on('monitor', (_time: string, [name = '', , keys, first = '']: string[]) => {
      if (/^eval(sha)?$/i.test(name) && keys === '11' && first.startsWith(`${h.keys.bullPrefix()}:`))
        movesToActive.push([first]);
    });
    try {
      const jobs = 6;
      for (let i = 0; i < jobs; i += 1) {
        const jobId = await queued();
        await h.events.waitForEnd(jobId, 30_000, async () => (await status(jobId)) === 'completed');
        expect(await status(jobId)).toBe('completed');
        await expect.poll(waitingConnections, { timeout: 10_000 }).toBe(2 * concurrency);
      }
      // A worker of concurrency N fetches again as soon as it has a job: three per job.
      expect(movesToActive.length).toBeLessThanOrEqual(2 * jobs);
    } finally {
      monitor.disconnect();
    }
  });
});
