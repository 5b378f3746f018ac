import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyOf, postAskingFirst, resultOf, runApproved, TestFleet, type TestKeyName } from '../src/index.js';

let fleet: TestFleet;
beforeAll(async () => {
  fleet = await TestFleet.start({
    config: { api: { max_body_bytes: 4 * 1_048_576 }, security: { sandbox: { max_file_bytes: 1_048_576 } } },
  });
});
afterAll(async () => {
  await fleet?.stop();
});

async function call(
  method: string,
  path: string,
  options: { key?: TestKeyName | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== null) headers.authorization = `Bearer ${keyOf(options.key ?? 'alice')}`;
  let body: string | undefined = options.raw;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(`${fleet.apiUrl}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  let json: { error?: { code: string; message: string; details?: Record<string, unknown> } } & Record<string, unknown> =
    {};
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: response.status, json, text };
}

const job = (params: Record<string, unknown>, tool = 'code_execute') => ({ tool, params });

describe('authentication', () => {
  it.each([
    ['no header', {}],
    ['not a bearer token', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['an empty bearer token', { authorization: 'Bearer ' }],
    ['a wrong key', { authorization: 'Bearer test-key-mallory-0123456789abcdef' }],
    ['a key with a control character', { authorization: 'Bearer abc\tdef' }],
  ])('answers 401 Unauthorized to %s', async (_name, headers) => {
    for (const [method, path] of [
      ['GET', '/v1/approvals'],
      ['POST', '/v1/jobs'],
      ['GET', '/v1/sandboxes'],
      ['GET', '/v1/jobs/job-000000000000000000000000'],
    ]) {
      const response = await call(method as string, path as string, {
        key: null,
        headers,
        ...(method === 'POST' ? { body: job({ language: 'python', code: '1' }) } : {}),
      });
      expect(response.status).toBe(401);
      expect(response.json.error?.code).toBe('Unauthorized');
    }
  });

  it('answers 403 Forbidden when the key lacks the scope', async () => {
    const submit = await call('POST', '/v1/jobs', { key: 'audrey', body: job({ language: 'python', code: '1' }) });
    expect(submit.status).toBe(403);
    expect(submit.json.error?.code).toBe('Forbidden');
    const batch = await call('POST', '/v1/batches', {
      key: 'bob',
      body: { jobs: [job({ language: 'python', code: '1' })] },
    });
    expect(batch.status).toBe(403);
  });
});

describe('tenant isolation', () => {
  it('hides another tenant’s jobs, batches, approvals and sandboxes exactly as if absent', async () => {
    const done = await runApproved(fleet.client('alice'), fleet.client('bob'), {
      tool: 'code_execute',
      params: { language: 'shell', code: 'echo secret > s.txt', keep_sandbox: true },
    });
    const sandbox_id = resultOf(done).sandbox_id as string;
    const absent = await call('GET', '/v1/jobs/job-000000000000000000000000', { key: 'eve' });
    const foreign = await call('GET', `/v1/jobs/${done.job_id}`, { key: 'eve' });
    expect(foreign.status).toBe(404);
    expect(foreign.json.error?.code).toBe(absent.json.error?.code);
    expect((await call('DELETE', `/v1/jobs/${done.job_id}`, { key: 'eve' })).status).toBe(404);
    expect((await call('DELETE', `/v1/sandboxes/${sandbox_id}`, { key: 'eve' })).status).toBe(404);
    const eveSandboxes = await call('GET', '/v1/sandboxes', { key: 'eve' });
    expect(JSON.stringify(eveSandboxes.json)).not.toContain(sandbox_id);

    // Eve names Alice's sandbox in a job of her own: it is not found, and nothing is read.
    const stolen = await runApproved(fleet.client('eve'), fleet.client('eve'), {
      tool: 'code_read_file',
      params: { sandbox_id, file_path: 's.txt' },
    }).catch((error: Error) => error);
    expect(stolen).toBeInstanceOf(Error); // Eve cannot approve her own job
    const eveJob = await fleet.client('eve').submitJob({ tool: 'code_destroy_sandbox', params: { sandbox_id } });
    const eveEnded = await fleet.client('eve').waitForJob(eveJob.job_id);
    expect(eveEnded).toMatchObject({ status: 'failed', error: { code: 'SandboxNotFound' } });
    expect((await fleet.client('alice').listSandboxes()).map((s) => s.sandbox_id)).toContain(sandbox_id);

    const waiting = await fleet
      .client('alice')
      .submitJob({ tool: 'code_execute', params: { language: 'python', code: 'print(1)' } });
    const approval = await call('POST', `/v1/approvals/${waiting.approval!.approval_id}/approve`, {
      key: 'eve',
      body: {},
    });
    expect(approval.status).toBe(404);
    const batch = await fleet
      .client('alice')
      .submitBatch({ jobs: [{ tool: 'code_execute', params: { language: 'python', code: 'print(2)' } }] });
    expect((await call('GET', `/v1/batches/${batch.batch_id}`, { key: 'eve' })).status).toBe(404);
    expect((await call('GET', `/v1/batches/${batch.batch_id}/results`, { key: 'eve' })).status).toBe(404);
    expect((await call('POST', `/v1/batches/${batch.batch_id}/approve`, { key: 'eve', body: {} })).status).toBe(404);
  });
});

describe('malformed, oversized and hostile input', () => {
  it('names the offending field with a stable code, and queues nothing', async () => {
    const before = (await fleet.client('bob').listApprovals()).length;
    const cases: [unknown, number, string, string?][] = [
      [{ tool: 'rm_rf', params: {} }, 400, 'UnknownTool', 'tool'],
      [job({ language: 'cobol', code: '1' }), 400, 'UnsupportedLanguage', 'params.language'],
      [job({ language: 'python' }), 400, 'InvalidArgument', 'params.code'],
      [job({ language: 'python', code: 1 }), 400, 'InvalidArgument', 'params.code'],
      [job({ language: 'python', code: '1', surprise: true }), 400, 'InvalidArgument'],
      [job({ language: 'python', code: '1', sandbox_id: '../../etc' }), 400, 'InvalidArgument', 'params.sandbox_id'],
      [job({ language: 'python', code: '1', timeout: -5 }), 400, 'InvalidArgument', 'params.timeout'],
      [{ params: { language: 'python', code: '1' } }, 400, 'InvalidArgument', 'tool'],
      [{ tool: 'code_execute', params: 'print(1)' }, 400, 'InvalidArgument', 'params'],
      [{ ...job({ language: 'python', code: '1' }), wait_seconds: 600 }, 400, 'InvalidArgument', 'wait_seconds'],
      [{ ...job({ language: 'python', code: '1' }), extra: 1 }, 400, 'InvalidArgument'],
      [[1, 2, 3], 400, 'InvalidArgument'],
      [job({ language: 'python', code: 'x'.repeat(1_048_577) }), 413, 'PayloadTooLarge', 'params.code'],
      [
        job(
          { sandbox_id: 'sandbox-0000000000000000', file_path: 'a.txt', content: 'y'.repeat(1_048_577) },
          'code_write_file',
        ),
        413,
        'PayloadTooLarge',
        'params.content',
      ],
    ];
    for (const [body, status, code, field] of cases) {
      const response = await call('POST', '/v1/jobs', { body });
      expect(response.status, JSON.stringify(body).slice(0, 100)).toBe(status);
      expect(response.json.error?.code, response.text.slice(0, 200)).toBe(code);
      expect(typeof response.json.error?.message).toBe('string');
      if (field) expect(response.json.error?.details?.field ?? response.json.error?.message).toContain(field);
    }
    expect((await fleet.client('bob').listApprovals()).length).toBe(before);
  });

  it('refuses bodies that are not JSON, too large, or try prototype pollution', async () => {
    const notJson = await call('POST', '/v1/jobs', { raw: '{"tool": ' });
    expect(notJson.status).toBe(400);
    expect(notJson.json.error?.code).toBe('InvalidArgument');
    const wrongType = await call('POST', '/v1/jobs', {
      raw: 'tool=code_execute',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.error?.code).toBe('InvalidArgument');
    const alicesKey = { authorization: `Bearer ${keyOf('alice')}` };
    const huge = await postAskingFirst(
      new URL('/v1/jobs', fleet.apiUrl),
      JSON.stringify(job({ language: 'python', code: 'x'.repeat(5 * 1_048_576) })),
      alicesKey,
    );
    expect(huge.status).toBe(413);
    expect(huge.sentBody).toBe(false);
    const fits = await postAskingFirst(
      new URL('/v1/jobs', fleet.apiUrl),
      JSON.stringify(job({ language: 'python', code: 'x'.repeat(2 * 1_048_576) })),
      alicesKey,
    );
    expect(fits.sentBody).toBe(true);
    expect(JSON.parse(fits.text).error.code).toBe('PayloadTooLarge'); // the code limit (1 MiB), not the body's
    expect(JSON.parse(huge.text).error.code).toBe('PayloadTooLarge');
    const polluted = await call('POST', '/v1/jobs', {
      raw: '{"tool":"code_execute","params":{"language":"python","code":"1","__proto__":{"admin":true}}}',
    });
    expect(polluted.status).toBe(400);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    const badId = await call('GET', '/v1/jobs/..%2F..%2Fetc%2Fpasswd');
    expect(badId.status).toBe(400);
    expect(badId.json.error?.code).toBe('InvalidArgument');
    const noRoute = await call('GET', '/v2/nothing');
    expect(noRoute.status).toBe(404);
    expect(noRoute.json.error?.code).toBe('NotFound');
  });

  it('refuses a batch over 10,000 jobs or with one bad job, naming its index', async () => {
    const tooMany = await call('POST', '/v1/batches', {
      body: { jobs: Array.from({ length: 10_001 }, () => job({ language: 'shell', code: 'true' })) },
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error?.details?.field).toBe('jobs');
    const oneBad = await call('POST', '/v1/batches', {
      body: { jobs: [job({ language: 'shell', code: 'true' }), job({ language: 'fortran', code: '1' })] },
    });
    expect(oneBad.status).toBe(400);
    expect(oneBad.json.error).toMatchObject({
      code: 'UnsupportedLanguage',
      details: { field: 'jobs.1.params.language' },
    });
  });
});

describe('service documents', () => {
  it('serves an OpenAPI document generated from the request schemas', async () => {
    const response = await call('GET', '/openapi.json', { key: null });
    expect(response.status).toBe(200);
    const doc = response.json as { openapi: string; paths: Record<string, Record<string, { requestBody?: unknown }>> };
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of [
      '/v1/jobs',
      '/v1/jobs/{job_id}',
      '/v1/batches',
      '/v1/batches/{batch_id}/results',
      '/v1/approvals',
      '/v1/approvals/{approval_id}/approve',
      '/v1/sandboxes/{sandbox_id}',
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    expect(JSON.stringify(doc.paths['/v1/jobs']!.post!.requestBody)).toContain('idempotency_key');
  });

  it('answers /healthz, /readyz and /metrics without a key', async () => {
    expect((await call('GET', '/healthz', { key: null })).status).toBe(200);
    const ready = await call('GET', '/readyz', { key: null });
    expect(ready.json).toMatchObject({ status: 'ready', checks: { redis: true, workers: true } });
    const metrics = await call('GET', '/metrics', { key: null });
    expect(metrics.text).toContain('harombe_api_requests_total');
    expect(metrics.text).toContain('process_cpu_user_seconds_total');
  });
});
