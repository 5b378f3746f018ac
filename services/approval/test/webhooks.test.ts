import { randomUUID } from 'node:crypto';
import { verifyWebhook } from '@harombe/client';
import { parseConfig } from '@harombe/core';
import { createJobPipeline, RedisConnections, type JobPipeline } from '@harombe/service-kit';
import { metricSample, startRedis, WebhookReceiver, type RedisContainer } from '@harombe/test-fixtures';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApprovalService } from '../src/index.js';
import { alice, bob, HIGH_JOB, silentLogger } from './approval-fixture.js';

let redis: RedisContainer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

describe('webhooks delivered by the approval service', () => {
  let receiver: WebhookReceiver;
  let connections: RedisConnections;
  let api: JobPipeline;
  let service: ApprovalService;

  beforeEach(async () => {
    receiver = await WebhookReceiver.start();
    const config = parseConfig({
      redis: { url: redis.url, prefix: `t${randomUUID().slice(0, 8)}` },
      webhooks: { allowed_ranges: ['127.0.0.1/32'], retry: { initial_delay_ms: 10, jitter: 0 } },
    });
    connections = new RedisConnections(redis.url, silentLogger);
    api = createJobPipeline(config, connections, silentLogger);
    service = new ApprovalService({ config, logger: silentLogger, intervalMs: 20, opsPort: 0, env: {} });
    await service.start();
  });

  afterEach(async () => {
    await service.stop();
    await api.close();
    await connections.close();
    await receiver.close();
  });

  it('sends a job’s events to its callback and the tenant’s subscription, retries, and counts them on /metrics', async () => {
    await api.webhooks.subscriptions.create('acme', { url: receiver.url('/subscribed'), events: ['job.finished'] });
    receiver.script('/subscribed', { kind: 'status', status: 502 });
    const job = await api.jobs.submit(alice, { ...HIGH_JOB, callback_url: receiver.url() });
    await expect.poll(() => receiver.requests().length).toBe(1);
    await api.jobs.decide(bob, job.approval?.approval_id as string, 'deny', 'not today');

    await expect.poll(() => receiver.requests().length).toBe(2);
    await expect.poll(() => receiver.requests('/subscribed').map((r) => r.status)).toEqual([502, 200]);
    const { secret } = await api.webhooks.secrets.view('acme');
    const events = receiver
      .requests()
      .map((request) => verifyWebhook({ body: request.body, headers: request.headers, secret: secret as string }));
    expect(events.map((event) => [event.type, 'job' in event.data && event.data.job.status])).toEqual([
      ['job.awaiting_approval', 'awaiting_approval'],
      ['job.finished', 'denied'],
    ]);
    expect(events[1]?.data).toMatchObject({ job: { job_id: job.job_id, error: { code: 'ApprovalDenied' } } });

    const scrape = async (): Promise<string> => (await fetch(`${service.opsAddress}/metrics`)).text();
    const deliveries = 'harombe_webhook_deliveries_total';
    // Counted once each answer is read, a moment after the receiver has recorded the request.
    await expect.poll(async () => metricSample(await scrape(), deliveries, { outcome: 'delivered' })).toBe(3);
    const metrics = await scrape();
    expect(metricSample(metrics, deliveries, { service: 'approval', outcome: 'failed' })).toBe(1);
    expect(metricSample(metrics, deliveries, { service: 'approval', outcome: 'dead' })).toBe(0);
    const duration = 'harombe_webhook_delivery_duration_seconds_count';
    expect(metricSample(metrics, duration, { outcome: 'delivered' })).toBe(3);
    expect(metricSample(metrics, duration, { outcome: 'failed' })).toBe(1);
    expect(metrics).toMatch(/^harombe_webhook_events_pending\{service="approval"\} 0$/m);
  });
});
