import { ErrorBody, type ApiKeyConfig, type AuditRecordView } from '@harombe/core';
import type { JobPipeline } from '@harombe/service-kit';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex, type ApiServer } from '../src/index.js';
import { ApiHarness } from './api-harness.js';

/**
 * What the API does with clients that misbehave: bad keys, decisions they may not make, more
 * submissions than their quotas allow, bodies too large, a full store. Each answer has its stable
 * code, and what someone must answer for lands in the audit trail and the log.
 */

const KEYS = {
  submitter: 'hk_submitter-of-acme',
  approver: 'hk_approver-of-acme',
  both: 'hk_submits-and-approves-at-acme',
  otherApprover: 'hk_approver-of-globex',
};
const keyConfigs: ApiKeyConfig[] = [
  { name: 'acme-submitter', tenant: 'acme', scopes: ['submit'], key_sha256: sha256Hex(KEYS.submitter) },
  { name: 'acme-approver', tenant: 'acme', scopes: ['approve'], key_sha256: sha256Hex(KEYS.approver) },
  { name: 'acme-both', tenant: 'acme', scopes: ['submit', 'approve'], key_sha256: sha256Hex(KEYS.both) },
  { name: 'globex-approver', tenant: 'globex', scopes: ['approve'], key_sha256: sha256Hex(KEYS.otherApprover) },
];
const HIGH = { tool: 'code_execute', params: { language: 'python', code: 'print(1)' } };

let container: RedisContainer;

beforeAll(async () => {
  container = await startRedis();
});

afterAll(async () => {
  await container?.stop();
});

let harness: ApiHarness | undefined;
let logLines: Record<string, unknown>[] = [];

async function start(config: Record<string, unknown> = {}): Promise<{ app: ApiServer; pipeline: JobPipeline }> {
  logLines = [];
  harness = await ApiHarness.start(container.url, {
    keys: keyConfigs,
    config,
    logger: pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line)) }),
    server: (p, parsed) => ({ audit: p.audit, maxBodyBytes: parsed.api.max_body_bytes }),
  });
  return harness;
}

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const request = (
  server: ApiServer,
  method: 'GET' | 'POST',
  url: string,
  key: string | undefined,
  payload?: unknown,
  headers: Record<string, string> = {},
) =>
  server.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload: payload as object }),
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
  });

async function records(p: JobPipeline, type: string): Promise<AuditRecordView[]> {
  return (await p.audit.read({ limit: 1000 })).records.filter((record) => record.type === type);
}

describe('refused authentication', () => {
  it('is logged and audited with its source and a prefix of the key hash; a flood is summarised, not recorded whole', async () => {
    const { app: server, pipeline: p } = await start();
    const unknown = await request(server, 'POST', '/v1/jobs', 'hk_guessed-key', HIGH);
    expect(unknown.statusCode).toBe(401);
    expect(ErrorBody.parse(unknown.json()).error.code).toBe('Unauthorized');
    expect((await request(server, 'GET', '/v1/approvals', undefined)).statusCode).toBe(401);
    // Recorded off the request's path: each lands a moment after its answer.
    await expect.poll(async () => (await records(p, 'authentication_refused')).length).toBe(2);
    const [first, second] = await records(p, 'authentication_refused');
    expect(first).toMatchObject({
      tenant: null,
      channel: 'api',
      details: {
        address: '127.0.0.1',
        method: 'POST',
        route: '/v1/jobs',
        reason: 'unknown_key',
        key_sha256_prefix: sha256Hex('hk_guessed-key').slice(0, 12),
      },
    });
    expect(second?.details).toMatchObject({ route: '/v1/approvals', reason: 'missing_or_malformed' });
    expect(JSON.stringify(first)).not.toContain('hk_guessed-key');
    expect(logLines.filter((line) => line.msg === 'authentication refused')).toHaveLength(2);

    for (let i = 0; i < 20; i += 1)
      expect((await request(server, 'GET', `/v1/jobs/job-${'0'.repeat(24)}`, `hk_flood-${i}`)).statusCode).toBe(401);
    // Five per address and window one by one; the rest as one summary when the window ends.
    await expect.poll(async () => (await records(p, 'authentication_refused')).length).toBe(5);
    await server.close();
    const all = await records(p, 'authentication_refused');
    expect(all).toHaveLength(6);
    expect(all[5]?.details).toEqual({ address: '127.0.0.1', reason: 'summary', count: 17 });
  });
});

describe('refused decisions', () => {
  it("a key approving its own job is refused and recorded; another tenant's approver gets NotFound, recorded under the job's tenant", async () => {
    const { app: server, pipeline: p } = await start();
    const job = (await request(server, 'POST', '/v1/jobs', KEYS.both, HIGH)).json();
    const approvalId = job.approval.approval_id as string;

    const self = await request(server, 'POST', `/v1/approvals/${approvalId}/approve`, KEYS.both, {});
    expect(self.statusCode, self.body).toBe(403);
    expect(ErrorBody.parse(self.json()).error.code).toBe('SelfApprovalForbidden');

    const foreign = await request(server, 'POST', `/v1/approvals/${approvalId}/approve`, KEYS.otherApprover, {});
    const missing = await request(
      server,
      'POST',
      '/v1/approvals/approval-000000000000000000000000/approve',
      KEYS.otherApprover,
      {},
    );
    // Exactly as a missing approval answers: another tenant learns nothing.
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error.code).toBe(missing.json().error.code);

    const batch = (await request(server, 'POST', '/v1/batches', KEYS.both, { jobs: [HIGH] })).json();
    expect(
      (await request(server, 'POST', `/v1/batches/${batch.batch_id}/approve`, KEYS.otherApprover, {})).statusCode,
    ).toBe(404);

    const refused = await records(p, 'decision_refused');
    expect(refused.map((r) => [r.tenant, r.job_id, r.actor, r.details.reason, r.details.actor_tenant])).toEqual([
      ['acme', job.job_id, 'acme-both', 'self_approval', 'acme'],
      ['acme', job.job_id, 'globex-approver', 'other_tenant', 'globex'],
      ['acme', null, 'globex-approver', 'other_tenant', 'globex'],
    ]);
    expect(refused[2]?.details.batch_id).toBe(batch.batch_id);
    expect(logLines.filter((line) => line.msg === 'decision refused').map((line) => line.reason)).toEqual([
      'self_approval',
      'other_tenant',
      'other_tenant',
    ]);
    // The job still waits; an approver of its own tenant decides it.
    expect((await request(server, 'POST', `/v1/approvals/${approvalId}/approve`, KEYS.approver, {})).statusCode).toBe(
      200,
    );
  });
});

describe('quotas and limits', () => {
  it('answers 429 RateLimited with Retry-After past the submission rate, per tenant', async () => {
    const { app: server } = await start({ quotas: { submissions_per_second: 1, submission_burst: 2 } });
    for (let i = 0; i < 2; i += 1)
      expect((await request(server, 'POST', '/v1/jobs', KEYS.submitter, HIGH)).statusCode).toBe(202);
    const limited = await request(server, 'POST', '/v1/jobs', KEYS.both, HIGH);
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    expect(ErrorBody.parse(limited.json()).error).toMatchObject({
      code: 'RateLimited',
      details: { quota: 'submissions_per_second', limit: 1 },
    });
    const batch = await request(server, 'POST', '/v1/batches', KEYS.submitter, { jobs: [HIGH, HIGH, HIGH] });
    expect(batch.statusCode).toBe(400);
    expect(batch.json().error).toMatchObject({ code: 'LimitTooHigh', details: { limit: 'submission_burst' } });
  });

  it('answers 429 QuotaExceeded with Retry-After past the waiting jobs a key may have', async () => {
    const { app: server } = await start({ quotas: { keys: { 'acme-submitter': { max_waiting_jobs: 1 } } } });
    expect((await request(server, 'POST', '/v1/jobs', KEYS.submitter, HIGH)).statusCode).toBe(202);
    const refused = await request(server, 'POST', '/v1/jobs', KEYS.submitter, HIGH);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('10');
    expect(refused.json().error).toMatchObject({
      code: 'QuotaExceeded',
      details: { quota: 'max_waiting_jobs', scope: 'key' },
    });
    // The tenant's other key is not held to it.
    expect((await request(server, 'POST', '/v1/jobs', KEYS.both, HIGH)).statusCode).toBe(202);
  });

  it('refuses bodies over 2 MiB by default with 413 PayloadTooLarge, before reading them when asked first', async () => {
    const { app: server } = await start();
    const write = (bytes: number) => ({
      tool: 'code_write_file',
      params: { sandbox_id: 'sandbox-0123456789abcdef', file_path: 'data.txt', content: 'a'.repeat(bytes) },
    });
    const large = await request(server, 'POST', '/v1/jobs', KEYS.submitter, write(2 * 1_048_576));
    expect(large.statusCode).toBe(413);
    expect(ErrorBody.parse(large.json()).error).toMatchObject({
      code: 'PayloadTooLarge',
      details: { max_bytes: 2 * 1_048_576 },
    });
    expect(large.json().error.message).toContain('api.max_body_bytes');
    expect((await request(server, 'POST', '/v1/jobs', KEYS.submitter, write(1_900_000))).statusCode).toBe(202);
  });

  it('answers 503 StoreFull with Retry-After when Redis is near its maxmemory, and answers reads all the same', async () => {
    const { app: server, pipeline: p } = await start();
    const commands = harness!.redis.commands;
    const accepted = (await request(server, 'POST', '/v1/jobs', KEYS.submitter, HIGH)).json();
    const used = Number(/^used_memory:(\d+)/m.exec(await commands.info('memory'))?.[1]);
    await commands.config('SET', 'maxmemory-policy', 'noeviction');
    await commands.config('SET', 'maxmemory', String(used + 64 * 1024));
    try {
      const full = await request(server, 'POST', '/v1/jobs', KEYS.submitter, HIGH);
      expect(full.statusCode).toBe(503);
      expect(full.headers['retry-after']).toBe('30');
      expect(ErrorBody.parse(full.json()).error.code).toBe('StoreFull');
      expect((await request(server, 'GET', `/v1/jobs/${accepted.job_id}`, KEYS.submitter)).statusCode).toBe(200);
      expect(logLines.some((line) => line.msg === 'request failed')).toBe(false);
    } finally {
      await commands.config('SET', 'maxmemory', '0');
    }
    expect((await request(server, 'POST', '/v1/jobs', KEYS.submitter, HIGH)).statusCode).toBe(202);
    expect(p).toBeDefined();
  });
});
