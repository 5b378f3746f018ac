import type { HarombeClient } from '@harombe/client';
import type { JobView, SubmitJobRequest } from '@harombe/core';

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

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
