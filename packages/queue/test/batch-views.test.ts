import { BatchView, JobView, ManualClock, type ExecutionResult, type JobStatus } from '@harombe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatchViews, toJobView, type BatchRecord, type JobStore } from '../src/index.js';
import {
  alice,
  bob,
  expectHarombeError,
  Harness,
  HIGH_EXECUTE,
  OTHER_TENANT,
  TENANT,
  useRedisContainer,
} from './harness.js';

const redisContainer = useRedisContainer();
const MIB = 1_048_576;

const result = (stdout: string): ExecutionResult => ({
  success: true,
  sandbox_id: null,
  sandbox_kept: false,
  stdout,
  stderr: '',
  exit_code: 0,
  execution_time: 0.5,
  error: null,
});

describe('BatchViews', () => {
  let h: Harness;
  let clock: ManualClock;
  let views: BatchViews;

  beforeEach(() => {
    clock = new ManualClock();
    // A fresh prefix (queue names and keys) per test.
    h = new Harness(redisContainer.url, { clock });
    views = new BatchViews({ store: h.store, batches: h.batches });
  });

  afterEach(async () => {
    await h.close();
  });

  /** A batch of `n` jobs; those in `ended` approved, run and completed with `stdoutOf(i)`. */
  async function batchOf(
    n: number,
    ended: (i: number) => boolean,
    stdoutOf: (i: number) => string = String,
  ): Promise<{ batch: BatchRecord; jobIds: string[] }> {
    const created = await h.service.submitBatch(alice, { jobs: Array.from({ length: n }, () => HIGH_EXECUTE) });
    for (const [i, jobId] of created.job_ids.entries()) {
      if (!ended(i)) continue;
      await h.service.decide(bob, (await h.job(jobId)).approval!.approval_id, 'approve', null);
      await h.store.transition(jobId, 'start', { worker_id: 'w1' }, clock.now());
      await h.store.transition(jobId, 'complete', { result: result(stdoutOf(i)), error: null }, clock.now());
    }
    return { batch: (await h.batches.get(created.batch_id)) as BatchRecord, jobIds: created.job_ids };
  }

  it('shows a page of the batch’s jobs in submission order, with counts of every status and where the next page starts', async () => {
    const { batch, jobIds } = await batchOf(5, (i) => i === 1);
    await h.service.decide(bob, (await h.job(jobIds[2]!)).approval!.approval_id, 'approve', null);

    const first = BatchView.parse(await views.page(batch, 0, 2));
    expect(first).toMatchObject({
      batch_id: batch.batch_id,
      created_at: new Date(batch.created_at).toISOString(),
      total: 5,
      next_offset: 2,
    });
    expect(first.counts).toEqual({
      queued: 1,
      awaiting_approval: 3,
      running: 0,
      completed: 1,
      denied: 0,
      expired: 0,
      cancelled: 0,
      failed: 0,
    } satisfies Record<JobStatus, number>);
    expect(first.jobs.map((job) => [job.job_id, job.status])).toEqual([
      [jobIds[0], 'awaiting_approval'],
      [jobIds[1], 'completed'],
    ]);
    expect(first.jobs[1]).toEqual(JobView.parse(toJobView(await h.job(jobIds[1]!))));
    expect(first).not.toHaveProperty('callback_url');

    const last = await views.page(batch, 4, 2);
    expect(last.jobs.map((job) => job.job_id)).toEqual([jobIds[4]]);
    expect(last.next_offset).toBeNull();
    expect((await views.page(batch, 5, 100)).jobs).toEqual([]);
  });

  it('answers the counts alone for limit 0, pointing at the first page (what batch.finished carries)', async () => {
    const { batch } = await batchOf(3, () => true);
    const view = await views.page(batch, 0, 0);
    expect(view.jobs).toEqual([]);
    expect(view.next_offset).toBe(0);
    expect(view.counts.completed).toBe(3);
  });

  it('names the callback_url the batch was submitted with', async () => {
    const created = await h.service.submitBatch(alice, {
      jobs: [HIGH_EXECUTE],
      callback_url: 'https://hooks.example.com/batches',
    });
    const batch = (await h.batches.get(created.batch_id)) as BatchRecord;
    expect((await views.page(batch, 0, 10)).callback_url).toBe('https://hooks.example.com/batches');
  });

  it('finds a batch for its own tenant only: another tenant’s, or none, is NotFound', async () => {
    const { batch } = await batchOf(1, () => false);
    expect(await views.owned(TENANT, batch.batch_id)).toEqual(batch);
    const foreign = await expectHarombeError(views.owned(OTHER_TENANT, batch.batch_id), 'NotFound');
    expect(foreign.message).toBe(`batch ${batch.batch_id} not found`);
    await expectHarombeError(views.owned(TENANT, 'batch-000000000000000000000000'), 'NotFound');
  });

  it('gives the NDJSON lines of the ended jobs only, in submission order, across pages of ids', async () => {
    const paged = new BatchViews({ store: h.store, batches: h.batches, idsPerPage: 3 });
    const { batch, jobIds } = await batchOf(8, (i) => i !== 2 && i !== 6);
    const lines: string[] = [];
    for await (const line of paged.resultLines(batch)) lines.push(line);
    expect(lines.every((line) => line.endsWith('\n') && line.indexOf('\n') === line.length - 1)).toBe(true);
    const jobs = lines.map((line) => JobView.parse(JSON.parse(line)));
    expect(jobs.map((job) => job.job_id)).toEqual(jobIds.filter((_, i) => i !== 2 && i !== 6));
    expect(jobs.map((job) => job.result?.stdout)).toEqual(['0', '1', '3', '4', '5', '7']);
  });

  it('reads jobs a few at a time, by their size, and only as the lines are taken', async () => {
    const { batch, jobIds } = await batchOf(
      24,
      () => true,
      (i) => (i < 12 ? 'x'.repeat(MIB) : `${i}`),
    );
    const reads: number[] = [];
    const store = Object.create(h.store) as JobStore;
    store.getMany = async (ids) => {
      reads.push(ids.length);
      return h.store.getMany(ids);
    };
    const lines = new BatchViews({ store, batches: h.batches, maxReadBytes: 3 * MIB }).resultLines(batch);
    let taken = 0;
    for await (const line of lines) {
      taken += 1;
      // Never more read than taken, but for the rest of the group being handed out.
      expect(reads.reduce((sum, n) => sum + n, 0) - taken).toBeLessThan(reads.at(-1)!);
      expect(JSON.parse(line)).toMatchObject({ job_id: jobIds[taken - 1] });
    }
    expect(taken).toBe(24);
    // The 1 MiB jobs come two at a time (a third would pass 3 MiB), the last two with the small ones.
    expect(reads).toEqual([2, 2, 2, 2, 2, 14]);
  });
});
