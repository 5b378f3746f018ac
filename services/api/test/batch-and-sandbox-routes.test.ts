import { HarombeClient, isHarombeApiError } from '@harombe/client';
import { ErrorBody, ManualClock, type ApiKeyConfig } from '@harombe/core';
import type { JobPipeline } from '@harombe/service-kit';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../src/index.js';
import { ApiHarness } from './api-harness.js';

const KEYS = { alice: 'hk_alice-submits-for-acme', bob: 'hk_bob-approves-for-acme', mallory: 'hk_mallory-of-globex' };
const keyConfigs: ApiKeyConfig[] = [
  { name: 'alice', tenant: 'acme', scopes: ['submit'], key_sha256: sha256Hex(KEYS.alice) },
  { name: 'bob', tenant: 'acme', scopes: ['approve'], key_sha256: sha256Hex(KEYS.bob) },
  { name: 'mallory', tenant: 'globex', scopes: ['submit', 'approve'], key_sha256: sha256Hex(KEYS.mallory) },
];
const HIGH = { tool: 'code_execute', params: { language: 'python', code: 'print(1)' } };

let container: RedisContainer;
beforeAll(async () => {
  container = await startRedis();
});
afterAll(async () => {
  await container?.stop();
});

/** Answers the rejection of `promise`; fails when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

/**
 * The batch, approval and sandbox routes through the typed client, which checks every answer
 * against the core contracts: a route that drifted from them fails here as an InternalError.
 */
describe('batch, approval and sandbox routes', () => {
  let harness: ApiHarness;
  let pipeline: JobPipeline;
  let clock: ManualClock;
  let client: (key: keyof typeof KEYS) => HarombeClient;

  beforeEach(async () => {
    clock = new ManualClock();
    harness = await ApiHarness.start(container.url, {
      keys: keyConfigs,
      clock,
      server: (_pipeline, _config, redis) => ({ readiness: { redis: () => redis.ping() } }),
    });
    ({ pipeline } = harness);
    const baseUrl = await harness.listen();
    client = (key) => new HarombeClient({ baseUrl, apiKey: KEYS[key] });
  });

  afterEach(() => harness.close());

  it('pages through a batch with its counts, and decides all its pending jobs at once', async () => {
    const created = await client('alice').submitBatch({ jobs: [HIGH, HIGH, HIGH] });
    const [first, second] = created.job_ids;
    await client('bob').approve((await client('alice').getJob(first!)).approval!.approval_id);

    const page = await client('alice').getBatch(created.batch_id, { limit: 2 });
    expect(page).toMatchObject({ batch_id: created.batch_id, total: 3, next_offset: 2 });
    expect(page.counts).toMatchObject({ queued: 1, awaiting_approval: 2, completed: 0 });
    expect(page.jobs.map((job) => [job.job_id, job.status])).toEqual([
      [first, 'queued'],
      [second, 'awaiting_approval'],
    ]);
    const rest = await client('alice').getBatch(created.batch_id, { offset: 2 });
    expect(rest.jobs.map((job) => job.job_id)).toEqual([created.job_ids[2]]);
    expect(rest.next_offset).toBeNull();

    const pending = (await client('bob').listApprovals()).map((job) => job.job_id);
    expect(pending.sort()).toEqual(created.job_ids.slice(1).sort());
    expect(await client('bob').denyBatch(created.batch_id, 'not today')).toEqual({
      batch_id: created.batch_id,
      decided: 2,
      already_decided: 1,
    });
    expect((await client('alice').getBatch(created.batch_id)).counts).toMatchObject({ queued: 1, denied: 2 });
    expect(await client('bob').listApprovals()).toEqual([]);
  });

  it('answers another tenant’s batch as one that does not exist, and a malformed id as InvalidArgument', async () => {
    const created = await client('alice').submitBatch({ jobs: [HIGH] });
    for (const call of [
      () => client('mallory').getBatch(created.batch_id),
      () => client('mallory').approveBatch(created.batch_id),
      async () => {
        for await (const job of client('mallory').batchResults(created.batch_id)) expect.fail(`got ${job.job_id}`);
      },
    ]) {
      const error = await rejection(call());
      expect(isHarombeApiError(error, 'NotFound'), String(error)).toBe(true);
      expect(error).toMatchObject({ status: 404, message: `batch ${created.batch_id} not found` });
    }
    const malformed = await harness.app.inject({
      method: 'GET',
      url: '/v1/batches/batch-1?limit=0',
      headers: { authorization: `Bearer ${KEYS.alice}` },
    });
    expect(malformed.statusCode).toBe(400);
    expect(ErrorBody.parse(malformed.json()).error).toMatchObject({
      code: 'InvalidArgument',
      details: { field: 'params.batch_id' },
    });
  });

  it('lists the tenant’s sandboxes on live workers, and refuses to destroy another tenant’s', async () => {
    await pipeline.workers.heartbeat({
      worker_id: 'w1',
      hostname: 'test',
      last_seen: clock.now(),
      concurrency: 2,
      running: 0,
      sandboxes: 1,
    });
    const put = async (sandboxId: string, workerId: string, tenant = 'acme') =>
      pipeline.sandboxes.put({
        sandbox_id: sandboxId,
        worker_id: workerId,
        tenant,
        language: 'python',
        network_enabled: false,
        allowed_domains: [],
        created_at: clock.now(),
        expires_at: clock.now() + 3_600_000,
        record: {},
      });
    await put('sandbox-00000000000000a1', 'w1');
    await put('sandbox-00000000000000a2', 'w-gone');
    await put('sandbox-00000000000000b1', 'w1', 'globex');

    expect(await client('alice').listSandboxes()).toEqual([
      {
        sandbox_id: 'sandbox-00000000000000a1',
        language: 'python',
        worker_id: 'w1',
        network_enabled: false,
        allowed_domains: [],
        created_at: new Date(clock.now()).toISOString(),
        expires_at: new Date(clock.now() + 3_600_000).toISOString(),
      },
    ]);
    const error = await rejection(client('mallory').destroySandbox('sandbox-00000000000000a1'));
    expect(error).toMatchObject({
      status: 404,
      code: 'NotFound',
      message: 'sandbox sandbox-00000000000000a1 not found',
    });
  });

  it('refuses a sandbox of a language the fleet does not run as UnsupportedLanguage, listing those it runs', async () => {
    const refused = await rejection(client('alice').createSandbox({ language: 'cobol' as 'python' }));
    expect(isHarombeApiError(refused, 'UnsupportedLanguage'), String(refused)).toBe(true);
    expect(refused).toMatchObject({
      status: 400,
      message: 'language: not a supported language: use python, javascript or shell',
      details: { field: 'language' },
    });
    // The body's other fields are not the tool's language: refused as InvalidArgument, as before.
    const post = (body: Record<string, unknown>) =>
      harness.app.inject({
        method: 'POST',
        url: '/v1/sandboxes',
        headers: { authorization: `Bearer ${KEYS.alice}` },
        payload: body,
      });
    const waitTooLong = await post({ language: 'python', wait_seconds: 600 });
    expect(waitTooLong.statusCode).toBe(400);
    expect(ErrorBody.parse(waitTooLong.json()).error).toMatchObject({
      code: 'InvalidArgument',
      details: { field: 'wait_seconds' },
    });
    const missing = await post({});
    expect(ErrorBody.parse(missing.json()).error).toMatchObject({
      code: 'UnsupportedLanguage',
      message: 'language: expected python, javascript or shell',
    });
    // Nothing was submitted.
    expect(await client('alice').listSandboxes()).toEqual([]);
  });

  it('answers /healthz and /readyz as the core HealthBody', async () => {
    expect(await client('alice').health()).toEqual({ ok: true, status: 'ok', checks: {} });
    expect(await client('alice').ready()).toEqual({ ok: true, status: 'ready', checks: { redis: true } });
  });
});
