import type { HarombeClient } from '@harombe/client';
import type { JobView, SubmitJobRequest } from '@harombe/core';
import { vi } from 'vitest';

/** Submits a job, approves it as `approver` when it waits for a person, and waits for its end. */
export async function runApproved(
  submitter: HarombeClient,
  approver: HarombeClient,
  request: SubmitJobRequest,
): Promise<JobView> {
  const job = await submitter.submitJob(request);
  if (job.status === 'awaiting_approval' && job.approval) await approver.approve(job.approval.approval_id, 'test');
  return submitter.waitForJob(job.job_id, { timeoutMs: 120_000 });
}

/** The result of a job as a plain record (its shape depends on the tool). */
export function resultOf(job: JobView): Record<string, unknown> {
  if (!job.result) throw new Error(`job ${job.job_id} has no result (status ${job.status})`);
  return job.result;
}

/** The value of `probe` once it is truthy (vi.waitFor); fails after `timeoutMs` naming what it waited for. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await probe();
      if (!value) throw new Error(`timed out waiting for ${what}`);
      return value;
    },
    { timeout: timeoutMs, interval: 100 },
  );
}
