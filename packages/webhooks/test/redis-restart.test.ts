import { verifyWebhook } from '@harombe/client';
import { WebhookReceiver } from '@harombe/test-fixtures';
import { describe, expect, it } from 'vitest';
import { deliveryIdOf, eventIdOf } from '../src/index.js';
import { RecordingSchedule, useRedis, WebhookFixture } from './fixture.js';

const redis = useRedis();

describe('a Redis restart', () => {
  it(
    'loses no delivery: one waiting for its retry and events not yet dispatched are delivered after it',
    { timeout: 120_000 },
    async () => {
      const receiver = await WebhookReceiver.start();
      // Retries every 300 ms: the restart (seconds) falls between two of them, with the job delayed in Redis.
      const f = new WebhookFixture(redis.url, { schedule: new RecordingSchedule({ delayMs: 300 }) });
      try {
        receiver.otherwise('/hook', { kind: 'status', status: 503 });
        await f.start();
        const retrying = await f.createJob({ callback_url: receiver.url() });
        await f.finishJob(retrying.job_id);
        const retryingId = deliveryIdOf(eventIdOf('job.finished', retrying.job_id), 'callback');
        await expect.poll(async () => (await f.webhooks.deliveries.get(retryingId))?.attempts).toBeGreaterThan(0);

        // Recorded by its step while no dispatcher runs: only Redis holds it across the restart.
        await f.webhooks.dispatcher.stop();
        const recorded = await f.createJob({ callback_url: receiver.url() });
        await f.finishJob(recorded.job_id);
        expect(await f.webhooks.pendingEvents()).toBe(1);

        const runId = async (): Promise<string | undefined> => /run_id:(\w+)/.exec(await f.redis.info('server'))?.[1];
        const before = await runId();
        await redis.restart();
        // A new server: what follows was reloaded from the append-only file.
        expect(await runId()).not.toBe(before);
        expect(await f.webhooks.pendingEvents()).toBe(1);

        receiver.otherwise('/hook', { kind: 'status', status: 200 });
        f.webhooks.dispatcher.start();
        const recordedId = deliveryIdOf(eventIdOf('job.finished', recorded.job_id), 'callback');
        for (const id of [retryingId, recordedId])
          await expect
            .poll(async () => (await f.webhooks.deliveries.get(id))?.state, { timeout: 60_000 })
            .toBe('delivered');

        // Each event answered 200 exactly once, and every request was signed and the same event.
        const secret = await f.secret();
        const delivered = receiver.requests().filter((request) => request.status === 200);
        expect(
          delivered.map((request) => verifyWebhook({ body: request.body, headers: request.headers, secret }).data),
        ).toHaveLength(2);
        expect(new Set(delivered.map((request) => request.headers['harombe-event-id']))).toEqual(
          new Set([eventIdOf('job.finished', retrying.job_id), eventIdOf('job.finished', recorded.job_id)]),
        );
        const retries = receiver
          .requests()
          .filter((r) => r.headers['harombe-event-id'] === eventIdOf('job.finished', retrying.job_id));
        expect(retries.length).toBeGreaterThan(1);
        expect(new Set(retries.map((request) => request.body)).size).toBe(1);
        expect(await f.webhooks.pendingEvents()).toBe(0);
      } finally {
        await f.close();
        await receiver.close();
      }
    },
  );
});
