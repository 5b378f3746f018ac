import type { Approval, JobError, JobStatus, JobView, RiskLevel, ToolName } from '@harombe/core';

/** A job as the store keeps it: the view plus who submitted it and where it runs. */
export interface JobRecord {
  job_id: string;
  tenant: string;
  /** Name of the API key that submitted it: that key may never approve it. */
  submitted_by: string;
  /** Slack user id of the submitter, when the key names one. */
  submitted_by_slack: string | null;
  tool: ToolName;
  params: Record<string, unknown>;
  status: JobStatus;
  risk: RiskLevel;
  risk_reason: string;
  risk_matched: string | null;
  /** Milliseconds since the epoch. */
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  batch_id: string | null;
  attempts: number;
  max_attempts: number;
  approval: Approval | null;
  /** Milliseconds since the epoch; 0 when no approval is pending. */
  approval_deadline: number;
  result: Record<string, unknown> | null;
  error: JobError | null;
  /** The sandbox the job names, which decides the worker it must run on. */
  sandbox_id: string | null;
  worker_id: string | null;
  /** The worker whose queue a job making a kept sandbox was put on (it holds the room for it). */
  placed_on?: string | null;
  payload_sha256: string;
  /** Where the job's webhook events go (the submission's callback_url). */
  callback_url?: string | null;
  /**
   * Its webhook events are recorded whatever its tenant's stored subscriptions: set at submission
   * when the job or its batch has a callback_url, or its tenant has subscriptions in the
   * configuration. Otherwise they are recorded only while the tenant has subscriptions stored
   * (see transition-job-17.lua): a fleet nobody listens to spends nothing on webhooks.
   */
  webhooks?: boolean;
}

const JSON_FIELDS = ['params', 'approval', 'result', 'error'] as const;
const NUMBER_FIELDS = [
  'created_at',
  'started_at',
  'finished_at',
  'attempts',
  'max_attempts',
  'approval_deadline',
] as const;

/** Redis hash fields are strings: JSON for structures, '' for null. */
export function encodeFields(fields: Partial<JobRecord>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (value === null) out[key] = '';
    else if ((JSON_FIELDS as readonly string[]).includes(key) || typeof value === 'object')
      out[key] = JSON.stringify(value);
    else out[key] = String(value);
  }
  return out;
}

export function decodeRecord(hash: Record<string, string>): JobRecord | undefined {
  if (!hash.job_id) return undefined;
  const out: Record<string, unknown> = { ...hash };
  for (const key of JSON_FIELDS) out[key] = hash[key] ? JSON.parse(hash[key]) : null;
  for (const key of NUMBER_FIELDS)
    out[key] = hash[key] ? Number(hash[key]) : key === 'attempts' || key === 'approval_deadline' ? 0 : null;
  for (const key of [
    'risk_matched',
    'batch_id',
    'sandbox_id',
    'worker_id',
    'placed_on',
    'submitted_by_slack',
    'callback_url',
  ] as const)
    out[key] = hash[key] || null;
  // A job stored before the field existed had its events recorded, and still has.
  out.webhooks = hash.webhooks !== 'false';
  return out as unknown as JobRecord;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function toJobView(job: JobRecord): JobView {
  return {
    job_id: job.job_id,
    tool: job.tool,
    params: job.params,
    status: job.status,
    risk: job.risk,
    risk_reason: job.risk_reason,
    risk_matched: job.risk_matched,
    created_at: iso(job.created_at) as string,
    started_at: iso(job.started_at),
    finished_at: iso(job.finished_at),
    batch_id: job.batch_id,
    attempts: job.attempts,
    max_attempts: job.max_attempts,
    worker_id: job.worker_id,
    approval: job.approval,
    result: job.result,
    error: job.error,
    ...(job.callback_url ? { callback_url: job.callback_url } : {}),
  };
}
