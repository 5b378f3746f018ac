import { AuditPage, type ApiKeyConfig } from '@harombe/core';
import type { Principal } from '@harombe/queue';
import type { JobPipeline } from '@harombe/service-kit';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex, type ApiServer } from '../src/index.js';
import { ApiHarness } from './api-harness.js';

const KEYS = { admin: 'hk_admin-of-acme', submitter: 'hk_submitter-of-acme', otherAdmin: 'hk_admin-of-globex' };
const keyConfigs: ApiKeyConfig[] = [
  { name: 'acme-admin', tenant: 'acme', scopes: ['admin'], key_sha256: sha256Hex(KEYS.admin) },
  { name: 'acme-submitter', tenant: 'acme', scopes: ['submit'], key_sha256: sha256Hex(KEYS.submitter) },
  { name: 'globex-admin', tenant: 'globex', scopes: ['admin'], key_sha256: sha256Hex(KEYS.otherAdmin) },
];
const acme: Principal = { tenant: 'acme', name: 'acme-submitter', scopes: ['submit'] };
const globex: Principal = { tenant: 'globex', name: 'globex-submitter', scopes: ['submit'] };
const HIGH = { tool: 'code_execute', params: { language: 'python', code: 'print(1)' } };

let container: RedisContainer;

beforeAll(async () => {
  container = await startRedis();
});

afterAll(async () => {
  await container?.stop();
});

describe('GET /v1/audit', () => {
  let harness: ApiHarness;
  let pipeline: JobPipeline;
  let app: ApiServer;

  beforeEach(async () => {
    harness = await ApiHarness.start(container.url, {
      keys: keyConfigs,
      server: (p) => ({ audit: p.audit }),
    });
    ({ app, pipeline } = harness);
  });

  afterEach(() => harness.close());

  const get = (url: string, key?: string) =>
    app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });

  it("answers an admin key with its own tenant's records only, page by page", async () => {
    const first = await pipeline.jobs.submit(acme, HIGH);
    await pipeline.jobs.submit(globex, HIGH);
    const second = await pipeline.jobs.submit(acme, HIGH);

    const page = await get('/v1/audit?limit=3', KEYS.admin);
    expect(page.statusCode).toBe(200);
    const body = AuditPage.parse(page.json());
    expect(body.records.map((record) => [record.type, record.job_id])).toEqual([
      ['classified', first.job_id],
      ['approval_requested', first.job_id],
      ['classified', second.job_id],
    ]);
    expect(body.records.every((record) => record.tenant === 'acme' && /^[0-9a-f]{64}$/.test(record.hash))).toBe(true);
    const rest = AuditPage.parse((await get(`/v1/audit?after=${body.next_after}`, KEYS.admin)).json());
    expect(rest.records.map((record) => [record.type, record.job_id])).toEqual([['approval_requested', second.job_id]]);

    const byJob = AuditPage.parse((await get(`/v1/audit?job_id=${first.job_id}`, KEYS.admin)).json());
    expect(byJob.records.map((record) => record.type)).toEqual(['classified', 'approval_requested']);
    // Another tenant's admin sees another tenant's records: none of acme's.
    const other = AuditPage.parse((await get(`/v1/audit?job_id=${first.job_id}`, KEYS.otherAdmin)).json());
    expect(other.records).toEqual([]);
  });

  it('needs a key with scope admin', async () => {
    expect((await get('/v1/audit')).statusCode).toBe(401);
    const forbidden = await get('/v1/audit', KEYS.submitter);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json()).toMatchObject({ error: { code: 'Forbidden' } });
  });

  it('refuses a malformed cursor, naming it', async () => {
    const response = await get('/v1/audit?after=yesterday', KEYS.admin);
    expect(response.statusCode).toBe(400);
    expect(JSON.stringify(response.json())).toContain('after');
  });
});
