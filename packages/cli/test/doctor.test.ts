import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkApi, checkConfig, checkRedis, formatCheck, redactUrl } from '../src/commands/doctor.js';
import { closedPort, harombe, tempDir } from './harombe-cli.js';

describe('harombe doctor', () => {
  it('reports an unreachable Redis and API as FAIL with the fix, and exits 1', async () => {
    const port = await closedPort();
    const run = harombe(['doctor', '--api-url', `http://127.0.0.1:${port}`], { env: { HAROMBE_REDIS_URL: 'redis://127.0.0.1:1' } });
    expect(run.stdout).toMatch(/^FAIL {2}Redis reachable at redis:\/\/127\.0\.0\.1:1: .*ECONNREFUSED.*\n {6}fix: start Redis .*HAROMBE_REDIS_URL/m);
    expect(run.stdout).toMatch(new RegExp(`^FAIL  API ready at http://127\\.0\\.0\\.1:${port} \\(from --api-url\\): .*ECONNREFUSED.*\\n      fix: start a local fleet with \`harombe up\``, 'm'));
    expect(run.stdout).toMatch(/^ok {4}configuration valid: no harombe\.yaml: the defaults$/m);
    // One line per check (Docker ones included, whatever this host has), each ok or FAIL.
    for (const line of run.stdout.split('\n').filter((l) => l && !l.startsWith('      fix: '))) expect(line).toMatch(/^(ok {4}|FAIL {2})\S/);
    expect(run.stdout).toMatch(/Docker engine reachable/);
    expect(run.stdout).toMatch(/sandbox image harombe\/sandbox-python present/);
    expect(run.stderr).toMatch(/checks? failed/);
    expect(run.status).toBe(1);
  });

  it('names the bad key of an invalid configuration, and goes on with the defaults', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'harombe.yaml'), 'api:\n  port: eighty\nredis:\n  url: redis://127.0.0.1:1\n');
    const run = harombe(['doctor', '--api-url', `http://127.0.0.1:${await closedPort()}`], { cwd });
    expect(run.stdout).toMatch(/^FAIL {2}configuration valid: invalid harombe\.yaml: api\.port: .*\n {6}fix: correct harombe\.yaml/m);
    expect(run.stdout).toMatch(/Redis reachable at redis:\/\/127\.0\.0\.1:6379/);
    expect(run.status).toBe(1);
  });

  it('checks pure: config file, Redis, API', async () => {
    expect(checkConfig(undefined).check.ok).toBe(true);
    expect(checkConfig('/nonexistent/harombe.yaml').check).toMatchObject({ ok: false, detail: expect.stringMatching(/cannot read configuration file/) });
    const redis = await checkRedis('redis://127.0.0.1:1');
    expect(redis).toMatchObject({ ok: false, name: 'Redis reachable at redis://127.0.0.1:1' });
    const started = Date.now();
    const api = await checkApi({ flags: { apiUrl: `http://127.0.0.1:${await closedPort()}` }, env: {} });
    expect(api.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(formatCheck({ name: 'x', ok: false, detail: 'broken', fix: 'mend it' })).toBe('FAIL  x: broken\n      fix: mend it\n');
    expect(formatCheck({ name: 'x', ok: true })).toBe('ok    x\n');
    expect(redactUrl('redis://:secret@host:6379/0')).toBe('redis://:***@host:6379/0');
  });
});
