import type { BatchJobEvent, JobStatus, JobStatusEvent, JobTransition } from '@harombe/core';
import type { JobEvent } from './job-lifecycle.js';
import type { JobRecord } from './job-record.js';

// The lifecycle's events are the transitions status events name: a new one must be named there too.
const NAMED: Record<JobEvent, JobTransition> = {
  approve: 'approve',
  deny: 'deny',
  expire: 'expire',
  start: 'start',
  complete: 'complete',
  fail: 'fail',
  lose_worker: 'lose_worker',
  retry: 'retry',
  withdraw: 'withdraw',
  cancel: 'cancel',
};

const iso = (ms: number): string => new Date(ms).toISOString();

/** The first status event of a new job (JSON): its status, the policy's verdict and the approval asked for. */
export function submittedEvent(job: JobRecord): string {
  const event: JobStatusEvent = {
    job_id: job.job_id,
    status: job.status,
    transition: 'submit',
    at: iso(job.created_at),
    risk: job.risk,
    risk_reason: job.risk_reason,
    risk_matched: job.risk_matched,
    approval: job.approval,
  };
  return JSON.stringify(event);
}

/**
 * The status event of a step (JSON): what the step changed of what a watcher cares about. The
 * result of an end is left out: the job keeps it, and readers add it from there (a large output
 * is then stored once more, not twice).
 */
export function transitionEvent(
  jobId: string,
  event: JobEvent,
  to: JobStatus,
  nowMs: number,
  patch: Partial<JobRecord>,
): string {
  const data: JobStatusEvent = { job_id: jobId, status: to, transition: NAMED[event], at: iso(nowMs) };
  if (patch.approval !== undefined) data.approval = patch.approval;
  if (patch.worker_id !== undefined) data.worker_id = patch.worker_id;
  if (patch.error !== undefined) data.error = patch.error;
  return JSON.stringify(data);
}

/** A batch job's end (JSON), without the counts, which the transition's script adds as they are after it. */
export function batchJobEndedEvent(jobId: string, to: JobStatus, patch: Partial<JobRecord>): string {
  const success = patch.result?.success;
  const data: Omit<BatchJobEvent, 'batch_id' | 'total' | 'counts'> = {
    job_id: jobId,
    status: to,
    success: typeof success === 'boolean' ? success : null,
    error: patch.error ?? null,
  };
  return JSON.stringify(data);
}
