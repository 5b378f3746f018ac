import { isHarombeApiError } from '@harombe/client';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { TestFleet } from '../src/index.js';

let fleet: TestFleet | undefined;
let redis: Redis | undefined;
afterEach(async () => {
  await redis?.config('SET', 'maxmemory', '0').catch(() => undefined);
  redis?.disconnect();
  await fleet?.stop();
  fleet = undefined;
});

describe('a job store near its maxmemory', () => {
  it('refuses submissions with 503 StoreFull while the fleet runs on: an approved job still runs and ends, no service dies', async () => {
    fleet = await TestFleet.start();
    const alice = fleet.client('alice');
    const bob = fleet.client('bob');
    const waiting = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'shell', code: 'echo "still ran"' },
    });
    redis = new Redis(fleet.redis.url);
    const used = Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))?.[1]);
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.config('SET', 'maxmemory', String(used + 4 * 1_048_576));

    // A submit-only key trying to fill Redis with large programs (512 KiB each).
    let refusal: unknown;
    for (let i = 0; i < 100 && !refusal; i += 1) {
      await alice
        .submitJob({
          tool: 'code_execute',
          params: { language: 'python', code: `x = '${String(i).padEnd(512 * 1024, 'a')}'` },
        })
        .catch((error: unknown) => (refusal = error));
    }
    expect(isHarombeApiError(refusal) && [refusal.status, refusal.code]).toEqual([503, 'StoreFull']);

    // The jobs already in still move: approved, run, their results written.
    await bob.approve(waiting.approval!.approval_id, 'store full, job already in');
    const ended = await alice.waitForJob(waiting.job_id, { timeoutMs: 120_000 });
    expect(ended).toMatchObject({ status: 'completed', result: { stdout: 'still ran\n', exit_code: 0 } });
    // Every service is still up and answering.
    for (const service of [fleet.fleet.api, fleet.fleet.approval, ...fleet.fleet.workers])
      expect(service?.child.exitCode, service?.service).toBeNull();
    expect((await fetch(`${fleet.apiUrl}/readyz`)).status).toBe(200);

    // With room again, submissions are taken again.
    await redis.config('SET', 'maxmemory', '0');
    expect(
      (await alice.submitJob({ tool: 'code_execute', params: { language: 'shell', code: 'echo again' } })).status,
    ).toBe('awaiting_approval');
  });
});
