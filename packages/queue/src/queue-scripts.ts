import { RedisScripts } from './redis-scripts.js';
import type { RedisKeys } from './redis-keys.js';

/** The queue's Redis scripts: src/commands/*.lua, copied to dist/commands by the build. */
export const QUEUE_SCRIPTS = new RedisScripts(new URL('./commands/', import.meta.url));

/**
 * Entries a job's event stream keeps at most (approximately). Output is coalesced by the worker
 * (at most one entry per stream every few tens of ms, or per 32 KiB), so even a job that trickles
 * output for max_execution_time's ceiling stays far below it: nothing is trimmed in practice,
 * and the bound only guards Redis against the unforeseen.
 */
export const JOB_EVENTS_MAXLEN = 100_000;

/**
 * The fields of a job that name the other keys its steps touch. Set when the job is created and
 * never changed; '' for none.
 */
export interface JobRouting {
  job_id: string;
  tenant: string;
  submitted_by: string;
  batch_id: string;
  approval_id: string;
  /** The idempotency key's own Redis key (RedisKeys.idempotency), kept in the job. */
  idempotency_ref: string;
}

/** Outcome and job (or batch) id. */
type CreateReply = [outcome: 'created' | 'exists' | 'conflict' | 'retry', id: string];

/** See create-job-15.lua. `idempotency`: the key or RedisKeys.unused(); `existing`: the job expected under it, or ''. */
export const CREATE_JOB = QUEUE_SCRIPTS.define<
  [keys: RedisKeys, job: JobRouting, idempotency: string, existing: string],
  CreateReply
>('create-job', (keys, job, idempotency, existing) => [
  keys.job(job.job_id),
  idempotency,
  existing ? keys.job(existing) : keys.unused(),
  keys.index('queued'),
  keys.approvalDeadlines(),
  keys.tenantPending(job.tenant),
  keys.webhookEvents(),
  job.approval_id ? keys.approval(job.approval_id) : keys.unused(),
  keys.quota(job.tenant),
  keys.keyQuota(job.tenant, job.submitted_by),
  job.batch_id ? keys.batchCounts(job.batch_id) : keys.unused(),
  job.batch_id ? keys.batchJobs(job.batch_id) : keys.unused(),
  keys.auditInbox(),
  keys.jobEventStream(job.job_id),
  keys.webhookSubscriptions(job.tenant),
]);

/** See transition-job-17.lua. */
export const TRANSITION_JOB = QUEUE_SCRIPTS.define<
  [keys: RedisKeys, job: JobRouting],
  [outcome: 'ok' | 'missing' | 'refused' | 'late' | 'moved', previous: string, fields?: string[]]
>('transition-job', (keys, job) => [
  keys.job(job.job_id),
  keys.index('queued'),
  keys.index('running'),
  keys.approvalDeadlines(),
  keys.tenantPending(job.tenant),
  keys.quota(job.tenant),
  keys.keyQuota(job.tenant, job.submitted_by),
  keys.quotaLapse(job.tenant),
  job.batch_id ? keys.batchCounts(job.batch_id) : keys.unused(),
  job.batch_id ? keys.batch(job.batch_id) : keys.unused(),
  job.batch_id ? keys.batchEventStream(job.batch_id) : keys.unused(),
  keys.webhookEvents(),
  job.approval_id ? keys.approval(job.approval_id) : keys.unused(),
  job.idempotency_ref || keys.unused(),
  keys.auditInbox(),
  keys.jobEventStream(job.job_id),
  keys.webhookSubscriptions(job.tenant),
]);

/** See place-job-1.lua. */
export const PLACE_JOB = QUEUE_SCRIPTS.define<[keys: RedisKeys, jobId: string], number>('place-job', (keys, jobId) => [
  keys.job(jobId),
]);

/** See append-output-2.lua. */
export const APPEND_OUTPUT = QUEUE_SCRIPTS.define<[keys: RedisKeys, jobId: string], number>(
  'append-output',
  (keys, jobId) => [keys.job(jobId), keys.jobEventStream(jobId)],
);

/** See create-batch-3.lua. `idempotency`: the key or RedisKeys.unused(); `existing`: the batch expected under it, or ''. */
export const CREATE_BATCH = QUEUE_SCRIPTS.define<
  [keys: RedisKeys, batchId: string, idempotency: string, existing: string],
  CreateReply
>('create-batch', (keys, batchId, idempotency, existing) => [
  keys.batch(batchId),
  idempotency,
  existing ? keys.batch(existing) : keys.unused(),
]);

/** See append-audit-3.lua. */
export const APPEND_AUDIT = QUEUE_SCRIPTS.define<[keys: RedisKeys], string[]>('append-audit', (keys) => [
  keys.audit(),
  keys.auditHead(),
  keys.auditInbox(),
]);

/** See reserve-sandbox-2.lua. */
export const RESERVE_SANDBOX = QUEUE_SCRIPTS.define<[keys: RedisKeys, tenant: string], number>(
  'reserve-sandbox',
  (keys, tenant) => [keys.tenantSandboxes(tenant), keys.tenantSandboxReservations(tenant)],
);

/** See admit-submission-3.lua. */
export const ADMIT_SUBMISSION = QUEUE_SCRIPTS.define<[keys: RedisKeys, tenant: string, keyName: string], string[]>(
  'admit-submission',
  (keys, tenant, keyName) => [keys.quota(tenant), keys.keyQuota(tenant, keyName), keys.quotaLapse(tenant)],
);

/** See lapse-quota-3.lua. */
export const LAPSE_QUOTA = QUEUE_SCRIPTS.define<[keys: RedisKeys, tenant: string, keyName: string], number>(
  'lapse-quota',
  (keys, tenant, keyName) => [keys.quota(tenant), keys.keyQuota(tenant, keyName), keys.quotaLapse(tenant)],
);
