import { HarombeApiError, verifyWebhook } from '@harombe/client';
import { metricSample, WebhookReceiver, type ReceivedRequest } from '@harombe/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultOf, TestFleet } from '../src/index.js';

let fleet: TestFleet;
let receiver: WebhookReceiver;
beforeAll(async () => {
  receiver = await WebhookReceiver.start();
  fleet = await TestFleet.start({
    config: {
      // The receiver listens on loopback, which deliveries may reach only when allowed.
      webhooks: { allowed_ranges: ['127.0.0.1/32'], retry: { initial_delay_ms: 50, jitter: 0 } },
    },
  });
});
afterAll(async () => {
  await fleet?.stop();
  await receiver?.close();
});

describe('webhooks of a running fleet', () => {
  it('delivers job.finished of a real job to its callback_url, signed, carrying the job as the API shows it', async () => {
    const alice = fleet.client('alice');
    const { secret } = await fleet.client('audrey').getWebhookSecret();
    // The first delivery fails on purpose: the approval service retries it.
    receiver.script('/hook', { kind: 'status', status: 503, headers: { 'retry-after': '0' } });

    const job = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("hello", 6 * 7)' },
      callback_url: receiver.url(),
    });
    expect(job).toMatchObject({ status: 'awaiting_approval', callback_url: receiver.url() });
    await fleet.client('bob').approve(job.approval?.approval_id as string, 'test');
    const ended = await alice.waitForJob(job.job_id, { timeoutMs: 120_000 });
    expect(resultOf(ended)).toMatchObject({ success: true, stdout: 'hello 42\n' });

    const isFinished = (r: ReceivedRequest): boolean =>
      r.status === 200 && r.headers['harombe-event'] === 'job.finished';
    await expect.poll(() => receiver.requests().some(isFinished), { timeout: 30_000 }).toBe(true);
    const finished = receiver.requests().find(isFinished);
    const event = verifyWebhook({
      body: finished?.body ?? '',
      headers: finished?.headers ?? {},
      secret: secret as string,
    });
    expect(event.type).toBe('job.finished');
    expect(event.data).toEqual({ job: ended });
    expect(finished?.headers['harombe-event-id']).toBe(event.id);

    // job.awaiting_approval came first, failed once, and was delivered on its retry.
    await expect
      .poll(() =>
        receiver
          .requests()
          .filter((r) => r.headers['harombe-event'] === 'job.awaiting_approval')
          .map((r) => r.status),
      )
      .toEqual([503, 200]);
    // Recorded once each answer is read, a moment after the receiver saw the request.
    await expect
      .poll(async () =>
        (await fleet.client('audrey').listWebhookDeliveries()).deliveries
          .map((d) => [d.event_type, d.state, d.attempts])
          .sort(),
      )
      .toEqual([
        ['job.awaiting_approval', 'delivered', 2],
        ['job.finished', 'delivered', 1],
      ]);

    const scrape = async (): Promise<string> => (await fetch(`${fleet.fleet.approval?.url}/metrics`)).text();
    await expect
      .poll(async () => metricSample(await scrape(), 'harombe_webhook_deliveries_total', { outcome: 'delivered' }))
      .toBe(2);
    const metrics = await scrape();
    expect(metricSample(metrics, 'harombe_webhook_deliveries_total', { outcome: 'failed' })).toBe(1);
    expect(metricSample(metrics, 'harombe_webhook_delivery_duration_seconds_count', { outcome: 'delivered' })).toBe(2);
  });

  it('refuses a callback_url deliveries may not reach before anything runs', async () => {
    const refused = await fleet
      .client('alice')
      .submitJob({
        tool: 'code_execute',
        params: { language: 'python', code: 'print(1)' },
        callback_url: 'http://169.254.169.254/',
      })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HarombeApiError);
    expect(refused).toMatchObject({ status: 400, code: 'WebhookTargetRefused', details: { field: 'callback_url' } });
  });
});
