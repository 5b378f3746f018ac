import type { Approval } from '@harombe/core';
import type { JobRecord } from './job-record.js';

/**
 * Told of what happens to jobs, by the part that makes it happen: the job service (submissions,
 * decisions, cancels, expiries), the dispatcher (jobs that fail before any worker sees them) and
 * the housekeeper (jobs of lost workers). Each call follows an atomic transition that one process
 * alone wins, so summed over processes every event is told once. Metrics implement it; every
 * method is optional.
 */
export interface JobObserver {
  /** A job was accepted, alone or in a batch (an idempotent repeat of a submission is not). */
  submitted?(job: JobRecord): void;
  /** A pending approval ended: approved, denied, expired, or cancelled with its job. `job` as it is now. */
  approvalEnded?(job: JobRecord & { approval: Approval }): void;
  /** A job ended without a worker running it: denied, expired, cancelled, or failed before it started. */
  ended?(job: JobRecord): void;
  /** A running job's worker was lost: the job runs again (`retried`) or ended failed WorkerLost (`failed`). */
  workerLost?(job: JobRecord, outcome: 'retried' | 'failed'): void;
}
