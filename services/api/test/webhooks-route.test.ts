import { ErrorBody, WebhookDelivery, type ApiKeyConfig } from '@harombe/core';
import type { JobPipeline } from '@harombe/service-kit';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { deliveryIdOf, eventIdOf } from '@harombe/webhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex, type ApiServer } from '../src/index.js';
import { ApiHarness } from './api-harness.js';

const KEYS = { submitter: 'hk_acme-submitter', admin: 'hk_acme-admin', globex: 'hk_globex-admin' } as const;
const keyConfigs: ApiKeyConfig[] = [
  { name: 'acme-submitter', tenant: 'acme', scopes: ['submit'], key_sha256: sha256Hex(KEYS.submitter) },
  { name: 'acme-admin', tenant: 'acme', scopes: ['admin'], key_sha256: sha256Hex(KEYS.admin) },
  { name: 'globex-admin', tenant: 'globex', scopes: ['admin', 'submit'], key_sha256: sha256Hex(KEYS.globex) },
];
const GLOBEX_SECRET = 'globex-secret-from-the-environment';
const execute = { tool: 'code_execute', params: { language: 'python', code: 'print(1)' } };

let container: RedisContainer;
beforeAll(async () => {
  container = await startRedis();
});
afterAll(async () => {
  await container?.stop();
});

describe('/v1/webhooks and callback_url', () => {
  let harness: ApiHarness;
  let pipeline: JobPipeline;
  let app: ApiServer;

  beforeEach(async () => {
    harness = await ApiHarness.start(container.url, {
      keys: keyConfigs,
      config: {
        webhooks: {
          // The one address these tests register; nothing is delivered (no approval service runs).
          allowed_ranges: ['127.0.0.1/32'],
          max_subscriptions_per_tenant: 2,
          tenants: {
            acme: { subscriptions: [{ url: 'http://127.0.0.1:9/from-config', events: ['batch.finished'] }] },
            globex: { secret_env: 'TEST_GLOBEX_WEBHOOK_SECRET' },
          },
        },
      },
      webhookTuning: { env: { TEST_GLOBEX_WEBHOOK_SECRET: GLOBEX_SECRET } },
      server: (p) => ({ webhooks: p.webhooks }),
    });
    ({ app, pipeline } = harness);
  });

  afterEach(() => harness.close());

  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, key: string, payload?: unknown) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const errorOf = (response: { json(): unknown }) => ErrorBody.parse(response.json()).error;

  it('refuses targets deliveries may not reach, at registration: 400 WebhookTargetRefused naming the field', async () => {
    for (const [url, reason] of [
      ['http://127.0.0.2:8080/hook', 'loopback'],
      ['http://[::1]:8080/hook', 'loopback'],
      ['http://169.254.169.254/latest/meta-data/', 'link_local'],
      ['http://10.1.2.3/hook', 'private'],
      ['https://192.168.1.1/hook', 'private'],
    ] as const) {
      const response = await call('POST', '/v1/webhooks', KEYS.admin, { url });
      expect(response.statusCode, url).toBe(400);
      expect(errorOf(response)).toMatchObject({ code: 'WebhookTargetRefused', details: { field: 'url', reason } });
    }
    for (const url of ['ftp://127.0.0.1/hook', 'http://user:pw@127.0.0.1/hook', 'not a url']) {
      const response = await call('POST', '/v1/webhooks', KEYS.admin, { url });
      expect(response.statusCode, url).toBe(400);
      expect(errorOf(response)).toMatchObject({ code: 'InvalidArgument', details: { field: 'url' } });
    }
    expect((await call('GET', '/v1/webhooks', KEYS.admin)).json().subscriptions).toHaveLength(1);

    const job = await call('POST', '/v1/jobs', KEYS.submitter, {
      ...execute,
      callback_url: 'http://169.254.169.254/hook',
    });
    expect(job.statusCode).toBe(400);
    expect(errorOf(job)).toMatchObject({
      code: 'WebhookTargetRefused',
      details: { field: 'callback_url', reason: 'link_local' },
    });
    const batch = await call('POST', '/v1/batches', KEYS.submitter, {
      jobs: [execute],
      callback_url: 'http://10.0.0.1/hook',
    });
    expect(batch.statusCode).toBe(400);
    expect(errorOf(batch)).toMatchObject({ code: 'WebhookTargetRefused', details: { field: 'callback_url' } });
    // Nothing was accepted: no job waits for approval.
    expect(await pipeline.store.countAwaitingApproval()).toBe(0);
  });

  it('keeps a job’s and a batch’s callback_url and shows it', async () => {
    const job = await call('POST', '/v1/jobs', KEYS.submitter, { ...execute, callback_url: 'http://127.0.0.1:9/job' });
    expect(job.statusCode).toBe(202);
    expect(job.json()).toMatchObject({ status: 'awaiting_approval', callback_url: 'http://127.0.0.1:9/job' });
    const batch = await call('POST', '/v1/batches', KEYS.submitter, {
      jobs: [execute, execute],
      callback_url: 'http://127.0.0.1:9/batch',
    });
    expect(batch.statusCode).toBe(202);
    const view = await call('GET', `/v1/batches/${batch.json().batch_id}`, KEYS.submitter);
    expect(view.json()).toMatchObject({ total: 2, callback_url: 'http://127.0.0.1:9/batch' });
    // The batch's jobs themselves carry none: the batch's callback gets batch.finished.
    const { jobs } = view.json<{ jobs: { callback_url?: string }[] }>();
    expect(jobs.map((j) => j.callback_url)).toEqual([undefined, undefined]);
  });

  it('keeps a tenant’s subscriptions: admin only, its own only, those of the configuration read-only', async () => {
    expect(errorOf(await call('GET', '/v1/webhooks', KEYS.submitter)).code).toBe('Forbidden');
    const created = await call('POST', '/v1/webhooks', KEYS.admin, {
      url: 'http://127.0.0.1:9/hook',
      events: ['job.finished', 'job.finished'],
      description: 'CI',
    });
    expect(created.statusCode).toBe(201);
    const subscription = created.json();
    expect(subscription).toMatchObject({
      url: 'http://127.0.0.1:9/hook',
      events: ['job.finished'],
      description: 'CI',
      source: 'api',
    });
    const listed = (await call('GET', '/v1/webhooks', KEYS.admin)).json<{
      subscriptions: { source: string; subscription_id: string }[];
    }>().subscriptions;
    expect(listed.map((s) => s.source)).toEqual(['config', 'api']);
    expect(listed[0]).toMatchObject({ url: 'http://127.0.0.1:9/from-config', events: ['batch.finished'] });
    const path = `/v1/webhooks/${subscription.subscription_id}`;
    expect((await call('GET', path, KEYS.admin)).json()).toEqual(subscription);

    // Another tenant sees none of them.
    expect((await call('GET', '/v1/webhooks', KEYS.globex)).json().subscriptions).toEqual([]);
    expect(errorOf(await call('GET', path, KEYS.globex)).code).toBe('NotFound');
    expect(errorOf(await call('DELETE', path, KEYS.globex)).code).toBe('NotFound');

    const fromConfig = await call('DELETE', `/v1/webhooks/${listed[0]?.subscription_id}`, KEYS.admin);
    expect(fromConfig.statusCode).toBe(409);
    expect(errorOf(fromConfig).code).toBe('Conflict');

    expect((await call('POST', '/v1/webhooks', KEYS.admin, { url: 'http://127.0.0.1:9/second' })).statusCode).toBe(201);
    const third = await call('POST', '/v1/webhooks', KEYS.admin, { url: 'http://127.0.0.1:9/third' });
    expect(third.statusCode).toBe(429);
    expect(errorOf(third)).toMatchObject({ code: 'QuotaExceeded', details: { limit: 2 } });

    expect((await call('DELETE', path, KEYS.admin)).statusCode).toBe(200);
    expect(errorOf(await call('GET', path, KEYS.admin)).code).toBe('NotFound');
    expect(errorOf(await call('GET', '/v1/webhooks/wh-nope', KEYS.admin)).code).toBe('InvalidArgument');
  });

  it('shows the signing secret: generated on first use, rotated with the previous one still signing', async () => {
    const first = await call('GET', '/v1/webhooks/secret', KEYS.admin);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ source: 'generated', previous_expires_at: null });
    const secret = first.json().secret as string;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect((await call('GET', '/v1/webhooks/secret', KEYS.admin)).json().secret).toBe(secret);
    expect(errorOf(await call('GET', '/v1/webhooks/secret', KEYS.submitter)).code).toBe('Forbidden');

    const rotated = (await call('POST', '/v1/webhooks/secret/rotate', KEYS.admin)).json();
    expect(rotated.secret).not.toBe(secret);
    expect(Date.parse(rotated.previous_expires_at) - pipeline.clock.now()).toBe(86_400_000);
    expect(await pipeline.webhooks.secrets.signing('acme')).toEqual([rotated.secret, secret]);

    // A secret the operator configured is used, never shown, and rotated only where it is set.
    expect((await call('GET', '/v1/webhooks/secret', KEYS.globex)).json()).toEqual({
      source: 'config',
      secret: null,
      previous_expires_at: null,
    });
    expect(await pipeline.webhooks.secrets.signing('globex')).toEqual([GLOBEX_SECRET]);
    expect(errorOf(await call('POST', '/v1/webhooks/secret/rotate', KEYS.globex)).code).toBe('Conflict');
  });

  it('lists dead deliveries with state=dead, retries one, and keeps them to their tenant', async () => {
    const jobId = 'job-0123456789abcdef01234567';
    const eventId = eventIdOf('job.finished', jobId);
    const record = {
      delivery_id: deliveryIdOf(eventId, 'callback'),
      event_id: eventId,
      event_type: 'job.finished' as const,
      subject_id: jobId,
      tenant: 'acme',
      target: 'callback' as const,
      subscription_id: null,
      url: 'http://127.0.0.1:9/hook',
      state: 'pending' as const,
      attempts: 0,
      round: 0,
      created_at: pipeline.clock.now(),
      first_attempt_at: null,
      last_attempt_at: null,
      next_attempt_at: pipeline.clock.now(),
      finished_at: null,
      last_status: null,
      last_error: null,
    };
    const { deliveries } = pipeline.webhooks;
    await deliveries.create(record);
    const now = pipeline.clock.now();
    await deliveries.update(
      record,
      'dead',
      { attempts: 30, last_status: 503, last_error: 'HTTP 503', finished_at: now },
      now,
    );

    const dead = await call('GET', '/v1/webhooks/deliveries?state=dead', KEYS.admin);
    expect(dead.statusCode).toBe(200);
    expect(dead.json().next_offset).toBeNull();
    const [listed] = dead.json().deliveries;
    expect(WebhookDelivery.parse(listed)).toMatchObject({
      delivery_id: record.delivery_id,
      event_id: eventId,
      subject_id: jobId,
      state: 'dead',
      attempts: 30,
      last_status: 503,
      last_error: 'HTTP 503',
      next_attempt_at: null,
    });
    expect((await call('GET', '/v1/webhooks/deliveries?state=pending', KEYS.admin)).json().deliveries).toEqual([]);
    expect((await call('GET', '/v1/webhooks/deliveries', KEYS.admin)).json().deliveries).toHaveLength(1);
    expect(errorOf(await call('GET', '/v1/webhooks/deliveries?state=lost', KEYS.admin))).toMatchObject({
      code: 'InvalidArgument',
      details: { field: 'querystring.state' },
    });
    expect((await call('GET', '/v1/webhooks/deliveries?state=dead', KEYS.globex)).json().deliveries).toEqual([]);
    const path = `/v1/webhooks/deliveries/${record.delivery_id}`;
    expect(errorOf(await call('GET', path, KEYS.globex)).code).toBe('NotFound');
    expect(errorOf(await call('POST', `${path}/retry`, KEYS.globex)).code).toBe('NotFound');

    const retried = await call('POST', `${path}/retry`, KEYS.admin);
    expect(retried.statusCode).toBe(202);
    expect(retried.json()).toMatchObject({ state: 'pending', attempts: 0, finished_at: null });
    expect(await pipeline.webhooks.queue.open().getJobState(`${record.delivery_id}-1`)).toBe('waiting');
    expect((await call('GET', '/v1/webhooks/deliveries?state=dead', KEYS.admin)).json().deliveries).toEqual([]);
    const again = await call('POST', `${path}/retry`, KEYS.admin);
    expect(again.statusCode).toBe(409);
    expect(errorOf(again).code).toBe('Conflict');
  });

  it('documents the routes in /openapi.json', async () => {
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/v1/webhooks',
        '/v1/webhooks/{subscription_id}',
        '/v1/webhooks/secret',
        '/v1/webhooks/deliveries',
        '/v1/webhooks/deliveries/{delivery_id}/retry',
      ]),
    );
    expect(document.paths['/v1/jobs'].post.requestBody.content['application/json'].schema.properties).toHaveProperty(
      'callback_url',
    );
  });
});
