import type { JobStatus } from '@harombe/core';
import { describe, expect, it } from 'vitest';
import type { JobEventFlags } from '../src/index.js';
import {
  alice,
  approvalIdOf,
  carol,
  Harness,
  HIGH_EXECUTE,
  jobRecord,
  mallory,
  TENANT,
  useRedisContainer,
} from './harness.js';

const container = useRedisContainer();

/** The webhook events recorded so far: `<type> <subject>` (their time left out). */
async function events(h: Harness): Promise<string[]> {
  const members = await h.redis.zrange(h.keys.webhookEvents(), 0, -1);
  return members.map((member) => member.split(' ').slice(0, 2).join(' ')).sort();
}

/** A subscription made through the API, as WebhookSubscriptions stores it (this package sees only that it exists). */
async function subscribe(h: Harness, tenant: string): Promise<void> {
  await h.redis.hset(h.keys.webhookSubscriptions(tenant), 'wh-1', '{}');
}

const LOW = { tool: 'code_execute', params: { language: 'python', code: '# low-risk\nprint(1)' } } as const;
/** Makes LOW a LOW job: it is queued at once, with no approval. */
const policy = {
  rules: [
    {
      tools: ['code_execute' as const],
      risk: 'LOW' as const,
      conditions: [{ param: 'code', matches: '^# low-risk' }],
      description: 'Known-safe snippet',
    },
  ],
};

describe('webhook events, recorded by the job store’s steps', () => {
  it('records job.awaiting_approval when a job is made waiting, and job.finished with every end, once', async () => {
    const h = new Harness(container.url);
    try {
      await subscribe(h, TENANT);
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
      await subscribe(h, TENANT);
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

  it('records nothing while nobody may want it: no callback_url, no subscription of the tenant', async () => {
    const h = new Harness(container.url, { policy });
    try {
      // Another tenant's subscription is not this tenant's.
      await subscribe(h, mallory.tenant);
      const waiting = await h.service.submit(alice, HIGH_EXECUTE);
      const low = await h.service.submit(alice, LOW);
      await h.service.decide(carol, approvalIdOf(waiting), 'deny', null);
      await h.store.transition(low.job_id, 'cancel', {}, h.clock.now());
      expect(await events(h)).toEqual([]);

      // A job stored by an older version, without the field, has its events recorded as it always had.
      const older = await h.service.submit(alice, LOW);
      await h.redis.hdel(h.keys.job(older.job_id), 'webhooks');
      await h.store.transition(older.job_id, 'cancel', {}, h.clock.now());
      expect(await events(h)).toEqual([`job.finished ${older.job_id}`]);
      await h.redis.del(h.keys.webhookEvents());

      // A subscription made later: the next steps record again.
      await subscribe(h, TENANT);
      const later = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.decide(carol, approvalIdOf(later), 'deny', null);
      expect(await events(h)).toEqual([`job.awaiting_approval ${later.job_id}`, `job.finished ${later.job_id}`]);
    } finally {
      await h.close();
    }
  });

  it("records a job's events for its callback_url, its batch's, or its tenant's subscriptions in the configuration", async () => {
    const h = new Harness(container.url, { policy, configuredWebhooks: [mallory.tenant] });
    try {
      const called = await h.service.submit(alice, { ...LOW, callback_url: 'https://hooks.test/job' });
      const batch = await h.service.submitBatch(alice, { jobs: [LOW, LOW], callback_url: 'https://hooks.test/b' });
      const plain = await h.service.submitBatch(alice, { jobs: [LOW] });
      const configured = await h.service.submit(mallory, LOW);
      for (const id of [called.job_id, ...batch.job_ids, ...plain.job_ids, configured.job_id])
        await h.store.transition(id, 'cancel', {}, h.clock.now());
      expect(await events(h)).toEqual(
        [called.job_id, ...batch.job_ids, configured.job_id].map((id) => `job.finished ${id}`).sort(),
      );
      expect((await h.store.get(called.job_id))?.webhooks).toBe(true);
      expect((await h.store.get(plain.job_ids[0] as string))?.webhooks).toBe(false);
    } finally {
      await h.close();
    }
  });

  it('says on the status channel whether the job has an approval and whether the step recorded an event, and tells no step that concerns nobody', async () => {
    const h = new Harness(container.url, { policy });
    const heard: [string, JobStatus, JobEventFlags][] = [];
    try {
      h.events.onEvent((jobId, status, flags) => heard.push([jobId, status, flags]));
      await h.events.start();
      await subscribe(h, TENANT);
      const waiting = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.decide(carol, approvalIdOf(waiting), 'deny', null);
      await h.redis.del(h.keys.webhookSubscriptions(TENANT));
      const low = await h.service.submit(alice, LOW);
      await h.store.transition(low.job_id, 'cancel', {}, h.clock.now());
      const none = { approval: false, webhook: false };
      // A message without flags (from an older version) may concern anyone.
      await h.redis.publish(h.keys.jobEvents(), 'job-older running');
      await expect.poll(() => heard.length).toBe(4);
      // The LOW job's queued concerns no listener (no approval, no webhook event, not an end): untold.
      expect(heard).toEqual([
        [waiting.job_id, 'awaiting_approval', { approval: true, webhook: true }],
        [waiting.job_id, 'denied', { approval: true, webhook: true }],
        [low.job_id, 'cancelled', none],
        ['job-older', 'running', { approval: true, webhook: true }],
      ]);
    } finally {
      await h.close();
    }
  });
});
