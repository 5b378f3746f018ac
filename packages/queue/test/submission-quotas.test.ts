import { ManualClock } from '@harombe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { failedResult } from '../src/index.js';
import {
  alice,
  approvalIdOf,
  bob,
  carol,
  expectHarombeError,
  Harness,
  HIGH_EXECUTE,
  mallory,
  RESULT_TTL_SECONDS,
  useRedisContainer,
  type HarnessOptions,
} from './harness.js';

const container = useRedisContainer();

/** A HIGH job (it waits for approval) whose program is about `bytes` long. */
const sized = (bytes: number, tag = '') => ({
  tool: 'code_execute',
  params: { language: 'python', code: `x = '${tag}${'a'.repeat(bytes)}'` },
});

describe('submission quotas', () => {
  let h: Harness;
  let clock: ManualClock;
  const harness = (options: HarnessOptions): Harness => {
    clock = new ManualClock();
    h = new Harness(container.url, { clock, ...options });
    return h;
  };

  afterEach(async () => {
    await h.close();
  });

  it('refuses a tenant past its rate with RateLimited and when to try again; tokens come back at the rate', async () => {
    harness({ quotas: { submissions_per_second: 2, submission_burst: 3 } });
    for (let i = 0; i < 3; i += 1) await h.service.submit(alice, HIGH_EXECUTE);
    const limited = await expectHarombeError(h.service.submit(alice, HIGH_EXECUTE), 'RateLimited');
    expect(limited.details).toMatchObject({ quota: 'submissions_per_second', scope: 'tenant', retry_after_seconds: 1 });
    // Another key of the same tenant shares the tenant's bucket; another tenant has its own.
    await expectHarombeError(h.service.submit(bob, HIGH_EXECUTE), 'RateLimited');
    await h.service.submit(mallory, HIGH_EXECUTE);
    // Nothing was stored for the refused submissions.
    expect(await h.jobKeys()).toHaveLength(4);
    clock.advance(500);
    await h.service.submit(alice, HIGH_EXECUTE);
    await expectHarombeError(h.service.submit(alice, HIGH_EXECUTE), 'RateLimited');
  });

  it('takes a token per job of a batch; a batch larger than the burst is refused with LimitTooHigh', async () => {
    harness({ quotas: { submissions_per_second: 1, submission_burst: 5 } });
    const jobs = (n: number) => ({ jobs: Array.from({ length: n }, () => HIGH_EXECUTE) });
    await h.service.submitBatch(alice, jobs(4));
    const limited = await expectHarombeError(h.service.submitBatch(alice, jobs(2)), 'RateLimited');
    expect(limited.details).toMatchObject({ retry_after_seconds: 1 });
    const tooMany = await expectHarombeError(h.service.submitBatch(alice, jobs(6)), 'LimitTooHigh');
    expect(tooMany.details).toMatchObject({ limit: 'submission_burst', maximum: 5 });
    clock.advance(1000);
    await h.service.submitBatch(alice, jobs(2));
  });

  it("holds a key to its own limits, counted over its own submissions, within its tenant's", async () => {
    harness({
      quotas: {
        submissions_per_second: 100,
        submission_burst: 100,
        keys: { [alice.name]: { submissions_per_second: 1, submission_burst: 1, max_waiting_jobs: 5 } },
      },
    });
    await h.service.submit(alice, HIGH_EXECUTE);
    const limited = await expectHarombeError(h.service.submit(alice, HIGH_EXECUTE), 'RateLimited');
    expect(limited.details).toMatchObject({ scope: 'key' });
    expect(limited.message).toContain(`API key ${alice.name}`);
    // The tenant's other key is not held to alice's limits.
    for (let i = 0; i < 5; i += 1) await h.service.submit(bob, HIGH_EXECUTE);
  });

  it('refuses past max_waiting_jobs with QuotaExceeded; jobs that start or end leave the count', async () => {
    harness({ quotas: { max_waiting_jobs: 2 } });
    const first = await h.service.submit(alice, HIGH_EXECUTE);
    const second = await h.service.submit(alice, HIGH_EXECUTE);
    const refused = await expectHarombeError(h.service.submit(alice, HIGH_EXECUTE), 'QuotaExceeded');
    expect(refused.details).toMatchObject({ quota: 'max_waiting_jobs', limit: 2, held: 2, retry_after_seconds: 10 });
    // A batch counts each of its jobs.
    await expectHarombeError(h.service.submitBatch(bob, { jobs: [HIGH_EXECUTE] }), 'QuotaExceeded');
    // Denied: it ended, its place is free.
    await h.service.decide(carol, approvalIdOf(first), 'deny', null);
    const third = await h.service.submit(alice, HIGH_EXECUTE);
    await expectHarombeError(h.service.submit(alice, HIGH_EXECUTE), 'QuotaExceeded');
    // Approved, it is still waiting (queued); started, it no longer is.
    await h.service.decide(carol, approvalIdOf(second), 'approve', null);
    await expectHarombeError(h.service.submit(alice, HIGH_EXECUTE), 'QuotaExceeded');
    expect((await h.store.transition(second.job_id, 'start', { worker_id: 'w1' }, clock.now())).outcome).toBe('ok');
    await h.service.submit(alice, HIGH_EXECUTE);
    // A retry of a stored submission (same idempotency key) answers the job, whatever the quota says.
    await expectHarombeError(h.service.submit(alice, { ...HIGH_EXECUTE, idempotency_key: 'k' }), 'QuotaExceeded');
    await h.service.cancel(alice, third.job_id);
    const kept = await h.service.submit(alice, { ...HIGH_EXECUTE, idempotency_key: 'k' });
    expect((await h.service.submit(alice, { ...HIGH_EXECUTE, idempotency_key: 'k' })).job_id).toBe(kept.job_id);
    // Other tenants count apart.
    await h.service.submit(mallory, HIGH_EXECUTE);
  });

  it('refuses past max_stored_bytes until ended jobs expire, saying when', async () => {
    harness({ quotas: { max_stored_bytes: 30_000 } });
    const first = await h.service.submit(alice, sized(12_000, 'a'));
    await h.service.submit(alice, sized(12_000, 'b'));
    const refused = await expectHarombeError(h.service.submit(alice, sized(12_000, 'c')), 'QuotaExceeded');
    expect(refused.details).toMatchObject({ quota: 'max_stored_bytes', limit: 30_000, retry_after_seconds: 60 });
    expect(refused.details?.held).toBeGreaterThan(24_000);
    // Small jobs still fit.
    await h.service.submit(alice, sized(100, 'd'));
    // An ended job holds its bytes (and its result's) until its record expires.
    await h.service.decide(carol, approvalIdOf(first), 'deny', null);
    const held = await expectHarombeError(h.service.submit(alice, sized(12_000, 'c')), 'QuotaExceeded');
    expect(held.details?.retry_after_seconds).toBe(RESULT_TTL_SECONDS);
    clock.advance(RESULT_TTL_SECONDS * 1000);
    await h.service.submit(alice, sized(12_000, 'c'));
  });

  it("takes an expired job's bytes off its own key's quota as well as its tenant's", async () => {
    harness({ quotas: { max_stored_bytes: 100_000, keys: { [alice.name]: { max_stored_bytes: 20_000 } } } });
    const first = await h.service.submit(alice, sized(12_000, 'a'));
    const refused = await expectHarombeError(h.service.submit(alice, sized(12_000, 'b')), 'QuotaExceeded');
    expect(refused.details).toMatchObject({ quota: 'max_stored_bytes', scope: 'key', limit: 20_000 });
    // Another key of the tenant holds bytes of its own, for the tenant's quota only.
    const bobs = await h.service.submit(bob, sized(12_000, 'c'));
    await h.service.decide(carol, approvalIdOf(first), 'deny', null);
    await h.service.decide(carol, approvalIdOf(bobs), 'deny', null);
    const held = await expectHarombeError(h.service.submit(alice, sized(12_000, 'b')), 'QuotaExceeded');
    expect(held.details).toMatchObject({ scope: 'key', retry_after_seconds: RESULT_TTL_SECONDS });
    clock.advance(RESULT_TTL_SECONDS * 1000);
    const fresh = await h.service.submit(alice, sized(12_000, 'b'));
    // Each ended job left the count of the key that submitted it, and the tenant's.
    const stored = await h.redis.hget(h.keys.job(fresh.job_id), 'stored_bytes');
    expect(await h.redis.hget(h.keys.keyQuota(alice.tenant, alice.name), 'bytes')).toBe(stored);
    expect(await h.redis.hget(h.keys.keyQuota(bob.tenant, bob.name), 'bytes')).toBe('0');
    expect(await h.redis.hget(h.keys.quota(alice.tenant), 'bytes')).toBe(stored);
    expect(await h.redis.zcard(h.keys.quotaLapse(alice.tenant))).toBe(0);
  });

  it('counts a result stored with a job that ends against the tenant, and releases it with the job', async () => {
    harness({ quotas: { max_stored_bytes: 40_000 } });
    const job = await h.service.submit(alice, sized(1_000, 'small'));
    await h.service.decide(carol, approvalIdOf(job), 'approve', null);
    await h.store.transition(job.job_id, 'start', { worker_id: 'w1' }, clock.now());
    const record = await h.job(job.job_id);
    const ended = failedResult(record, 'InternalError', 'y'.repeat(15_000));
    expect((await h.store.transition(job.job_id, 'fail', ended, clock.now())).outcome).toBe('ok');
    await expectHarombeError(h.service.submit(alice, sized(12_000, 'c')), 'QuotaExceeded');
    clock.advance(RESULT_TTL_SECONDS * 1000);
    await h.service.submit(alice, sized(12_000, 'c'));
  });
});

describe('a full job store', () => {
  let h: Harness | undefined;

  afterEach(async () => {
    await h?.redis.config('SET', 'maxmemory', '0');
    await h?.close();
  });

  it('refuses submissions with StoreFull before Redis refuses writes, and the jobs already in still move', async () => {
    h = new Harness(container.url, { headroomReserve: 0.1 });
    const used = Number(/^used_memory:(\d+)/m.exec(await h.redis.info('memory'))?.[1]);
    await h.redis.config('SET', 'maxmemory-policy', 'noeviction');
    await h.redis.config('SET', 'maxmemory', String(used + 4 * 1_048_576));
    const accepted = [];
    let refusal;
    for (let i = 0; i < 200 && !refusal; i += 1) {
      try {
        accepted.push(await h.service.submit(alice, sized(100_000, String(i))));
      } catch (error) {
        refusal = error;
      }
    }
    expect(accepted.length).toBeGreaterThan(5);
    expect(refusal).toMatchObject({ code: 'StoreFull', details: { retry_after_seconds: 30 } });
    // Redis itself still takes writes: a decision on a job already in goes through and queues it.
    const decided = await h.service.decide(carol, approvalIdOf(accepted[0]!), 'approve', null);
    expect(decided.status).toBe('queued');
    // Once there is room again, submissions are taken again.
    await h.redis.config('SET', 'maxmemory', '0');
    await h.service.submit(alice, sized(100_000, 'after'));
  });

  it('reads Redis memory once a second, not per submission, and still refuses a store filling up between readings', async () => {
    const clock = new ManualClock();
    const harness = (h = new Harness(container.url, { clock, headroomReserve: 0.1 }));
    const used = Number(/^used_memory:(\d+)/m.exec(await harness.redis.info('memory'))?.[1]);
    await harness.redis.config('SET', 'maxmemory-policy', 'noeviction');
    await harness.redis.config('SET', 'maxmemory', String(used + 4 * 1_048_576));
    const readings = (commands: string[][]): number => commands.filter(([name]) => name === 'info').length;
    // While the clock stands still and the submissions leave room, one reading serves them all.
    const first = await harness.commandsDuring(async () => {
      for (let i = 0; i < 3; i += 1) await harness.service.submit(alice, sized(1_000, `small${i}`));
    });
    expect(readings(first.commands)).toBe(1);
    clock.advance(1_000);
    const later = await harness.commandsDuring(() => harness.service.submit(alice, sized(1_000, 'later')));
    expect(readings(later.commands)).toBe(1);

    // Others write half a MiB the reading has not seen, and submissions go on filling the store:
    // what they bring is counted on the reading, Redis is asked again as they near the ceiling,
    // and the one that would pass it is refused before Redis has to refuse anything.
    await harness.redis.set(`${harness.keys.tag}:others`, 'o'.repeat(512 * 1024));
    let refusal: unknown;
    let accepted = 0;
    const filling = await harness.commandsDuring(async () => {
      for (let i = 0; i < 200 && !refusal; i += 1) {
        try {
          await harness.service.submit(alice, sized(100_000, `fill${i}`));
          accepted += 1;
        } catch (error) {
          refusal = error;
        }
      }
    });
    expect(refusal).toMatchObject({ code: 'StoreFull', message: expect.stringContaining('submissions stop at') });
    expect(accepted).toBeGreaterThan(5);
    expect(readings(filling.commands)).toBeLessThan(accepted);
  });

  it('answers StoreFull, storing nothing, when Redis refuses the write at maxmemory itself', async () => {
    // No headroom check: the write reaches a Redis that is full.
    h = new Harness(container.url);
    const used = Number(/^used_memory:(\d+)/m.exec(await h.redis.info('memory'))?.[1]);
    await h.redis.config('SET', 'maxmemory-policy', 'noeviction');
    await h.redis.config('SET', 'maxmemory', String(used + 2 * 1_048_576));
    let refusal;
    let accepted = 0;
    for (let i = 0; i < 200 && !refusal; i += 1) {
      try {
        await h.service.submit(alice, sized(100_000, String(i)));
        accepted += 1;
      } catch (error) {
        refusal = error;
      }
    }
    expect(refusal).toMatchObject({ code: 'StoreFull' });
    // The refused job left nothing behind: as many job records as accepted submissions.
    expect(await h.jobKeys()).toHaveLength(accepted);
    await expectHarombeError(h.service.submitBatch(bob, { jobs: [sized(100_000, 'batch')] }), 'StoreFull');
  });
});
