import { ErrorBody, type ApiKeyConfig } from '@harombe/core';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex, type ApiServer } from '../src/index.js';
import { ApiHarness } from './api-harness.js';

const KEY = 'hk_submitter-of-acme';
const keyConfigs: ApiKeyConfig[] = [
  { name: 'acme-submitter', tenant: 'acme', scopes: ['submit'], key_sha256: sha256Hex(KEY) },
];
const execute = (code: string, extra: Record<string, unknown> = {}) => ({
  tool: 'code_execute',
  params: { language: 'python', code, ...extra },
});

let container: RedisContainer;

beforeAll(async () => {
  container = await startRedis();
});

afterAll(async () => {
  await container?.stop();
});

describe('POST /v1/jobs and /v1/batches', () => {
  let harness: ApiHarness;
  let app: ApiServer;

  beforeEach(async () => {
    harness = await ApiHarness.start(container.url, {
      keys: keyConfigs,
      config: { security: { sandbox: { max_limits: { max_execution_time: 120 } } } },
      server: (p) => ({ audit: p.audit }),
    });
    app = harness.app;
  });

  afterEach(() => harness.close());

  const post = (url: string, payload: unknown) =>
    app.inject({ method: 'POST', url, payload: payload as object, headers: { authorization: `Bearer ${KEY}` } });

  it('answers 409 IdempotencyConflict when a used idempotency key comes with another payload', async () => {
    const first = await post('/v1/jobs', { ...execute('print(1)'), idempotency_key: 'k1' });
    expect(first.statusCode).toBe(202);
    expect((await post('/v1/jobs', { ...execute('print(1)'), idempotency_key: 'k1' })).json()).toMatchObject({
      job_id: first.json().job_id,
    });
    const conflict = await post('/v1/jobs', { ...execute('print(2)'), idempotency_key: 'k1' });
    expect(conflict.statusCode).toBe(409);
    expect(ErrorBody.parse(conflict.json()).error).toMatchObject({
      code: 'IdempotencyConflict',
      details: { field: 'idempotency_key', job_id: first.json().job_id },
    });

    const batch = await post('/v1/batches', { jobs: [execute('print(1)')], idempotency_key: 'b1' });
    expect(batch.statusCode).toBe(202);
    const batchConflict = await post('/v1/batches', { jobs: [execute('print(3)')], idempotency_key: 'b1' });
    expect(batchConflict.statusCode).toBe(409);
    expect(ErrorBody.parse(batchConflict.json()).error).toMatchObject({
      code: 'IdempotencyConflict',
      details: { batch_id: batch.json().batch_id },
    });
  });

  it('refuses at submission what the worker would refuse: max_limits from the configuration, paths it cannot take', async () => {
    const tooLong = await post('/v1/jobs', execute('print(1)', { timeout: 121 }));
    expect(tooLong.statusCode).toBe(400);
    expect(ErrorBody.parse(tooLong.json()).error).toMatchObject({
      code: 'LimitTooHigh',
      details: { field: 'params.timeout', limit: 'max_execution_time', maximum: 120 },
    });
    expect((await post('/v1/jobs', execute('print(1)', { timeout: 120 }))).statusCode).toBe(202);
    const escape = await post('/v1/jobs', {
      tool: 'code_read_file',
      params: { sandbox_id: 'sandbox-0123456789abcdef', file_path: 'a/../../etc/passwd' },
    });
    expect(escape.statusCode).toBe(400);
    expect(ErrorBody.parse(escape.json()).error).toMatchObject({
      code: 'InvalidPath',
      details: { field: 'params.file_path' },
    });
  });

  it('names the field of an invalid request with a stable code, whether the route or the job service refuses it', async () => {
    const refusal = async (response: Promise<{ statusCode: number; json(): unknown }>) => {
      const answer = await response;
      expect(answer.statusCode).toBe(400);
      return ErrorBody.parse(answer.json()).error;
    };
    // The job service checks a tool's params: a language the fleet does not run is UnsupportedLanguage.
    expect(
      await refusal(post('/v1/jobs', { tool: 'code_execute', params: { language: 'cobol', code: '1' } })),
    ).toMatchObject({
      code: 'UnsupportedLanguage',
      message: expect.stringMatching(/^params\.language: /),
      details: { field: 'params.language' },
    });
    const oneBad = await refusal(
      post('/v1/batches', { jobs: [execute('print(1)'), execute('1', { language: 'fortran' })] }),
    );
    expect(oneBad).toMatchObject({ code: 'UnsupportedLanguage', details: { field: 'jobs.1.params.language' } });
    expect(await refusal(post('/v1/jobs', execute('print(1)', { timeout: -5 })))).toMatchObject({
      code: 'InvalidArgument',
      details: { field: 'params.timeout' },
    });
    // The route checks the body, the path and the query first.
    const waitTooLong = await refusal(post('/v1/jobs', { ...execute('print(1)'), wait_seconds: 600 }));
    expect(waitTooLong).toMatchObject({ code: 'InvalidArgument', details: { field: 'wait_seconds' } });
    expect((waitTooLong.details?.problems as unknown[]).length).toBeGreaterThan(0);
    expect(await refusal(post('/v1/jobs', [1, 2, 3]))).toMatchObject({
      code: 'InvalidArgument',
      details: { field: 'body' },
    });
    const get = (url: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${KEY}` } });
    expect(await refusal(get('/v1/jobs/job-1'))).toMatchObject({ details: { field: 'params.job_id' } });
    const job = (await post('/v1/jobs', execute('print(1)'))).json<{ job_id: string }>();
    expect(await refusal(get(`/v1/jobs/${job.job_id}?wait_seconds=61`))).toMatchObject({
      code: 'InvalidArgument',
      details: { field: 'querystring.wait_seconds' },
    });
  });
});
