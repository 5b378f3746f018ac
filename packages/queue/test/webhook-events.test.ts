import { describe, expect, it } from 'vitest';
import { alice, approvalIdOf, carol, Harness, HIGH_EXECUTE, jobRecord, useRedisContainer } from './harness.js';

const container = useRedisContainer();

/** The webhook events recorded so far: `<type> <subject>` (their time left out). */
async function events(h: Harness): Promise<string[]> {
  const members = await h.redis.zrange(h.keys.webhookEvents(), 0, -1);
  return members.map((member) => member.split(' ').slice(0, 2).join(' ')).sort();
}

describe('webhook events, recorded by the job store’s steps', () => {
  it('records job.awaiting_approval when a job is made waiting, and job.finished with every end, once', async () => {
    const h = new Harness(container.url);
    try {
      const waiting = await h.service.submit(alice, HIGH_EXECUTE);
      expect(await events(h)).toEqual([`job.awaiting_approval ${waiting.job_id}`]);

      await h.service.decide(carol, approvalIdOf(waiting), 'approve', null);
      // Approval and start are no end: nothing new.
      expect((await h.store.transition(waiting.job_id, 'start', { worker_id: 'w1' }, h.clock.now())).outcome).toBe(
        'ok',
      );
      expect(await events(h)).toEqual([`job.awaiting_approval ${waiting.job_id}`]);

      await h.store.transition(waiting.job_id, 'complete', { result: { success: true } }, h.clock.now());
      const denied = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.decide(carol, approvalIdOf(denied), 'deny', 'no');
      expect(await events(h)).toEqual(
        [
          `job.awaiting_approval ${waiting.job_id}`,
          `job.finished ${waiting.job_id}`,
          `job.awaiting_approval ${denied.job_id}`,
          `job.finished ${denied.job_id}`,
        ].sort(),
      );

      // A refused step (a second end) records nothing, and the event time is the step's.
      const before = await h.redis.zrange(h.keys.webhookEvents(), 0, -1, 'WITHSCORES');
      expect((await h.store.transition(denied.job_id, 'cancel', {}, h.clock.now() + 5)).outcome).toBe('refused');
      expect(await h.redis.zrange(h.keys.webhookEvents(), 0, -1, 'WITHSCORES')).toEqual(before);
      const [member, score] = await h.redis.zrange(h.keys.webhookEvents(), 0, 0, 'WITHSCORES');
      expect(member?.split(' ')[2]).toBe(score);
    } finally {
      await h.close();
    }
  });

  it('records nothing for a job made queued, nor for a retry after a lost worker', async () => {
    const h = new Harness(container.url);
    try {
      const job = jobRecord(h.clock, { max_attempts: 2 });
      await h.store.create(job);
      await h.store.transition(job.job_id, 'start', { worker_id: 'w1' }, h.clock.now());
      await h.store.transition(job.job_id, 'retry', { worker_id: null }, h.clock.now());
      expect(await events(h)).toEqual([]);
      await h.store.transition(job.job_id, 'cancel', {}, h.clock.now());
      expect(await events(h)).toEqual([`job.finished ${job.job_id}`]);
    } finally {
      await h.close();
    }
  });
});
