import { ManualClock, type JobView } from '@harombe/core';
import { describe, expect, it } from 'vitest';
import { SHARED_QUEUE, type JobRecord } from '../src/index.js';
import { alice, approvalIdOf, carol, Harness, HIGH_EXECUTE, RESULT_TTL_SECONDS, useRedisContainer } from './harness.js';

const container = useRedisContainer();

describe('a Redis restart', () => {
  it('keeps every job (AOF) and the same clients carry on', { timeout: 90_000 }, async () => {
    const clock = new ManualClock();
    const h = new Harness(container.url, { clock });
    // BullMQ re-emits its connection's errors on the queue; the restart causes some on purpose.
    h.dispatcher.queue(SHARED_QUEUE).on('error', () => {});
    try {
      const pending = await h.service.submit(alice, HIGH_EXECUTE);
      const expiring = await h.service.submit(alice, HIGH_EXECUTE);
      const queued = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.decide(carol, approvalIdOf(queued), 'approve', null);
      const denied = await h.service.submit(alice, { ...HIGH_EXECUTE, idempotency_key: 'kept-key' });
      await h.service.decide(carol, approvalIdOf(denied), 'deny', null);
      const ids = [pending.job_id, expiring.job_id, queued.job_id, denied.job_id];
      const before = await h.store.getMany(ids);
      // Subscribed before the restart: ioredis must resubscribe after it.
      await h.events.start();

      const runId = async (): Promise<string | undefined> => /run_id:(\w+)/.exec(await h.redis.info('server'))?.[1];
      const runBefore = await runId();

      await container.restart();

      // A new server process, not the old one: what follows was reloaded from the append-only file.
      expect(await runId()).not.toBe(runBefore);

      expect(await h.store.getMany(ids)).toEqual(before);
      expect(await h.ttl(h.keys.job(denied.job_id))).toBeGreaterThan(RESULT_TTL_SECONDS - 120);
      expect(await h.ttl(h.keys.job(pending.job_id))).toBe(-1);
      expect(await h.queuedBullIds()).toEqual([`${queued.job_id}-0`]);
      expect((await h.service.submit(alice, { ...HIGH_EXECUTE, idempotency_key: 'kept-key' })).job_id).toBe(
        denied.job_id,
      );
      expect((await h.service.pendingApprovals(carol, 10)).map((j) => j.job_id).sort()).toEqual(
        [pending.job_id, expiring.job_id].sort(),
      );

      // Transitions after the restart, on the same ioredis client (its script cache is gone: EVALSHA falls back to EVAL).
      const decision = await h.service.decide(carol, approvalIdOf(pending), 'approve', null);
      expect(decision.status).toBe('queued');
      expect((await h.queuedBullIds()).sort()).toEqual([`${pending.job_id}-0`, `${queued.job_id}-0`].sort());
      expect((await h.store.transition(queued.job_id, 'start', { worker_id: 'w1' }, clock.now())).outcome).toBe('ok');

      // Expiry still works from the deadlines kept in Redis.
      clock.advance(60_000);
      await h.heartbeat('w1');
      expect(await h.housekeeper.tick()).toMatchObject({ expired: 1, lost: 0, redispatched: 0 });
      expect((await h.job(expiring.job_id)).status).toBe('expired');

      // The subscriber came back: a wait is woken by the job's end.
      const inPlace = h.nextWaitInPlace();
      const waiting = h.service.wait(alice, queued.job_id, 60);
      await inPlace;
      const finished = await h.store.transition(queued.job_id, 'complete', { result: { success: true } }, clock.now());
      expect(finished.outcome).toBe('ok');
      // A wait of 60 s that only the job event can end within the 20 s bound.
      let bound: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        waiting,
        new Promise<'not woken'>((resolve) => (bound = setTimeout(() => resolve('not woken'), 20_000))),
      ]);
      clearTimeout(bound);
      expect(ended).not.toBe('not woken');
      expect((ended as JobView).status).toBe('completed');
      expect(((await h.store.get(queued.job_id)) as JobRecord).attempts).toBe(1);
    } finally {
      await h.close();
    }
  });
});
