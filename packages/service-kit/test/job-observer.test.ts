import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sampleValue } from './metric-samples.js';
import { alice, bob, PipelineFixture } from './pipeline-fixture.js';

let container: RedisContainer;
beforeAll(async () => {
  container = await startRedis();
});
afterAll(async () => {
  await container?.stop();
});

describe('JobMetrics told by the job pipeline (its observer)', () => {
  let f: PipelineFixture;
  beforeEach(() => {
    f = new PipelineFixture(container.url);
  });
  afterEach(async () => {
    await f.close();
  });

  const value = (name: string, labels: Record<string, string> = {}) => sampleValue(f.registry, name, labels);

  it('counts submissions by tool and language, single and batched, and an idempotent repeat once', async () => {
    await f.submitCode();
    const request = { tool: 'code_execute', params: { language: 'python', code: 'print(2)' }, idempotency_key: 'k1' };
    await f.pipeline.jobs.submit(alice, request);
    await f.pipeline.jobs.submit(alice, request);
    await f.pipeline.jobs.submitBatch(alice, {
      jobs: [
        { tool: 'code_execute', params: { language: 'shell', code: 'true' } },
        { tool: 'code_list_files', params: { sandbox_id: 'sandbox-0123456789abcdef' } },
      ],
    });
    expect(await value('harombe_jobs_submitted_total', { tool: 'code_execute', language: 'python' })).toBe(2);
    expect(await value('harombe_jobs_submitted_total', { tool: 'code_execute', language: 'shell' })).toBe(1);
    expect(await value('harombe_jobs_submitted_total', { tool: 'code_list_files', language: 'none' })).toBe(1);
  });

  it('counts approvals and denials with their risk, how long the approval waited, and the denied job', async () => {
    const approved = await f.submitCode();
    const denied = await f.submitCode();
    f.clock.advance(4_000);
    await f.pipeline.jobs.decide(bob, approved.approval!.approval_id, 'approve', null);
    await f.pipeline.jobs.decide(bob, denied.approval!.approval_id, 'deny', 'no');
    expect(await value('harombe_approvals_total', { outcome: 'approved', risk: 'HIGH' })).toBe(1);
    expect(await value('harombe_approvals_total', { outcome: 'denied', risk: 'HIGH' })).toBe(1);
    expect(await value('harombe_job_duration_seconds_count', { phase: 'approval_wait' })).toBe(2);
    expect(await value('harombe_job_duration_seconds_sum', { phase: 'approval_wait' })).toBe(8);
    expect(await value('harombe_jobs_total', { tool: 'code_execute', language: 'python', status: 'denied' })).toBe(1);
    expect(await value('harombe_errors_total', { code: 'ApprovalDenied' })).toBe(1);
    // The approved job is queued, not ended: no end is counted for it.
    expect(
      await value('harombe_jobs_total', { tool: 'code_execute', language: 'python', status: 'queued' }),
    ).toBeUndefined();
  });

  it('counts each decision of a batch decision', async () => {
    const batch = await f.pipeline.jobs.submitBatch(alice, {
      jobs: [1, 2, 3].map((i) => ({ tool: 'code_execute', params: { language: 'python', code: `print(${i})` } })),
    });
    await f.pipeline.jobs.decideBatch(bob, batch.batch_id, 'approve', null);
    expect(await value('harombe_approvals_total', { outcome: 'approved', risk: 'HIGH' })).toBe(3);
  });

  it('counts cancels, withdrawn approvals and expiries', async () => {
    const cancelled = await f.submitCode();
    await f.pipeline.jobs.cancel(alice, cancelled.job_id);
    const expiring = await f.submitCode();
    f.clock.advance(61_000);
    expect(await f.pipeline.jobs.expire(expiring.job_id)).toBe(true);
    // A second expiry of the same job changes nothing and counts nothing.
    expect(await f.pipeline.jobs.expire(expiring.job_id)).toBe(false);
    expect(await value('harombe_jobs_total', { tool: 'code_execute', language: 'python', status: 'cancelled' })).toBe(
      1,
    );
    expect(await value('harombe_approvals_total', { outcome: 'cancelled', risk: 'HIGH' })).toBe(1);
    expect(await value('harombe_jobs_total', { tool: 'code_execute', language: 'python', status: 'expired' })).toBe(1);
    expect(await value('harombe_approvals_total', { outcome: 'expired', risk: 'HIGH' })).toBe(1);
    expect(await value('harombe_errors_total', { code: 'ApprovalTimeout' })).toBe(1);
    expect(await value('harombe_errors_total', { code: 'Cancelled' })).toBe(1);
  });

  it('counts a job that failed before any worker saw it (its sandbox does not exist)', async () => {
    // Destroying a sandbox is LOW risk: approved by the policy and dispatched at once.
    const job = await f.pipeline.jobs.submit(alice, {
      tool: 'code_destroy_sandbox',
      params: { sandbox_id: 'sandbox-0123456789abcdef' },
    });
    expect(job).toMatchObject({ status: 'failed', error: { code: 'SandboxNotFound' } });
    expect(
      await value('harombe_jobs_total', { tool: 'code_destroy_sandbox', language: 'none', status: 'failed' }),
    ).toBe(1);
    expect(await value('harombe_errors_total', { code: 'SandboxNotFound' })).toBe(1);
    // The same in a batch: the dispatcher tells of it.
    await f.pipeline.jobs.submitBatch(alice, {
      jobs: [{ tool: 'code_destroy_sandbox', params: { sandbox_id: 'sandbox-0123456789abcdef' } }],
    });
    expect(
      await value('harombe_jobs_total', { tool: 'code_destroy_sandbox', language: 'none', status: 'failed' }),
    ).toBe(2);
  });
});
