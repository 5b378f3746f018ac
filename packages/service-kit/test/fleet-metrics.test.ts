import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { hostname } from 'node:os';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FleetMetrics } from '../src/index.js';
import { samples, sampleValue } from './metric-samples.js';
import { alice, bob, PipelineFixture, silentLogger } from './pipeline-fixture.js';

let container: RedisContainer;
beforeAll(async () => {
  container = await startRedis();
});
afterAll(async () => {
  await container?.stop();
});

describe('FleetMetrics', () => {
  let f: PipelineFixture;
  let fleet: FleetMetrics;

  const start = (options: { expiringWithinSeconds?: number; riskBreakdownLimit?: number } = {}) => {
    const { keys, store, workers, clock } = f.pipeline;
    fleet = new FleetMetrics({
      registry: f.registry,
      redis: f.redis.commands,
      keys,
      store,
      workers,
      clock,
      logger: silentLogger,
      ...options,
    });
  };
  const value = (name: string, labels: Record<string, string> = {}) => sampleValue(f.registry, name, labels);
  const heartbeat = (workerId: string) =>
    f.pipeline.workers.heartbeat({
      worker_id: workerId,
      hostname: hostname(),
      last_seen: f.clock.now(),
      concurrency: 2,
      running: 0,
      sandboxes: 0,
    });

  beforeEach(() => {
    f = new PipelineFixture(container.url);
  });
  afterEach(async () => {
    await fleet?.close();
    await f.close();
  });

  it('reports queue depth per queue and state, jobs awaiting approval, and the oldest queued job', async () => {
    start();
    const jobs = await Promise.all([1, 2, 3, 4].map((i) => f.submitCode(`print(${i})`)));
    f.clock.advance(5_000);
    for (const job of jobs.slice(0, 3)) await f.pipeline.jobs.decide(bob, job.approval!.approval_id, 'approve', null);
    f.clock.advance(10_000);

    expect(await value('harombe_queue_depth', { queue: 'exec', state: 'waiting' })).toBe(3);
    for (const state of ['active', 'delayed', 'prioritized', 'failed'])
      expect(await value('harombe_queue_depth', { queue: 'exec', state })).toBe(0);
    expect(await value('harombe_queue_depth', { queue: 'approvals', state: 'awaiting_approval' })).toBe(1);
    // Queued 10 s ago (when approved), not when submitted.
    expect(await value('harombe_oldest_waiting_seconds', { queue: 'all' })).toBe(10);
  });

  it("adds each live worker's own queue, and drops it when the worker leaves", async () => {
    start();
    expect(await value('harombe_workers_up')).toBe(0);
    await heartbeat('w-1');
    await heartbeat('w-2');
    expect(await value('harombe_workers_up')).toBe(2);
    expect(await value('harombe_queue_depth', { queue: 'worker-w-1', state: 'waiting' })).toBe(0);
    await f.pipeline.dispatcher.queue('worker-w-2').add('job', { job_id: 'job-x' });
    expect(await value('harombe_queue_depth', { queue: 'worker-w-2', state: 'waiting' })).toBe(1);

    await f.pipeline.workers.leave('w-1');
    expect(await value('harombe_workers_up')).toBe(1);
    const queues = new Set((await samples(f.registry, 'harombe_queue_depth')).map((sample) => sample.labels.queue));
    expect(queues).toEqual(new Set(['exec', 'worker-w-2', 'approvals']));
  });

  it('reports pending approvals by risk and those close to their deadline', async () => {
    start({ expiringWithinSeconds: 100 });
    // HIGH (code execution): 60 s to decide; MEDIUM (reading a file): 120 s.
    await f.submitCode();
    await f.submitCode();
    await f.pipeline.jobs.submit(alice, {
      tool: 'code_read_file',
      params: { sandbox_id: 'sandbox-0123456789abcdef', file_path: 'out.txt' },
    });
    expect(await value('harombe_approvals_pending', { risk: 'HIGH' })).toBe(2);
    expect(await value('harombe_approvals_pending', { risk: 'MEDIUM' })).toBe(1);
    expect(await value('harombe_approvals_pending', { risk: 'LOW' })).toBe(0);
    expect(await value('harombe_approvals_pending', { risk: 'unclassified' })).toBe(0);
    // Deadlines 60 s and 120 s away: only the HIGH ones fall within 100 s.
    expect(await value('harombe_approvals_expiring', { within_seconds: '100' })).toBe(2);
    f.clock.advance(30_000);
    expect(await value('harombe_approvals_expiring', { within_seconds: '100' })).toBe(3);
  });

  it('counts approvals past the risk breakdown limit as unclassified', async () => {
    start({ riskBreakdownLimit: 1 });
    await f.submitCode();
    await f.pipeline.jobs.submit(alice, {
      tool: 'code_read_file',
      params: { sandbox_id: 'sandbox-0123456789abcdef', file_path: 'out.txt' },
    });
    // The earliest deadline (HIGH) is looked up; the other is only counted.
    expect(await value('harombe_approvals_pending', { risk: 'HIGH' })).toBe(1);
    expect(await value('harombe_approvals_pending', { risk: 'MEDIUM' })).toBe(0);
    expect(await value('harombe_approvals_pending', { risk: 'unclassified' })).toBe(1);
  });

  it('leaves a metric without series, rather than stale or failing the scrape, when Redis cannot be read', async () => {
    start();
    await heartbeat('w-1');
    expect(await value('harombe_workers_up')).toBe(1);
    f.redis.commands.disconnect();
    await expect(f.registry.metrics()).resolves.toContain('harombe_workers_up');
    expect(await value('harombe_workers_up')).toBeNaN();
    expect(await samples(f.registry, 'harombe_queue_depth')).toEqual([]);
    expect(await samples(f.registry, 'harombe_approvals_pending')).toEqual([]);
  });
});
