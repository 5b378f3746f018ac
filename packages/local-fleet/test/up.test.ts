import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLoopbackPort } from '../src/index.js';
import { harombeAsync, tempDir } from './harombe-cli.js';

// The whole fleet with real sandboxes: run under the Docker lock.

let redis: RedisContainer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

describe('harombe up', () => {
  it('writes a configuration and keys, starts the fleet, runs the first job through approval, and stops', async () => {
    const cwd = tempDir();
    const port = await freeLoopbackPort();
    const run = await harombeAsync(['up', '--port', String(port), '--exit-after-first-job'], {
      cwd,
      env: { HAROMBE_REDIS_URL: redis.url },
      timeoutMs: 180_000,
    });
    expect(run.stdout, run.stderr).toMatch(/^Hello from a gVisor sandbox: Python 3\.\S+ on Linux /);
    expect(run.stderr).toMatch(/harombe: first job job-\w+: risk HIGH .*awaiting_approval/);
    expect(run.stderr).toMatch(/harombe: approved by local-approver/);
    expect(run.stderr).toContain(`harombe: fleet ready at http://127.0.0.1:${port}`);
    expect(run.stderr).toMatch(/harombe: first job completed, exit code 0/);
    expect(run.status).toBe(0);
    const home = join(cwd, '.harombe');
    expect(existsSync(join(home, 'harombe.yaml'))).toBe(true);
    const credentials = JSON.parse(readFileSync(join(home, 'local.json'), 'utf8')) as Record<string, unknown>;
    expect(credentials).toMatchObject({ api_url: `http://127.0.0.1:${port}`, keys: { submit: expect.any(String) } });
    // Every service logged to its own file.
    for (const service of ['approval-1', 'worker-2', 'api-3'])
      expect(readFileSync(join(home, 'logs', `${service}.log`), 'utf8')).toMatch(/"level":30/);
  });
});
