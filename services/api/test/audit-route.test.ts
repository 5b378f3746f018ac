import { randomUUID } from 'node:crypto';
import { AuditPage, ManualClock, parseConfig, type ApiKeyConfig } from '@harombe/core';
import type { Principal } from '@harombe/queue';
import { createJobPipeline, RedisConnections, type JobPipeline } from '@harombe/service-kit';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiKeyring, buildApiServer, sha256Hex, type ApiServer } from '../src/index.js';

const logger = pino({ level: 'silent' });
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
  let redis: RedisConnections;
  let pipeline: JobPipeline;
  let app: ApiServer;

  beforeEach(async () => {
    const config = parseConfig({ redis: { url: container.url, prefix: `t${randomUUID().slice(0, 8)}` } });
    redis = new RedisConnections(container.url, logger);
    pipeline = createJobPipeline(config, redis, logger, new ManualClock());
    app = await buildApiServer({
      service: pipeline.jobs,
      store: pipeline.store,
      batches: pipeline.batches,
      sandboxes: pipeline.sandboxes,
      workers: pipeline.workers,
      keyring: new ApiKeyring(keyConfigs),
      metrics: new Registry(),
      readiness: {},
      clock: pipeline.clock,
      logger,
      audit: pipeline.audit,
    });
  });

  afterEach(async () => {
    await app.close();
    await pipeline.close();
    await redis.close();
  });

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
