import { z } from 'zod';
import { Approval, BatchId, JobError, JobId, JobStatus, TERMINAL_STATUSES } from './jobs.js';
import { RiskLevel } from './risk.js';

/**
 * The live events of jobs and batches (`GET /v1/jobs/{job_id}/events`,
 * `GET /v1/batches/{batch_id}/events`, Server-Sent Events): each event's `data` is one of these
 * objects as JSON, and its SSE `event` field names which.
 */

/** What moved a job: its submission, or one of the lifecycle's events (packages/queue job-lifecycle.ts). */
export const JOB_TRANSITIONS = [
  'submit',
  'approve',
  'deny',
  'expire',
  'start',
  'complete',
  'fail',
  'lose_worker',
  'retry',
  'withdraw',
  'cancel',
] as const;
export const JobTransition = z.enum(JOB_TRANSITIONS);
export type JobTransition = z.infer<typeof JobTransition>;

/**
 * An event's id: its Redis stream entry id. A client sends the last one it received back as
 * `Last-Event-ID` to resume just after it.
 */
export const EventId = z.string().regex(/^\d{1,20}-\d{1,20}$/, 'an event id such as 1700000000000-0');

/** SSE `event: status`: the job moved to `status`. Fields the step did not change are absent. */
export const JobStatusEvent = z.object({
  job_id: JobId,
  status: JobStatus,
  transition: JobTransition,
  /** When, ISO 8601. */
  at: z.string(),
  /** On submission: the policy's verdict. */
  risk: RiskLevel.optional(),
  risk_reason: z.string().optional(),
  risk_matched: z.string().nullable().optional(),
  /** Whenever the approval changed: requested (on submission), decided, expired, withdrawn. */
  approval: Approval.nullable().optional(),
  /** On start: the worker running the attempt; null when a lost worker's job is queued again. */
  worker_id: z.string().nullable().optional(),
  /** On the end (a terminal status): the tool's result, as GET /v1/jobs/{job_id} shows it. */
  result: z.record(z.string(), z.unknown()).nullable().optional(),
  /** On the end: why the job did not complete (null when it did). */
  error: JobError.nullable().optional(),
});
export type JobStatusEvent = z.infer<typeof JobStatusEvent>;

/**
 * SSE `event: stdout` and `event: stderr`: output of a running code_execute job, as the program
 * wrote it. A stream's chunks joined are its `stdout` (`stderr`) in the result: decoded the same
 * way (invalid UTF-8 as U+FFFD), capped at the same max_output_bytes, the marker once.
 */
export const OutputEvent = z.object({ text: z.string() });
export type OutputEvent = z.infer<typeof OutputEvent>;

/** Jobs of a batch per status; every status is present. */
export const BatchStatusCounts = z.record(JobStatus, z.number().int());
export type BatchStatusCounts = z.infer<typeof BatchStatusCounts>;

/** SSE `event: counts` (no id): the batch's counts, sent whenever they changed and the stream has caught up. */
export const BatchCountsEvent = z.object({
  batch_id: BatchId,
  total: z.number().int(),
  counts: BatchStatusCounts,
});
export type BatchCountsEvent = z.infer<typeof BatchCountsEvent>;

/** SSE `event: job`: one job of the batch ended; `counts` are the batch's right after. */
export const BatchJobEvent = BatchCountsEvent.extend({
  job_id: JobId,
  status: JobStatus,
  /** The tool's `success`; null when the job ended without a result. */
  success: z.boolean().nullable(),
  error: JobError.nullable(),
});
export type BatchJobEvent = z.infer<typeof BatchJobEvent>;

/** What the data of an event of either stream is: one of these, as JSON (its `event` field says which). */
export const LiveEventData = z.union([JobStatusEvent, OutputEvent, BatchJobEvent, BatchCountsEvent]);
export type LiveEventData = z.infer<typeof LiveEventData>;

/** Headers the event routes read; the others (authorization) pass through. */
export const LiveEventHeaders = z.looseObject({
  'last-event-id': EventId.optional().describe('the id of the last event received: the stream resumes after it'),
});

/** 204 to a client that has every event of a job (batch) that has ended: an EventSource stops reconnecting. */
export const NoMoreEvents = z.null().describe('the job (batch) has ended and the client has all its events');

/** Jobs of a batch that have ended, by its counts. */
export function finishedCount(counts: Partial<Record<JobStatus, number>>): number {
  return TERMINAL_STATUSES.reduce((sum, status) => sum + (counts[status] ?? 0), 0);
}
