import { WebhookReceiver } from '@harombe/test-fixtures';
import { verifyWebhook, WebhookVerificationError } from '@harombe/client';
import { newId } from '@harombe/queue';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deliveryIdOf, eventIdOf } from '../src/index.js';
import { RecordingSchedule, TENANT, useRedis, WebhookFixture, type FixtureOptions } from './fixture.js';

const redis = useRedis();

let receiver: WebhookReceiver;
let fixtures: WebhookFixture[] = [];

beforeEach(async () => {
  receiver = await WebhookReceiver.start();
});
afterEach(async () => {
  for (const fixture of fixtures) await fixture.close();
  fixtures = [];
  await receiver.close();
});

async function started(options: FixtureOptions = {}): Promise<WebhookFixture> {
  const fixture = new WebhookFixture(redis.url, options);
  fixtures.push(fixture);
  await fixture.start();
  return fixture;
}

const deliveryOf = (
  f: WebhookFixture,
  jobId: string,
  type: 'job.finished' | 'job.awaiting_approval' = 'job.finished',
) => f.webhooks.deliveries.get(deliveryIdOf(eventIdOf(type, jobId), 'callback'));

describe('signed deliveries', () => {
  it('signs with the tenant secret: the client verifier accepts the delivery and refuses anything changed', async () => {
    const f = await started();
    const job = await f.createJob({ callback_url: receiver.url() });
    await f.finishJob(job.job_id, 'hello\n');

    await expect.poll(() => receiver.requests().length).toBe(1);
    const [request] = receiver.requests();
    if (!request) throw new Error('no request');
    const secret = await f.secret();
    const event = verifyWebhook({ body: request.body, headers: request.headers, secret });
    expect(event).toMatchObject({
      id: eventIdOf('job.finished', job.job_id),
      type: 'job.finished',
      data: { job: { job_id: job.job_id, status: 'completed', result: { stdout: 'hello\n' } } },
    });
    expect(request.headers).toMatchObject({
      'harombe-event-id': event.id,
      'harombe-event': 'job.finished',
      'harombe-delivery': deliveryIdOf(event.id, 'callback'),
      'content-type': 'application/json',
    });
    expect(request.headers['harombe-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);

    const refusal = (options: Parameters<typeof verifyWebhook>[0]): string => {
      try {
        verifyWebhook(options);
      } catch (error) {
        if (error instanceof WebhookVerificationError) return error.reason;
        throw error;
      }
      return 'accepted';
    };
    const signature = request.headers['harombe-signature'] as string;
    expect(refusal({ body: request.body.replace('hello', 'HELLO'), signature, secret })).toBe('mismatch');
    expect(refusal({ body: request.body, signature, secret: `${secret}x` })).toBe('mismatch');
    expect(refusal({ body: request.body, signature: undefined, secret })).toBe('missing_header');
    expect(refusal({ body: request.body, signature: 'v1=abc', secret })).toBe('malformed_header');
    // A delivery replayed later than the tolerance is refused, though signed.
    const timestamp = Number(/t=(\d+)/.exec(signature)?.[1]);
    expect(refusal({ body: request.body, signature, secret, nowSeconds: timestamp + 301 })).toBe(
      'timestamp_out_of_range',
    );
    expect(refusal({ body: request.body, signature, secret, nowSeconds: timestamp + 299 })).toBe('accepted');
    // During a rotation on the receiver's side, either secret verifies.
    expect(refusal({ body: request.body, signature, secret: ['whsec_old', secret] })).toBe('accepted');

    expect(await deliveryOf(f, job.job_id)).toMatchObject({ state: 'delivered', attempts: 1, last_status: 200 });
    expect(await f.deliveriesCounted('delivered')).toBe(1);
  });

  it('sends job.awaiting_approval and job.finished to the callback, and subscriptions only the types they chose', async () => {
    const f = await started();
    const finishedOnly = await f.webhooks.subscriptions.create(TENANT, {
      url: receiver.url('/finished'),
      events: ['job.finished'],
    });
    const all = await f.webhooks.subscriptions.create(TENANT, { url: receiver.url('/all') });
    await f.webhooks.subscriptions.create('globex', { url: receiver.url('/globex') });
    const job = await f.createJob({ status: 'awaiting_approval', callback_url: receiver.url() });
    await expect.poll(() => receiver.requests('/all').length).toBe(1);
    await expect.poll(() => receiver.requests().length).toBe(1);
    const approval = job.approval as NonNullable<typeof job.approval>;
    await f.store.transition(
      job.job_id,
      'deny',
      { approval: { ...approval, status: 'denied', decided_by: 'bob', decided_at: new Date().toISOString() } },
      Date.now(),
    );

    await expect.poll(() => receiver.requests('/all').length).toBe(2);
    await expect.poll(() => receiver.requests().length).toBe(2);
    await expect.poll(() => receiver.requests('/finished').length).toBe(1);
    const secret = await f.secret();
    const types = (path: string) =>
      receiver
        .requests(path)
        .map((request) => verifyWebhook({ body: request.body, headers: request.headers, secret }))
        .map((event) => `${event.type} ${'job' in event.data ? event.data.job.status : ''}`);
    expect(types('/hook')).toEqual(['job.awaiting_approval awaiting_approval', 'job.finished denied']);
    expect(types('/all')).toEqual(['job.awaiting_approval awaiting_approval', 'job.finished denied']);
    expect(types('/finished')).toEqual(['job.finished denied']);
    expect(receiver.requests('/globex')).toEqual([]);
    // The same event to several targets: one id, a delivery each.
    const ids = receiver.received.filter((r) => r.path !== '/hook').map((r) => r.headers['harombe-event-id']);
    expect(ids).toContain(eventIdOf('job.finished', job.job_id));
    const deliveries = await f.webhooks.deliveries.list(TENANT);
    expect(
      deliveries
        .filter((d) => d.event_type === 'job.finished')
        .map((d) => d.subscription_id ?? 'callback')
        .sort(),
    ).toEqual(['callback', all.subscription_id, finishedOnly.subscription_id].sort());
  });

  it('sends batch.finished to the batch callback once every job of the batch has ended', async () => {
    const f = await started();
    const batchId = newId('batch');
    await f.batches.create({
      batch_id: batchId,
      tenant: TENANT,
      created_at: Date.now(),
      total: 3,
      payload_sha256: '0'.repeat(64),
      callback_url: receiver.url('/batch'),
    });
    const jobs = [];
    // As the job service makes a batch with a callback_url: its jobs' ends are recorded, for batch.finished.
    for (let i = 0; i < 3; i++) jobs.push(await f.createJob({ batch_id: batchId, webhooks: true }));
    await f.finishJob((jobs[0] as { job_id: string }).job_id);
    await f.finishJob((jobs[1] as { job_id: string }).job_id);
    // Both ends were turned into (no) deliveries, and the batch was not finished then.
    await expect.poll(() => f.webhooks.pendingEvents()).toBe(0);
    expect(receiver.requests('/batch')).toEqual([]);
    await f.finishJob((jobs[2] as { job_id: string }).job_id);

    await expect.poll(() => receiver.requests('/batch').length).toBe(1);
    const [request] = receiver.requests('/batch');
    const event = verifyWebhook({
      body: request?.body ?? '',
      headers: request?.headers ?? {},
      secret: await f.secret(),
    });
    expect(event).toMatchObject({
      id: eventIdOf('batch.finished', batchId),
      type: 'batch.finished',
      data: { batch: { batch_id: batchId, total: 3, counts: { completed: 3, queued: 0 }, jobs: [], next_offset: 0 } },
    });
    await expect.poll(() => f.webhooks.pendingEvents()).toBe(0);
    expect(receiver.requests('/batch')).toHaveLength(1);
  });

  it('delivers events recorded while no dispatcher ran; a refused step records none', async () => {
    const f = new WebhookFixture(redis.url);
    fixtures.push(f);
    const job = await f.createJob({ callback_url: receiver.url() });
    await f.finishJob(job.job_id);
    // A second end of the same job is refused by the store: no second event.
    const again = await f.store.transition(job.job_id, 'cancel', {}, Date.now());
    expect(again.outcome).toBe('refused');
    expect(await f.webhooks.pendingEvents()).toBe(1);

    await f.start();
    await expect.poll(() => receiver.requests().length).toBe(1);
    await expect.poll(() => f.webhooks.pendingEvents()).toBe(0);
    expect((await deliveryOf(f, job.job_id))?.state).toBe('delivered');
  });
});

describe('a receiver that fails', () => {
  it('is retried after 5xx answers, each time with the same event and body, and Retry-After is honoured', async () => {
    const schedule = new RecordingSchedule({ delayMs: 5 });
    const f = await started({ schedule });
    receiver.script(
      '/hook',
      { kind: 'status', status: 500, body: 'boom' },
      { kind: 'status', status: 503, headers: { 'retry-after': '1' } },
    );
    const job = await f.createJob({ callback_url: receiver.url() });
    await f.finishJob(job.job_id);

    await expect.poll(async () => (await deliveryOf(f, job.job_id))?.state, { timeout: 15_000 }).toBe('delivered');
    const requests = receiver.requests();
    expect(requests.map((r) => r.status)).toEqual([500, 503, 200]);
    expect(new Set(requests.map((r) => r.headers['harombe-event-id'])).size).toBe(1);
    expect(new Set(requests.map((r) => r.body)).size).toBe(1);
    expect(schedule.failures.map((failure) => [failure.status, failure.retryAfterMs])).toEqual([
      [500, null],
      [503, 1_000],
    ]);
    expect(schedule.failures[0]?.error).toBe('HTTP 500: boom');
    // Not sooner than the receiver asked (the schedule alone would have waited 5 ms).
    expect((requests[2]?.at ?? 0) - (requests[1]?.at ?? 0)).toBeGreaterThanOrEqual(1_000);
    expect(await deliveryOf(f, job.job_id)).toMatchObject({ attempts: 3, last_status: 200, last_error: null });
    expect(await f.deliveriesCounted('failed')).toBe(2);
    expect(await f.deliveriesCounted('delivered')).toBe(1);
  });

  it('counts a timeout, a connection reset and a slow body as failed attempts, and delivers after them', async () => {
    const schedule = new RecordingSchedule({ delayMs: 5 });
    const f = await started({
      schedule,
      config: { allowed_ranges: ['127.0.0.1/32'], timeout_ms: 400, connect_timeout_ms: 400 },
    });
    receiver.script(
      '/hook',
      { kind: 'hang' },
      { kind: 'reset' },
      { kind: 'slow_body', status: 200, everyMs: 100, chunks: 50 },
    );
    const job = await f.createJob({ callback_url: receiver.url() });
    await f.finishJob(job.job_id);

    await expect.poll(async () => (await deliveryOf(f, job.job_id))?.state, { timeout: 15_000 }).toBe('delivered');
    expect(receiver.requests().map((r) => r.answer)).toEqual(['hang', 'reset', 'slow_body', 'status']);
    expect(schedule.failures.map((failure) => [failure.status, failure.error])).toEqual([
      [null, 'no complete answer within 400 ms'],
      [null, 'connection reset (ECONNRESET)'],
      // The status came, the body did not finish: not known to be received.
      [200, 'no complete answer within 400 ms'],
    ]);
    expect(await deliveryOf(f, job.job_id)).toMatchObject({ attempts: 4, state: 'delivered' });
    expect(await f.deliveriesCounted('failed')).toBe(3);
  });

  it('is dead once the schedule gives up, listed as dead, failed in BullMQ, and a manual retry delivers it', async () => {
    const f = await started({ schedule: new RecordingSchedule({ delayMs: 5, maxAttempts: 3 }) });
    receiver.otherwise('/hook', { kind: 'status', status: 500 });
    const job = await f.createJob({ callback_url: receiver.url() });
    await f.finishJob(job.job_id);

    await expect.poll(async () => (await deliveryOf(f, job.job_id))?.state, { timeout: 15_000 }).toBe('dead');
    expect(receiver.requests()).toHaveLength(3);
    const dead = await f.webhooks.deliveries.list(TENANT, { state: 'dead' });
    expect(dead.map((d) => d.subject_id)).toEqual([job.job_id]);
    expect(dead[0]).toMatchObject({ attempts: 3, last_status: 500, last_error: 'HTTP 500' });
    expect(await f.webhooks.deliveries.list(TENANT, { state: 'pending' })).toEqual([]);
    const deliveryId = dead[0]?.delivery_id as string;
    expect(await f.webhooks.queue.open().getJobState(`${deliveryId}-0`)).toBe('failed');
    expect(await f.deliveriesCounted('failed')).toBe(2);
    expect(await f.deliveriesCounted('dead')).toBe(1);

    receiver.otherwise('/hook', { kind: 'status', status: 204 });
    expect((await f.webhooks.redeliver(TENANT, deliveryId)).state).toBe('pending');
    await expect.poll(async () => (await deliveryOf(f, job.job_id))?.state).toBe('delivered');
    expect(receiver.requests()).toHaveLength(4);
    expect(await f.webhooks.deliveries.list(TENANT, { state: 'dead' })).toEqual([]);
    await expect(f.webhooks.redeliver(TENANT, deliveryId)).rejects.toMatchObject({ code: 'Conflict' });
    await expect(f.webhooks.redeliver('globex', deliveryId)).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('queues again a pending delivery whose BullMQ job is gone', async () => {
    const f = await started();
    // Deliveries wait while the receiver's path is scripted to fail; the job is then removed under it.
    receiver.otherwise('/hook', { kind: 'status', status: 503, headers: { 'retry-after': '3600' } });
    const job = await f.createJob({ callback_url: receiver.url() });
    await f.finishJob(job.job_id);
    await expect.poll(async () => (await deliveryOf(f, job.job_id))?.attempts).toBe(1);
    const record = await deliveryOf(f, job.job_id);
    await f.webhooks.queue.open().remove(`${record?.delivery_id}-0`);
    receiver.otherwise('/hook', { kind: 'status', status: 200 });
    // Due in an hour by its Retry-After: pretend the hour has passed for the reconciliation.
    await f.redis.zadd(f.webhooks.keys.due(), 0, record?.delivery_id as string);

    await expect.poll(async () => (await deliveryOf(f, job.job_id))?.state, { timeout: 15_000 }).toBe('delivered');
    expect(await deliveryOf(f, job.job_id)).toMatchObject({ round: 1, attempts: 2 });
  });
});

describe('targets deliveries may not reach', () => {
  it('refuses at delivery a target the configuration does not allow: dead at once, never contacted', async () => {
    const f = await started({ config: { allowed_ranges: [] } });
    const loopback = await f.createJob({ callback_url: receiver.url() });
    const metadata = await f.createJob({ callback_url: 'http://169.254.169.254/latest/meta-data/' });
    const byName = await f.createJob({ callback_url: `http://localhost:${receiver.port}/hook` });
    for (const job of [loopback, metadata, byName]) await f.finishJob(job.job_id);

    for (const [job, reason] of [
      [loopback, /loopback address/],
      [metadata, /link-local address/],
      [byName, /localhost resolves to/],
    ] as const) {
      await expect.poll(async () => (await deliveryOf(f, job.job_id))?.state).toBe('dead');
      expect((await deliveryOf(f, job.job_id))?.last_error).toMatch(reason);
    }
    expect(receiver.received).toEqual([]);
    expect(await f.deliveriesCounted('dead')).toBe(3);
  });

  it('does not follow a redirect', async () => {
    const f = await started({ schedule: new RecordingSchedule({ delayMs: 5, maxAttempts: 2 }) });
    receiver.otherwise('/moved', { kind: 'status', status: 302, headers: { location: receiver.url('/elsewhere') } });
    const job = await f.createJob({ callback_url: receiver.url('/moved') });
    await f.finishJob(job.job_id);

    await expect.poll(async () => (await deliveryOf(f, job.job_id))?.state).toBe('dead');
    expect(receiver.requests('/moved')).toHaveLength(2);
    expect(receiver.requests('/elsewhere')).toEqual([]);
    expect((await deliveryOf(f, job.job_id))?.last_error).toBe(
      `redirect not followed (HTTP 302 to ${receiver.url('/elsewhere')})`,
    );
  });

  it('resolves a name once per attempt and connects to the address it checked (no DNS rebinding)', async () => {
    let lookups = 0;
    // The first answer is the receiver's address; any later one is an address nothing listens on.
    const lookup = async (hostname: string) => {
      expect(hostname).toBe('receiver.test');
      lookups += 1;
      return [{ address: lookups === 1 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
    };
    const f = await started({
      lookup,
      schedule: new RecordingSchedule({ maxAttempts: 1 }),
      config: { allowed_ranges: ['127.0.0.0/8'] },
    });
    const job = await f.createJob({ callback_url: `http://receiver.test:${receiver.port}/hook` });
    await f.finishJob(job.job_id);

    await expect.poll(async () => (await deliveryOf(f, job.job_id))?.state).toBe('delivered');
    expect(lookups).toBe(1);
    expect(receiver.requests()[0]?.headers.host).toBe(`receiver.test:${receiver.port}`);
  });
});
