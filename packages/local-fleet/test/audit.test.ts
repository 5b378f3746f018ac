import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditTrail, RedisKeys, type AuditEntry } from '@harombe/queue';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closedPort, harombe, tempDir } from './harombe-cli.js';

let container: RedisContainer;
let redis: Redis;

beforeAll(async () => {
  container = await startRedis();
  redis = new Redis(container.url);
});

afterAll(async () => {
  redis?.disconnect();
  await container?.stop();
});

const entry = (jobId: string, type: AuditEntry['type'], details: Record<string, unknown> = {}): AuditEntry => ({
  type,
  tenant: 'acme',
  job_id: jobId,
  tool: 'code_execute',
  payload_sha256: 'a'.repeat(64),
  actor: 'alice-key',
  channel: 'api',
  details,
});

describe('harombe audit', () => {
  let trail: AuditTrail;
  let cwd: string;
  let env: Record<string, string>;
  const jobA = `job-${'a'.repeat(24)}`;
  const jobB = `job-${'b'.repeat(24)}`;

  beforeEach(async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    trail = new AuditTrail({ redis, keys: new RedisKeys(prefix) });
    await trail.appendMany([
      entry(jobA, 'classified', { risk: 'HIGH', rule: 'Code execution' }),
      entry(jobA, 'approval_requested'),
      entry(jobB, 'classified', { risk: 'LOW' }),
      { ...entry(jobA, 'decided', { decision: 'denied', reason: 'looks wrong' }), actor: 'slack:U1', channel: 'slack' },
    ]);
    cwd = tempDir();
    const config = join(cwd, 'harombe.yaml');
    writeFileSync(config, `redis:\n  url: ${container.url}\n  prefix: ${prefix}\n`);
    env = { HAROMBE_CONFIG: config };
  });

  it('verify: exits 0 on an intact trail and names its head', () => {
    const run = harombe(['audit', 'verify'], { env, cwd });
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^audit trail intact: 4 records, head #4 [0-9a-f]{64}\n$/);
    expect(run.status).toBe(0);
  });

  it('verify: exits 1 and says what is wrong when a record was removed', async () => {
    const [, second] = (await redis.xrange(trail.streamKey, '-', '+')) as [string, string[]][];
    await redis.xdel(trail.streamKey, second?.[0] as string);
    const run = harombe(['audit', 'verify'], { env, cwd });
    expect(run.stdout).toMatch(
      /^audit trail TAMPERED: 1 problem in 3 records\n {2}removed: 1 record missing before record 3/,
    );
    expect(run.status).toBe(1);
    const json = JSON.parse(harombe(['audit', 'verify', '--json'], { env, cwd }).stdout) as {
      ok: boolean;
      problems: { kind: string }[];
    };
    expect(json).toMatchObject({ ok: false, problems: [{ kind: 'removed' }] });
  });

  it('tail: prints the latest records, oldest first, filtered by job, as text or NDJSON', () => {
    const text = harombe(['audit', 'tail', '-n', '2'], { env, cwd });
    expect(text.status).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`#3  classified +  ${jobB}  acme  alice-key \\(api\\)  risk=LOW$`));
    expect(lines[1]).toMatch(
      new RegExp(`#4  decided +  ${jobA}  acme  slack:U1 \\(slack\\)  decision=denied reason="looks wrong"$`),
    );
    const json = harombe(['audit', 'tail', '--job', jobA, '--json'], { env, cwd });
    expect(
      json.stdout
        .trimEnd()
        .split('\n')
        .map((line) => (JSON.parse(line) as { seq: number }).seq),
    ).toEqual([1, 2, 4]);
  });

  it('takes the Redis URL from --redis-url and says where it came from when unreachable', async () => {
    const url = `redis://127.0.0.1:${await closedPort()}`;
    const run = harombe(['audit', 'verify', '--redis-url', url], { env, cwd });
    expect(run.stderr).toMatch(
      new RegExp(`^harombe: ServiceUnavailable: cannot reach Redis at ${url}/? \\(from --redis-url\\)`),
    );
    // The connection's own reason, not ioredis's "Connection is closed."
    expect(run.stderr).toContain('ECONNREFUSED');
    expect(run.status).toBe(2);
  });
});
