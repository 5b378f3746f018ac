import { z } from 'zod';
import { ErrorCode } from './errors.js';
import { ID_FORMATS, type IdFormat } from './id-formats.js';
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

const idOf = (format: IdFormat) => z.string().regex(format.pattern, format.message);
export const JobId = idOf(ID_FORMATS.job_id);
export const BatchId = idOf(ID_FORMATS.batch_id);
export const ApprovalId = idOf(ID_FORMATS.approval_id);

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

/** The longest a request may wait for a job to end (wait_seconds): a long-poll's window. */
export const MAX_WAIT_SECONDS = 60;
/** wait_seconds: how long a request may wait for its job to end before answering. */
export const WaitSeconds = z.number().min(0).max(MAX_WAIT_SECONDS);

/** The most attempts a job may be given (max_attempts). */
export const MAX_ATTEMPTS = 10;
/** max_attempts: a job runs again after its worker is lost only while attempts remain. */
export const MaxAttempts = z.number().int().min(1).max(MAX_ATTEMPTS);

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
  wait_seconds: WaitSeconds.optional(),
  /** Runs again after its worker is lost only while attempts remain. Default 1: never re-run. */
  max_attempts: MaxAttempts.default(1),
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

/** One job of a batch: a tool call and its attempts (default 1). */
export const SubmitBatchJob = z.strictObject({
  tool: z.string().min(1).max(64),
  params: z.record(z.string(), z.unknown()),
  max_attempts: MaxAttempts.default(1),
});
export type SubmitBatchJob = z.input<typeof SubmitBatchJob>;

export const SubmitBatchRequest = z.strictObject({
  jobs: z.array(SubmitBatchJob).min(1).max(MAX_BATCH_JOBS),
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
  wait_seconds: WaitSeconds.default(30),
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

/** Answer of POST /v1/batches/{batch_id}/approve and /deny. */
export const BatchDecisionResult = z.object({
  batch_id: BatchId,
  /** Jobs this call decided. */
  decided: z.number().int(),
  /** Jobs whose approval was already decided (or expired) and stays as it was. */
  already_decided: z.number().int(),
});
export type BatchDecisionResult = z.infer<typeof BatchDecisionResult>;

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

/** GET /v1/sandboxes: the tenant's sandboxes on live workers. */
export const SandboxList = z.object({ sandboxes: z.array(SandboxView) });
export type SandboxList = z.infer<typeof SandboxList>;

/** GET /v1/approvals: jobs waiting for approval. */
export const ApprovalList = z.object({ approvals: z.array(JobView) });
export type ApprovalList = z.infer<typeof ApprovalList>;

// Path parameters and query strings of the routes.

export const JobPathParams = z.object({ job_id: JobId });
export const BatchPathParams = z.object({ batch_id: BatchId });
export const ApprovalPathParams = z.object({ approval_id: ApprovalId });
export const SandboxPathParams = z.object({ sandbox_id: SandboxId });

/** Most entries one page of a list holds (limit). */
export const MAX_PAGE_LIMIT = 1000;
/** limit: entries of a page, from 1 to MAX_PAGE_LIMIT, default 100. */
export const PageLimit = z.coerce.number().int().min(1).max(MAX_PAGE_LIMIT).default(100);

/** GET /v1/jobs/{job_id}: a long-poll with wait_seconds (default: answer at once). */
export const JobWaitQuery = z.strictObject({ wait_seconds: z.coerce.number().min(0).max(MAX_WAIT_SECONDS).optional() });
export type JobWaitQuery = z.input<typeof JobWaitQuery>;

/** A page of a list: from `offset` (default 0), `limit` entries (default 100). */
export const PageQuery = z.strictObject({ offset: z.coerce.number().int().min(0).default(0), limit: PageLimit });
export type PageQuery = z.input<typeof PageQuery>;

/** GET /v1/approvals: pending ones (the only status listed), at most `limit` (default 100). */
export const ApprovalsQuery = z.strictObject({ status: z.literal('pending').default('pending'), limit: PageLimit });
export type ApprovalsQuery = z.input<typeof ApprovalsQuery>;

/** Every error answer: a stable code, a message for people, and details naming the field. */
export const ErrorBody = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;
