import { ExecutionResult, ManualClock, systemClock } from '@harombe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Housekeeper, SHARED_QUEUE, workerQueueName } from '../src/index.js';
import {
  alice,
  approvalIdOf,
  carol,
  expectHarombeError,
  Harness,
  HIGH_EXECUTE,
  jobRecord,
  LOST_AFTER_MS,
  REDISPATCH_AFTER_MS,
  RESULT_TTL_SECONDS,
  silentLogger,
  useRedisContainer,
} from './harness.js';

const container = useRedisContainer();

describe('Housekeeper (ManualClock)', () => {
  let h: Harness;
  let clock: ManualClock;
  const extra: Harness[] = [];

  beforeEach(() => {
    clock = new ManualClock();
    h = new Harness(container.url, { clock });
  });

  afterEach(async () => {
    await Promise.all([h, ...extra.splice(0)].map((harness) => harness.close()));
  });

  /** A HIGH job, approved and started on `workerId`: running, attempts 1. */
  async function runningJob(workerId: string, maxAttempts = 1): Promise<string> {
    const view = await h.service.submit(alice, { ...HIGH_EXECUTE, max_attempts: maxAttempts });
    await h.service.decide(carol, approvalIdOf(view), 'approve', null);
    const started = await h.store.transition(
      view.job_id,
      'start',
      { worker_id: workerId, started_at: clock.now() },
      clock.now(),
    );
    expect(started.outcome).toBe('ok');
    return view.job_id;
  }

  describe('approval expiry', () => {
    it('expires an approval past its deadline, not before', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      clock.advance(60_000 - 1);
      expect(await h.housekeeper.tick()).toMatchObject({ expired: 0, lost: 0, redispatched: 0 });
      expect((await h.job(view.job_id)).status).toBe('awaiting_approval');

      clock.advance(1);
      expect((await h.housekeeper.tick()).expired).toBe(1);
      const stored = await h.job(view.job_id);
      expect(stored.status).toBe('expired');
      expect(stored.error?.code).toBe('ApprovalTimeout');
      expect(stored.approval).toMatchObject({
        status: 'expired',
        channel: 'timeout',
        decided_by: null,
        decided_at: new Date(clock.now()).toISOString(),
      });
      expect(stored.result).toMatchObject({ success: false, error: 'ApprovalTimeout' });
      expect(ExecutionResult.safeParse(stored.result).success).toBe(true);
      expect(stored.finished_at).toBe(clock.now());
      expect(await h.ttl(h.keys.job(view.job_id))).toBeGreaterThan(RESULT_TTL_SECONDS - 60);
      expect(await h.service.pendingApprovals(carol, 10)).toEqual([]);
      expect(await h.store.nextApprovalDeadline()).toBeUndefined();
      expect(await h.queueTotal()).toBe(0);
      // Once only.
      expect((await h.housekeeper.tick()).expired).toBe(0);
    });

    it("uses the matched rule's timeout (CRITICAL: 30 s)", async () => {
      const critical = await h.service.submit(alice, {
        tool: 'code_execute',
        params: { language: 'python', code: 'print(1)', network_enabled: true },
      });
      const high = await h.service.submit(alice, HIGH_EXECUTE);
      expect(critical.risk).toBe('CRITICAL');
      expect(await h.store.nextApprovalDeadline()).toBe(clock.now() + 30_000);
      clock.advance(30_000);
      expect((await h.housekeeper.tick()).expired).toBe(1);
      expect((await h.job(critical.job_id)).status).toBe('expired');
      expect((await h.job(high.job_id)).status).toBe('awaiting_approval');
      expect(await h.store.nextApprovalDeadline()).toBe(clock.now() + 30_000);
    });

    it('refuses a decision made after the deadline before the housekeeper ran, and the job ends expired', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      clock.advance(60_001);
      const error = await expectHarombeError(
        h.service.decide(carol, approvalIdOf(view), 'approve', null),
        'AlreadyDecided',
      );
      expect(error.details).toMatchObject({ status: 'expired', approval: { status: 'expired', channel: 'timeout' } });
      const stored = await h.job(view.job_id);
      expect(stored.status).toBe('expired');
      expect(stored.error?.code).toBe('ApprovalTimeout');
      expect(await h.queueTotal()).toBe(0);
      expect((await h.housekeeper.tick()).expired).toBe(0);
      expect((await h.job(view.job_id)).status).toBe('expired');
    });

    it('never expires a job that was decided', async () => {
      const approved = await h.service.submit(alice, HIGH_EXECUTE);
      const denied = await h.service.submit(alice, HIGH_EXECUTE);
      clock.advance(59_000);
      await h.service.decide(carol, approvalIdOf(approved), 'approve', null);
      await h.service.decide(carol, approvalIdOf(denied), 'deny', null);
      clock.advance(10 * 60_000);
      expect((await h.housekeeper.tick()).expired).toBe(0);
      expect((await h.job(approved.job_id)).status).toBe('queued');
      expect((await h.job(approved.job_id)).approval?.status).toBe('approved');
      expect((await h.job(denied.job_id)).status).toBe('denied');
      expect(await h.service.expire(approved.job_id)).toBe(false);
    });

    it('expires after a restart of the services: the deadline lives in Redis', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      await h.close();
      // New instances over the same Redis and prefix; the clock moves on.
      h = new Harness(container.url, { prefix: h.prefix, clock });
      clock.advance(61_000);
      expect((await h.housekeeper.tick()).expired).toBe(1);
      const after = await h.service.view(alice, view.job_id);
      expect(after.status).toBe('expired');
      expect(after.approval).toMatchObject({ status: 'expired', channel: 'timeout' });
    });

    it('lets several housekeepers run at once: each approval expires once', async () => {
      const views = await Promise.all([1, 2, 3, 4, 5].map(() => h.service.submit(alice, HIGH_EXECUTE)));
      const second = new Harness(container.url, { prefix: h.prefix, clock });
      extra.push(second);
      clock.advance(60_000);
      const [a, b] = await Promise.all([h.housekeeper.tick(), second.housekeeper.tick()]);
      expect(a.expired + b.expired).toBe(5);
      for (const view of views) expect((await h.job(view.job_id)).status).toBe('expired');
    });
  });

  describe('lost workers', () => {
    it('ends the running job of a silent worker WorkerLost and forgets the worker', async () => {
      await h.heartbeat('w1');
      const jobId = await runningJob('w1');
      clock.advance(LOST_AFTER_MS - 1);
      expect((await h.housekeeper.tick()).lost).toBe(0);
      expect((await h.job(jobId)).status).toBe('running');

      clock.advance(2);
      expect((await h.housekeeper.tick()).lost).toBe(1);
      const stored = await h.job(jobId);
      expect(stored.status).toBe('failed');
      expect(stored.error?.code).toBe('WorkerLost');
      expect(stored.result).toMatchObject({ success: false, error: 'WorkerLost' });
      expect(await h.store.countIndex('running')).toBe(0);
      expect(await h.workers.isAlive('w1', clock.now())).toBe(false);
      expect(await h.redis.zscore(h.keys.workers(), 'w1')).toBeNull();
      expect(await h.redis.exists(h.keys.worker('w1'))).toBe(0);
    });

    it('runs the job again while attempts remain, with a new BullMQ id, then ends it WorkerLost', async () => {
      await h.heartbeat('w1');
      const jobId = await runningJob('w1', 2);
      expect(await h.queuedBullIds()).toEqual([`${jobId}-0`]);
      clock.advance(LOST_AFTER_MS + 1);
      expect((await h.housekeeper.tick()).lost).toBe(1);

      const retried = await h.job(jobId);
      expect(retried).toMatchObject({ status: 'queued', attempts: 1, max_attempts: 2, worker_id: null, error: null });
      expect((await h.dispatcher.queue(SHARED_QUEUE).getJob(`${jobId}-1`))?.data).toMatchObject({
        job_id: jobId,
        claim: { attempts: 1 },
      });
      expect(await h.dispatcher.isOnQueue(retried)).toBe(true);
      expect(await h.store.countIndex('queued')).toBe(1);
      expect(await h.store.countIndex('running')).toBe(0);

      // Second attempt on another worker, which is lost too: no attempts left.
      await h.heartbeat('w2');
      expect((await h.store.transition(jobId, 'start', { worker_id: 'w2' }, clock.now())).outcome).toBe('ok');
      clock.advance(LOST_AFTER_MS + 1);
      expect((await h.housekeeper.tick()).lost).toBe(1);
      const ended = await h.job(jobId);
      expect(ended).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'WorkerLost' } });
    });

    it('tells its observer of each job a lost worker leaves: run again, then ended', async () => {
      const told: [string, string, string][] = [];
      const housekeeper = new Housekeeper({
        store: h.store,
        service: h.service,
        dispatcher: h.dispatcher,
        workers: h.workers,
        clock,
        logger: silentLogger,
        observer: { workerLost: (job, outcome) => told.push([job.job_id, outcome, job.status]) },
      });
      await h.heartbeat('w1');
      const jobId = await runningJob('w1', 2);
      clock.advance(LOST_AFTER_MS + 1);
      await housekeeper.tick();
      expect(told).toEqual([[jobId, 'retried', 'running']]);

      await h.heartbeat('w2');
      expect((await h.store.transition(jobId, 'start', { worker_id: 'w2' }, clock.now())).outcome).toBe('ok');
      clock.advance(LOST_AFTER_MS + 1);
      await housekeeper.tick();
      // The ended job as stored: failed, WorkerLost.
      expect(told[1]).toEqual([jobId, 'failed', 'failed']);
      expect(told).toHaveLength(2);
    });

    it('leaves the jobs of live workers alone', async () => {
      await h.heartbeat('w1');
      await h.heartbeat('w2');
      const onLost = await runningJob('w1');
      const onLive = await runningJob('w2');
      clock.advance(LOST_AFTER_MS + 1);
      await h.heartbeat('w2');
      expect((await h.housekeeper.tick()).lost).toBe(1);
      expect((await h.job(onLost)).status).toBe('failed');
      expect(await h.job(onLive)).toMatchObject({ status: 'running', worker_id: 'w2', error: null });
      expect((await h.workers.alive(clock.now())).map((w) => w.worker_id)).toEqual(['w2']);
      // Keeps beating: still untouched much later.
      for (let i = 0; i < 5; i++) {
        clock.advance(LOST_AFTER_MS / 2);
        await h.heartbeat('w2');
        expect((await h.housekeeper.tick()).lost).toBe(0);
      }
      expect((await h.job(onLive)).status).toBe('running');
    });

    it('fails a job for a sandbox whose worker was lost (SandboxLost) when it is dispatched', async () => {
      await h.heartbeat('w1');
      const sandboxId = await h.putSandbox('w1');
      clock.advance(LOST_AFTER_MS + 1);
      await h.housekeeper.tick();
      const view = await h.service.submit(alice, { tool: 'code_destroy_sandbox', params: { sandbox_id: sandboxId } });
      const stored = await h.job(view.job_id);
      expect(stored.status).toBe('failed');
      expect(stored.error?.code).toBe('SandboxLost');
      expect(await h.queueTotal(workerQueueName('w1'))).toBe(0);
    });

    it('ends a job queued for a sandbox whose worker is lost before taking it', async () => {
      await h.heartbeat('w1');
      const sandboxId = await h.putSandbox('w1');
      const view = await h.service.submit(alice, { tool: 'code_destroy_sandbox', params: { sandbox_id: sandboxId } });
      expect((await h.job(view.job_id)).status).toBe('queued');
      expect(await h.queuedBullIds(workerQueueName('w1'))).toEqual([`${view.job_id}-0`]);

      // w1 dies without taking the job; time passes well beyond every housekeeping threshold.
      clock.advance(Math.max(LOST_AFTER_MS, REDISPATCH_AFTER_MS) + 1);
      await h.housekeeper.tick();
      clock.advance(REDISPATCH_AFTER_MS);
      await h.housekeeper.tick();

      const stored = await h.job(view.job_id);
      expect(stored.status).toBe('failed');
      expect(stored.error?.code).toBe('SandboxLost');
    });
  });

  describe('redispatch', () => {
    it('puts a queued job that never reached its queue back on it, once', async () => {
      const job = jobRecord(clock, { status: 'queued' });
      await h.store.create(job);
      expect(await h.queueTotal()).toBe(0);
      clock.advance(REDISPATCH_AFTER_MS - 1);
      expect((await h.housekeeper.tick()).redispatched).toBe(0);
      clock.advance(2);
      expect((await h.housekeeper.tick()).redispatched).toBe(1);
      expect(await h.queuedBullIds()).toEqual([`${job.job_id}-0`]);
      clock.advance(REDISPATCH_AFTER_MS);
      expect((await h.housekeeper.tick()).redispatched).toBe(0);
      expect(await h.queuedBullIds()).toEqual([`${job.job_id}-0`]);
    });

    it('does not redispatch a job that is on its queue, nor one that ended', async () => {
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.decide(carol, approvalIdOf(view), 'approve', null);
      const cancelled = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.decide(carol, approvalIdOf(cancelled), 'approve', null);
      await h.service.cancel(alice, cancelled.job_id);
      clock.advance(REDISPATCH_AFTER_MS + 1);
      expect((await h.housekeeper.tick()).redispatched).toBe(0);
      expect(await h.queuedBullIds()).toEqual([`${cancelled.job_id}-0`, `${view.job_id}-0`].sort());
    });
  });

  describe('worker registry', () => {
    it('tracks heartbeats, lost workers and leaving', async () => {
      await h.heartbeat('w1');
      clock.advance(5_000);
      await h.heartbeat('w2');
      expect((await h.workers.alive(clock.now())).map((w) => w.worker_id).sort()).toEqual(['w1', 'w2']);
      expect(await h.workers.lost(clock.now())).toEqual([]);
      clock.advance(LOST_AFTER_MS - 5_000 + 1);
      expect(await h.workers.isAlive('w1', clock.now())).toBe(false);
      expect(await h.workers.isAlive('w2', clock.now())).toBe(true);
      expect(await h.workers.lost(clock.now())).toEqual(['w1']);
      expect((await h.workers.alive(clock.now())).map((w) => w.worker_id)).toEqual(['w2']);
      await h.workers.leave('w2');
      expect(await h.workers.isAlive('w2', clock.now())).toBe(false);
      expect(await h.workers.alive(clock.now())).toEqual([]);
      expect(await h.redis.pttl(h.keys.worker('w1'))).toBeGreaterThan(0);
    });
  });
});

describe('Housekeeper on real time', () => {
  let h: Harness;

  afterEach(async () => {
    await h?.close();
  });

  it('expires an approval with a 1 s rule timeout through its own timer', { timeout: 30_000 }, async () => {
    h = new Harness(container.url, {
      clock: systemClock,
      policy: { rules: [{ tools: ['code_execute'], risk: 'HIGH', timeout: 1, description: 'Short approval window' }] },
      housekeeperIntervalMs: 100,
    });
    h.housekeeper.start();
    const view = await h.service.submit(alice, HIGH_EXECUTE);
    expect(view.status).toBe('awaiting_approval');
    expect(view.risk_reason).toBe('Short approval window');
    // Woken by the expiry's job event; 25 s is only a bound that this test cannot reach.
    const ended = await h.service.wait(alice, view.job_id, 25);
    expect(ended.status).toBe('expired');
    expect(ended.error?.code).toBe('ApprovalTimeout');
    expect(ended.approval).toMatchObject({ status: 'expired', channel: 'timeout' });
    await expectHarombeError(h.service.decide(carol, approvalIdOf(view), 'approve', null), 'AlreadyDecided');
  });

  it('wakes at the next approval deadline, not a whole interval later', { timeout: 30_000 }, async () => {
    h = new Harness(container.url, {
      clock: systemClock,
      policy: { rules: [{ tools: ['code_execute'], risk: 'HIGH', timeout: 1, description: 'Short approval window' }] },
      housekeeperIntervalMs: 600_000,
    });
    const view = await h.service.submit(alice, HIGH_EXECUTE);
    // Its first sweep finds the approval not yet due; the next comes at the deadline, not in ten minutes.
    h.housekeeper.start();
    const ended = await h.service.wait(alice, view.job_id, 25);
    expect(ended.status).toBe('expired');
  });
});
