import { z } from 'zod';
import { ErrorCode } from './errors.js';
import { RiskLevel } from './risk.js';
import { ToolName } from './tool-catalogue.js';
import { CodeCreateSandboxParams, SandboxId } from './tools.js';
import { WebhookUrl } from './webhook-url.js';

/**
 * The job pipeline's wire contract: what the API accepts and answers, what the client SDK and
 * the CLI speak. snake_case, field names mirroring the reference tools.
 */

export const JOB_STATUSES = [
  'queued',
  'awaiting_approval',
  'running',
  'completed',
  'denied',
  'expired',
  'cancelled',
  'failed',
] as const;
export const JobStatus = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatus>;

export const TERMINAL_STATUSES: readonly JobStatus[] = ['completed', 'denied', 'expired', 'cancelled', 'failed'];
export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export const JobId = z.string().regex(/^job-[0-9a-f]{24}$/, 'a job_id looks like job-<24 hex digits>');
export const BatchId = z.string().regex(/^batch-[0-9a-f]{24}$/, 'a batch_id looks like batch-<24 hex digits>');
export const ApprovalId = z
  .string()
  .regex(/^approval-[0-9a-f]{24}$/, 'an approval_id looks like approval-<24 hex digits>');

export const ApprovalStatus = z.enum(['pending', 'approved', 'denied', 'expired', 'cancelled']);
export type ApprovalStatus = z.infer<typeof ApprovalStatus>;
export const DecisionChannel = z.enum(['api', 'slack', 'policy', 'timeout']);
export type DecisionChannel = z.infer<typeof DecisionChannel>;

export const Approval = z.object({
  approval_id: ApprovalId,
  status: ApprovalStatus,
  risk: RiskLevel,
  /** ISO 8601; null when the policy approved it. */
  expires_at: z.string().nullable(),
  decided_by: z.string().nullable(),
  decided_at: z.string().nullable(),
  reason: z.string().nullable(),
  channel: DecisionChannel.nullable(),
});
export type Approval = z.infer<typeof Approval>;

/** One job submission: a tool call, validated against the tool catalog before it is accepted. */
export const SubmitJobRequest = z.strictObject({
  tool: z.string().min(1).max(64),
  params: z.record(z.string(), z.unknown()),
  /**
   * The same key from the same tenant returns the same job and never runs it twice; with another
   * tool or params it is refused (IdempotencyConflict).
   */
  idempotency_key: z.string().min(1).max(200).optional(),
  /** Wait up to this many seconds for the job to end before answering. */
  wait_seconds: z.number().min(0).max(60).optional(),
  /** Runs again after its worker is lost only while attempts remain. Default 1: never re-run. */
  max_attempts: z.number().int().min(1).max(10).default(1),
  /** Gets the job's webhook events (job.awaiting_approval, job.finished), signed. Default: none. */
  callback_url: WebhookUrl.optional(),
});
export type SubmitJobRequest = z.input<typeof SubmitJobRequest>;

export const JobError = z.object({ code: ErrorCode, message: z.string() });
export type JobError = z.infer<typeof JobError>;

/** A job as the API shows it. `result` has the shape of the tool's reference result. */
export const JobView = z.object({
  job_id: JobId,
  tool: ToolName,
  params: z.record(z.string(), z.unknown()),
  status: JobStatus,
  risk: RiskLevel,
  risk_reason: z.string(),
  risk_matched: z.string().nullable(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  batch_id: BatchId.nullable(),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  /** The worker running (or that ran) the job's latest attempt. */
  worker_id: z.string().nullable(),
  approval: Approval.nullable(),
  result: z.record(z.string(), z.unknown()).nullable(),
  /** Why a job did not complete, for people; `result.error` carries the same code. */
  error: JobError.nullable(),
  /** Where the job's webhook events go, when the submission named a callback_url. */
  callback_url: z.string().nullable().optional(),
});
export type JobView = z.infer<typeof JobView>;

export const MAX_BATCH_JOBS = 10_000;

export const SubmitBatchRequest = z.strictObject({
  jobs: z
    .array(
      z.strictObject({
        tool: z.string().min(1).max(64),
        params: z.record(z.string(), z.unknown()),
        max_attempts: z.number().int().min(1).max(10).default(1),
      }),
    )
    .min(1)
    .max(MAX_BATCH_JOBS),
  /** The same key from the same tenant returns the same batch; with other jobs it is refused (IdempotencyConflict). */
  idempotency_key: z.string().min(1).max(200).optional(),
  /** Gets batch.finished, signed, once every job of the batch has ended. Default: none. */
  callback_url: WebhookUrl.optional(),
});
export type SubmitBatchRequest = z.input<typeof SubmitBatchRequest>;

export const BatchCreated = z.object({ batch_id: BatchId, job_ids: z.array(JobId) });
export type BatchCreated = z.infer<typeof BatchCreated>;

export const BatchView = z.object({
  batch_id: BatchId,
  created_at: z.string(),
  total: z.number().int(),
  counts: z.record(JobStatus, z.number().int()),
  /** A page of the batch's jobs, in submission order. */
  jobs: z.array(JobView),
  /** Offset of the next page; null at the end. */
  next_offset: z.number().int().nullable(),
  /** Where batch.finished goes, when the submission named a callback_url. */
  callback_url: z.string().nullable().optional(),
});
export type BatchView = z.infer<typeof BatchView>;

/** POST /v1/sandboxes: a kept sandbox made up front (a code_create_sandbox job). */
export const CreateSandboxRequest = CodeCreateSandboxParams.extend({
  /** The same key from the same tenant answers the same job and never makes two sandboxes. */
  idempotency_key: z.string().min(1).max(200).optional(),
  /** Wait up to this many seconds for the sandbox before answering. Default 30. */
  wait_seconds: z.number().min(0).max(60).default(30),
});
export type CreateSandboxRequest = z.input<typeof CreateSandboxRequest>;

export const DecisionRequest = z.strictObject({ reason: z.string().max(2000).optional() });
export type DecisionRequest = z.input<typeof DecisionRequest>;

export const DecisionResult = z.object({
  approval_id: ApprovalId,
  job_id: JobId,
  /** True when this call decided; false when an earlier decision (or expiry) stands. */
  decided: z.boolean(),
  status: JobStatus,
  approval: Approval,
});
export type DecisionResult = z.infer<typeof DecisionResult>;

export const SandboxView = z.object({
  sandbox_id: SandboxId,
  language: z.string(),
  worker_id: z.string(),
  network_enabled: z.boolean(),
  allowed_domains: z.array(z.string()),
  created_at: z.string(),
  expires_at: z.string(),
});
export type SandboxView = z.infer<typeof SandboxView>;

/** Every error answer: a stable code, a message for people, and details naming the field. */
export const ErrorBody = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;
