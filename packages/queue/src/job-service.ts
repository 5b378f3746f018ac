import { createHash } from 'node:crypto';
import {
  createsKeptSandbox,
  DecisionChannel,
  DEFAULT_MAX_LIMITS,
  fieldProblems,
  HarombeError,
  invalidInput,
  isHarombeError,
  isTerminal,
  normalizeWorkspacePath,
  SubmitBatchRequest,
  SubmitJobRequest,
  ToolName,
  TOOLS,
  type Approval,
  type ClassificationContext,
  type Clock,
  type DecisionResult,
  type JobView,
  type Limits,
  type RiskAssessment,
} from '@harombe/core';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { jobEntry, type AuditEntry } from './audit-entry.js';
import type { AuditTrail } from './audit-trail.js';
import type { BatchStore } from './batch-store.js';
import type { JobDispatcher } from './job-dispatcher.js';
import type { JobEvents } from './job-events.js';
import { transitionOf } from './job-lifecycle.js';
import type { JobObserver } from './job-observer.js';
import { encodeFields, toJobView, type JobRecord } from './job-record.js';
import { newId, type JobStore } from './job-store.js';
import type { KeptSandboxAdmission } from './kept-sandbox-admission.js';
import type { Principal } from './principal.js';
import { failedResult } from './results.js';
import type { SandboxEntry } from './sandbox-directory.js';
import { isOutOfMemory, storeFull, type StoreHeadroom } from './store-headroom.js';
import type { SubmissionQuotas } from './submission-quotas.js';

/** Refuses a webhook URL deliveries may not reach (WebhookTargetRefused, naming `field`). */
export interface CallbackTargetCheck {
  check(url: string, field: string): Promise<unknown>;
}

/** The risk policy as the pipeline uses it. */
export interface Classifier {
  classify(tool: string, params: Record<string, unknown>, context?: ClassificationContext): RiskAssessment;
}

/** Where the sandboxes jobs name are looked up (SandboxDirectory). */
export interface SandboxLookup {
  getMany(ids: readonly string[]): Promise<Map<string, SandboxEntry>>;
}

export interface JobServiceOptions {
  store: JobStore;
  batches: BatchStore;
  dispatcher: JobDispatcher;
  events: JobEvents;
  policy: Classifier;
  clock: Clock;
  logger: Logger;
  /** Largest program accepted, in bytes. Default 1 MiB (the sandbox's max_code_bytes). */
  maxCodeBytes?: number;
  /** Largest file content accepted, in bytes. Default 8 MiB (the sandbox's max_file_bytes). */
  maxFileBytes?: number;
  /**
   * The ceilings callers may ask for (the sandbox's `max_limits`): a code_execute `timeout` above
   * `max_execution_time` is refused with LimitTooHigh at submission, as the worker would refuse it
   * after approval. Default: DEFAULT_MAX_LIMITS.
   */
  maxLimits?: Limits;
  /** Where classifications, approval requests, decisions, expiries and cancellations are recorded. Default: nowhere. */
  audit?: AuditTrail;
  /** Refuses jobs that would make a kept sandbox past a quota or the fleet's room. Default: none. */
  admission?: KeptSandboxAdmission;
  /**
   * The sandboxes jobs name, so that a job is classified by what it will be able to do there (the
   * sandbox's network). Default: none (jobs are classified by their parameters alone).
   */
  sandboxes?: SandboxLookup;
  /** Per-tenant and per-key limits on submissions (rate, waiting jobs, stored bytes). Default: none. */
  quotas?: SubmissionQuotas;
  /** Refuses submissions (StoreFull) before Redis runs out of room for the jobs it holds. Default: none. */
  headroom?: StoreHeadroom;
  /** Checks a callback_url at submission (deliveries check it again). Default: accepted as given. */
  callbacks?: CallbackTargetCheck;
  /** Told of submissions, decisions, cancels and expiries made here (metrics). Default: none. */
  observer?: JobObserver;
  /**
   * Whether a tenant has webhook subscriptions in the configuration: its jobs' webhook events are
   * then always recorded (those made through the API are seen in Redis). Default: no tenant has.
   */
  configuredWebhooks?: (tenant: string) => boolean;
}

/** What a job brings to Redis besides its hash: index entries, audit records, its queue entry. */
const PER_JOB_OVERHEAD_BYTES = 1024;

type Decision = 'approve' | 'deny';

/**
 * The job pipeline's operations, shared by the API and the approval channels: submit (one or
 * a batch), read, wait, cancel, decide. Every status change goes through the job store.
 */
export class JobService {
  private readonly maxCodeBytes: number;
  private readonly maxFileBytes: number;
  private readonly maxLimits: Limits;

  constructor(private readonly options: JobServiceOptions) {
    this.maxCodeBytes = options.maxCodeBytes ?? 1_048_576;
    this.maxFileBytes = options.maxFileBytes ?? 8 * 1_048_576;
    this.maxLimits = options.maxLimits ?? DEFAULT_MAX_LIMITS;
  }

  async submit(principal: Principal, request: SubmitJobRequest): Promise<JobView> {
    const input = parseOrThrow(SubmitJobRequest, request, '');
    const sandboxes = await this.namedSandboxes(principal, [input.params]);
    const job = this.newJob(principal, input.tool, input.params, input.max_attempts, null, sandboxes);
    if (input.callback_url) {
      await this.options.callbacks?.check(input.callback_url, 'callback_url');
      job.callback_url = input.callback_url;
    }
    job.webhooks = this.wantsWebhooks(principal.tenant, input.callback_url);
    if (createsKeptSandbox(job.tool, job.params)) await this.options.admission?.admit(principal.tenant);
    // A submission that waits listens for its job's end before the job exists: no end can come
    // before, so the wait needs no read of the store to look for one, only the answer's.
    const seconds = input.wait_seconds ?? 0;
    const listener = seconds > 0 ? await this.options.events.listen(job.job_id) : undefined;
    try {
      // A retry of a submission already stored returns it, whatever the quotas say now.
      if (!(
        input.idempotency_key && (await this.options.store.idempotencyKeyUsed(principal.tenant, input.idempotency_key))
      ))
        await this.admit(principal, [job]);
      const { job_id, created, conflict } = await this.options.store
        .create(job, input.idempotency_key, this.audited(submissionEntries(job)))
        .catch((error: unknown) => {
          throw this.storeFailure(error, { job_id: job.job_id, tenant: principal.tenant });
        });
      if (conflict) throw idempotencyConflict(`job ${job_id}`, { job_id });
      // A retry waits as the submission it repeats did.
      if (!created) return await this.wait(principal, job_id, seconds);
      this.logCreated(job);
      this.options.observer?.submitted?.(job);
      // Its records wait in the audit inbox for whoever drains next (its worker, the housekeeper, a
      // read of the trail): the submission's answer does not wait for them.
      if (job.status === 'queued') await this.options.dispatcher.dispatch(job, sandboxes);
      await listener?.ended(seconds * 1000);
      // Dispatching may already have ended it (a sandbox that does not exist): answer what is stored.
      return await this.view(principal, job.job_id);
    } finally {
      listener?.stop();
    }
  }

  /** Validates every job first: one bad job refuses the whole batch, naming its index. */
  async submitBatch(
    principal: Principal,
    request: SubmitBatchRequest,
  ): Promise<{ batch_id: string; job_ids: string[] }> {
    const input = parseOrThrow(SubmitBatchRequest, request, '');
    const batchId = newId('batch');
    const sandboxes = await this.namedSandboxes(
      principal,
      input.jobs.map((entry) => entry.params),
    );
    const jobs = input.jobs.map((entry, index) =>
      this.newJob(principal, entry.tool, entry.params, entry.max_attempts, batchId, sandboxes, `jobs.${index}.`),
    );
    if (input.callback_url) await this.options.callbacks?.check(input.callback_url, 'callback_url');
    // The batch's callback hears batch.finished, which its jobs' ends lead to.
    const webhooks = this.wantsWebhooks(principal.tenant, input.callback_url);
    for (const job of jobs) job.webhooks = webhooks;
    const keeping = jobs.filter((job) => createsKeptSandbox(job.tool, job.params)).length;
    if (keeping > 0) await this.options.admission?.admit(principal.tenant, keeping);
    if (!(
      input.idempotency_key && (await this.options.batches.idempotencyKeyUsed(principal.tenant, input.idempotency_key))
    ))
      await this.admit(principal, jobs);
    const now = this.options.clock.now();
    const batch = await this.options.batches
      .create(
        {
          batch_id: batchId,
          tenant: principal.tenant,
          created_at: now,
          total: jobs.length,
          payload_sha256: sha256(jobs.map((job) => job.payload_sha256).join('\n')),
          ...(input.callback_url ? { callback_url: input.callback_url } : {}),
        },
        input.idempotency_key,
      )
      .catch((error: unknown) => {
        throw this.storeFailure(error, { batch_id: batchId, tenant: principal.tenant });
      });
    if (batch.conflict) throw idempotencyConflict(`batch ${batch.batch_id}`, { batch_id: batch.batch_id });
    if (!batch.created) return { batch_id: batch.batch_id, job_ids: await this.options.batches.jobIds(batch.batch_id) };
    await this.options.store
      .createMany(jobs, (job) => this.audited(submissionEntries(job)))
      .catch((error: unknown) => {
        // The headroom check leaves room for a whole batch; only a store filled meanwhile by
        // others gets here, and the jobs stored so far stay (their approvals and the housekeeper
        // treat them as any others).
        throw this.storeFailure(error, { batch_id: batchId, tenant: principal.tenant, jobs: jobs.length });
      });
    await this.options.batches.sealed(batchId);
    this.options.logger.info({ batch_id: batchId, tenant: principal.tenant, jobs: jobs.length }, 'batch accepted');
    for (const job of jobs) this.options.observer?.submitted?.(job);
    await this.options.dispatcher.dispatchMany(
      jobs.filter((job) => job.status === 'queued'),
      sandboxes,
    );
    return { batch_id: batchId, job_ids: jobs.map((job) => job.job_id) };
  }

  /** A tenant's job; another tenant's is NotFound, exactly as if absent. */
  async get(principal: Principal, jobId: string): Promise<JobRecord> {
    const job = await this.options.store.get(jobId);
    if (!job || job.tenant !== principal.tenant) throw new HarombeError('NotFound', `job ${jobId} not found`);
    return job;
  }

  async view(principal: Principal, jobId: string): Promise<JobView> {
    return toJobView(await this.get(principal, jobId));
  }

  /**
   * The job once it has ended, or as it is after `seconds`. It is read once the wait is in place
   * (an end just before is not missed), and again only if that read did not find it ended.
   */
  async wait(principal: Principal, jobId: string, seconds: number): Promise<JobView> {
    if (seconds <= 0) return this.view(principal, jobId);
    let job: JobRecord | undefined;
    await this.options.events.waitForEnd(jobId, seconds * 1000, async () => {
      job = await this.get(principal, jobId);
      return isEnded(job);
    });
    if (!job || !isEnded(job)) job = await this.get(principal, jobId);
    return toJobView(job);
  }

  async cancel(principal: Principal, jobId: string): Promise<JobView> {
    const job = await this.get(principal, jobId);
    const now = this.options.clock.now();
    const ended = failedResult(job, 'Cancelled', `cancelled by ${principal.name}`);
    const [entry] = this.audited([
      jobEntry('cancelled', job, {
        actor: principal.name,
        channel: 'api',
        details: { previous_status: null, approval_id: job.approval?.approval_id ?? null },
      }),
    ]);
    const withdrawn: Partial<JobRecord> | undefined =
      job.approval?.status === 'pending'
        ? {
            ...ended,
            approval: {
              ...job.approval,
              status: 'cancelled',
              decided_by: principal.name,
              decided_at: iso(now),
              channel: 'api',
            },
          }
        : undefined;
    let outcome = withdrawn ? await this.options.store.transition(jobId, 'withdraw', withdrawn, now, entry) : undefined;
    const patch = outcome?.outcome === 'ok' ? withdrawn : ended;
    if (!outcome || outcome.outcome !== 'ok')
      outcome = await this.options.store.transition(jobId, 'cancel', ended, now, entry);
    if (outcome.outcome !== 'ok') {
      throw new HarombeError(
        'Conflict',
        `job ${jobId} has already ended (${outcome.outcome === 'missing' ? 'gone' : outcome.previous})`,
      );
    }
    this.options.logger.info({ job_id: jobId, tenant: principal.tenant, previous: outcome.previous }, 'job cancelled');
    this.observeEnd({ ...job, ...patch, status: 'cancelled', finished_at: now });
    await this.drainAudit();
    return this.view(principal, jobId);
  }

  async pendingApprovals(principal: Principal, limit: number): Promise<JobView[]> {
    const ids = await this.options.store.pendingApprovalJobIds(principal.tenant, limit);
    const jobs = await this.options.store.getMany(ids);
    return jobs.flatMap((job) => (job && job.status === 'awaiting_approval' ? [toJobView(job)] : []));
  }

  /** The approval's job, for the principal's tenant only. */
  async jobForApproval(principal: Principal, approvalId: string): Promise<JobRecord> {
    const jobId = await this.options.store.jobIdForApproval(approvalId);
    const job = jobId ? await this.options.store.get(jobId) : undefined;
    if (!job || job.tenant !== principal.tenant || !job.approval)
      throw new HarombeError('NotFound', `approval ${approvalId} not found`);
    return job;
  }

  /**
   * Records a refused decision (`reason`: self_approval, other_tenant, not_an_approver, …) in the
   * audit trail under the job's (or batch's) tenant, and logs it. Never throws: the refusal
   * itself is what the caller answers.
   */
  async decisionRefused(
    subject: { job: JobRecord } | { batch_id: string; tenant: string },
    actor: { name: string; tenant: string | null },
    reason: string,
    channel: DecisionChannel = 'api',
    approvalId: string | null = null,
  ): Promise<void> {
    const details = {
      reason,
      approval_id: approvalId,
      actor_tenant: actor.tenant,
      ...('batch_id' in subject ? { batch_id: subject.batch_id } : {}),
    };
    const fields = { actor: actor.name, channel, details };
    const where =
      'job' in subject ? { job_id: subject.job.job_id, tenant: subject.job.tenant } : { batch_id: subject.batch_id };
    this.options.logger.warn({ ...where, ...details, actor: actor.name, channel }, 'decision refused');
    try {
      if ('job' in subject) await this.options.audit?.job('decision_refused', subject.job, fields);
      else
        await this.options.audit?.append({
          type: 'decision_refused',
          tenant: subject.tenant,
          job_id: null,
          tool: null,
          payload_sha256: null,
          ...fields,
        });
    } catch (error) {
      this.options.logger.error({ err: error, ...where }, 'recording a refused decision failed');
    }
  }

  /**
   * The approval's job for a decision: another tenant's answers NotFound as a missing one does,
   * and the attempt is recorded under the job's tenant.
   */
  private async jobForDecision(principal: Principal, approvalId: string, channel: DecisionChannel): Promise<JobRecord> {
    const jobId = await this.options.store.jobIdForApproval(approvalId);
    const job = jobId ? await this.options.store.get(jobId) : undefined;
    if (job?.approval && job.tenant !== principal.tenant)
      await this.decisionRefused({ job }, principal, 'other_tenant', channel, approvalId);
    return this.jobForApproval(principal, approvalId);
  }

  /**
   * Approves or denies. The first decision wins atomically; a later one (or one after the
   * deadline) changes nothing and is refused with AlreadyDecided. Nobody decides their own job.
   */
  async decide(
    principal: Principal,
    approvalId: string,
    decision: Decision,
    reason: string | null,
    channel: DecisionChannel = 'api',
  ): Promise<DecisionResult> {
    const job = await this.jobForDecision(principal, approvalId, channel);
    if (!principal.scopes.includes('approve'))
      throw new HarombeError('Forbidden', 'this key may not decide approvals (scope approve)');
    if (
      job.submitted_by === principal.name ||
      (principal.slack_user_id && principal.slack_user_id === job.submitted_by_slack)
    ) {
      await this.decisionRefused({ job }, principal, 'self_approval', channel, approvalId);
      throw new HarombeError(
        'SelfApprovalForbidden',
        'a job cannot be approved or denied by the identity that submitted it',
      );
    }
    const now = this.options.clock.now();
    const approval: Approval = {
      ...(job.approval as Approval),
      status: decision === 'approve' ? 'approved' : 'denied',
      decided_by: principal.name,
      decided_at: iso(now),
      reason,
      channel,
    };
    const patch: Partial<JobRecord> =
      decision === 'approve'
        ? { approval }
        : {
            approval,
            ...failedResult(job, 'ApprovalDenied', `denied by ${principal.name}${reason ? `: ${reason}` : ''}`),
          };
    const [entry] = this.audited([
      jobEntry('decided', job, {
        actor: principal.name,
        channel,
        details: {
          approval_id: approvalId,
          decision: approval.status,
          reason,
          decided_at: approval.decided_at,
          risk: job.risk,
        },
      }),
    ]);
    const outcome = await this.options.store.transition(job.job_id, decision, patch, now, entry);
    if (outcome.outcome === 'late') await this.expire(job.job_id);
    if (outcome.outcome !== 'ok') {
      const current = await this.jobForApproval(principal, approvalId);
      throw new HarombeError('AlreadyDecided', `approval ${approvalId} was already ${current.approval?.status}`, {
        approval: current.approval,
        status: current.status,
      });
    }
    this.options.logger.info(
      { job_id: job.job_id, approval_id: approvalId, decision, decided_by: principal.name, channel },
      'approval decided',
    );
    const after: JobRecord = { ...job, ...patch, status: transitionOf(decision).to };
    if (decision === 'deny') this.observeEnd({ ...after, finished_at: now });
    else this.options.observer?.approvalEnded?.({ ...after, approval });
    await this.drainAudit();
    if (decision === 'approve')
      await this.options.dispatcher.dispatch((await this.options.store.get(job.job_id)) as JobRecord);
    const decided = (await this.options.store.get(job.job_id)) as JobRecord;
    return {
      approval_id: approvalId,
      job_id: job.job_id,
      decided: true,
      status: decided.status,
      approval: decided.approval as Approval,
    };
  }

  async decideBatch(
    principal: Principal,
    batchId: string,
    decision: Decision,
    reason: string | null,
    channel: DecisionChannel = 'api',
  ): Promise<{ batch_id: string; decided: number; already_decided: number }> {
    const batch = await this.options.batches.get(batchId);
    if (batch && batch.tenant !== principal.tenant)
      await this.decisionRefused({ batch_id: batchId, tenant: batch.tenant }, principal, 'other_tenant', channel);
    if (!batch || batch.tenant !== principal.tenant) throw new HarombeError('NotFound', `batch ${batchId} not found`);
    let decided = 0;
    let alreadyDecided = 0;
    for (const job of await this.options.store.getMany(await this.options.batches.jobIds(batchId))) {
      if (!job?.approval) continue;
      try {
        await this.decide(principal, job.approval.approval_id, decision, reason, channel);
        decided += 1;
      } catch (error) {
        if (error instanceof HarombeError && error.code === 'AlreadyDecided') alreadyDecided += 1;
        else throw error;
      }
    }
    return { batch_id: batchId, decided, already_decided: alreadyDecided };
  }

  /** Ends a job whose approval deadline passed. Nothing happens if it was decided first. */
  async expire(jobId: string): Promise<boolean> {
    const job = await this.options.store.get(jobId);
    if (!job?.approval) {
      // A deadline whose job is gone (lost data): drop it so the sweep does not revisit it forever.
      await this.options.store.forgetApprovalDeadline(jobId);
      return false;
    }
    const now = this.options.clock.now();
    const approval: Approval = {
      ...job.approval,
      status: 'expired',
      decided_by: null,
      decided_at: iso(now),
      reason: 'no decision before the deadline',
      channel: 'timeout',
    };
    const [entry] = this.audited([
      jobEntry('expired', job, {
        actor: null,
        channel: 'timeout',
        details: { approval_id: approval.approval_id, expires_at: job.approval.expires_at, risk: job.risk },
      }),
    ]);
    const patch = {
      approval,
      ...failedResult(job, 'ApprovalTimeout', 'no approver decided before the approval timed out'),
    };
    const outcome = await this.options.store.transition(jobId, 'expire', patch, now, entry);
    if (outcome.outcome !== 'ok') return false;
    this.options.logger.info({ job_id: jobId, approval_id: approval.approval_id }, 'approval expired: job denied');
    this.observeEnd({ ...job, ...patch, status: 'expired', finished_at: now });
    await this.drainAudit();
    return true;
  }

  /** The tenant's sandboxes the jobs name, as the directory holds them; another tenant's are left out. */
  private async namedSandboxes(
    principal: Principal,
    params: readonly Record<string, unknown>[],
  ): Promise<Map<string, SandboxEntry>> {
    const lookup = this.options.sandboxes;
    const ids = new Set<string>();
    for (const p of params) if (typeof p?.sandbox_id === 'string' && p.sandbox_id.length <= 64) ids.add(p.sandbox_id);
    if (!lookup || ids.size === 0) return new Map();
    const found = await lookup.getMany([...ids]);
    for (const [id, entry] of found) if (entry.tenant !== principal.tenant) found.delete(id);
    return found;
  }

  /** Whether a submission's webhook events are recorded whatever the tenant's stored subscriptions (JobRecord.webhooks). */
  private wantsWebhooks(tenant: string, callbackUrl: string | undefined): boolean {
    return Boolean(callbackUrl) || (this.options.configuredWebhooks?.(tenant) ?? false);
  }

  private newJob(
    principal: Principal,
    tool: string,
    rawParams: Record<string, unknown>,
    maxAttempts: number,
    batchId: string | null,
    sandboxes: ReadonlyMap<string, SandboxEntry>,
    field = '',
  ): JobRecord {
    if (!principal.scopes.includes('submit'))
      throw new HarombeError('Forbidden', 'this key may not submit jobs (scope submit)');
    const toolName = ToolName.safeParse(tool);
    if (!toolName.success) {
      throw new HarombeError(
        'UnknownTool',
        `${field}tool: unknown tool '${tool}'; known: ${ToolName.options.join(', ')}`,
        { field: `${field}tool` },
      );
    }
    const params = parseOrThrow(TOOLS[toolName.data].params as z.ZodType, rawParams, `${field}params.`) as Record<
      string,
      unknown
    >;
    this.checkSizes(params, `${field}params.`);
    this.checkLimits(params, `${field}params.`);
    normalizePaths(params, `${field}params.`);
    const sandbox = typeof params.sandbox_id === 'string' ? sandboxes.get(params.sandbox_id) : undefined;
    const context: ClassificationContext = sandbox
      ? {
          sandbox: {
            sandbox_id: sandbox.sandbox_id,
            network_enabled: sandbox.network_enabled,
            allowed_domains: sandbox.allowed_domains,
          },
        }
      : {};
    const assessment = this.options.policy.classify(toolName.data, params, context);
    // The program runs with its sandbox's network: the job says so, as the approver must see it.
    if (toolName.data === 'code_execute' && sandbox?.network_enabled) {
      params.network_enabled = true;
      params.allowed_domains = [...sandbox.allowed_domains];
    }
    const now = this.options.clock.now();
    const approvalId = assessment.require_approval ? newId('approval') : null;
    const deadline = assessment.require_approval ? now + (assessment.approval_timeout ?? 60) * 1000 : 0;
    return {
      job_id: newId('job'),
      tenant: principal.tenant,
      submitted_by: principal.name,
      submitted_by_slack: principal.slack_user_id ?? null,
      tool: toolName.data,
      params,
      status: assessment.require_approval ? 'awaiting_approval' : 'queued',
      risk: assessment.risk,
      risk_reason: assessment.reason,
      risk_matched: assessment.matched,
      created_at: now,
      started_at: null,
      finished_at: null,
      batch_id: batchId,
      attempts: 0,
      max_attempts: maxAttempts,
      approval: approvalId
        ? {
            approval_id: approvalId,
            status: 'pending',
            risk: assessment.risk,
            expires_at: iso(deadline),
            decided_by: null,
            decided_at: null,
            reason: null,
            channel: null,
          }
        : null,
      approval_deadline: deadline,
      result: null,
      error: null,
      sandbox_id: typeof params.sandbox_id === 'string' ? params.sandbox_id : null,
      worker_id: null,
      payload_sha256: sha256(JSON.stringify({ tool: toolName.data, params })),
    };
  }

  /** Room in the store first (refusing takes no tokens), then the tenant's and key's quotas. */
  private async admit(principal: Principal, jobs: readonly JobRecord[]): Promise<void> {
    let bytes = 0;
    for (const job of jobs) bytes += Buffer.byteLength(JSON.stringify(encodeFields(job)));
    await this.options.headroom?.check(bytes + jobs.length * PER_JOB_OVERHEAD_BYTES);
    await this.options.quotas?.admit(principal, jobs.length, bytes);
  }

  /** Redis refusing a write at maxmemory is StoreFull for the caller, and logged; anything else as it was. */
  private storeFailure(error: unknown, context: Record<string, unknown>): unknown {
    if (!isOutOfMemory(error)) return error;
    this.options.logger.error({ ...context, err: error }, 'the job store is full: submission refused');
    return storeFull('Redis refused the write at its maxmemory');
  }

  private checkSizes(params: Record<string, unknown>, field: string): void {
    const bytes = (key: string): number => {
      const value = params[key];
      return typeof value === 'string' ? Buffer.byteLength(value) : 0;
    };
    // A program's stdin counts with its code, as the sandbox counts it (named as the field that tips it over).
    const code = bytes('code');
    const withStdin = code + bytes('stdin');
    if (withStdin > this.maxCodeBytes) {
      const key = code > this.maxCodeBytes ? 'code' : 'stdin';
      const what = key === 'code' ? 'larger' : 'with the code, larger';
      throw new HarombeError('PayloadTooLarge', `${field}${key}: ${what} than ${this.maxCodeBytes} bytes`, {
        field: `${field}${key}`,
        max_bytes: this.maxCodeBytes,
      });
    }
    if (bytes('content') > this.maxFileBytes) {
      throw new HarombeError('PayloadTooLarge', `${field}content: larger than ${this.maxFileBytes} bytes`, {
        field: `${field}content`,
        max_bytes: this.maxFileBytes,
      });
    }
  }

  /** Refuses now what the sandbox would refuse after approval (its checkCeiling). */
  private checkLimits(params: Record<string, unknown>, field: string): void {
    const timeout = params.timeout;
    const maximum = this.maxLimits.max_execution_time;
    if (typeof timeout === 'number' && timeout > maximum) {
      throw new HarombeError(
        'LimitTooHigh',
        `${field}timeout: ${timeout} s is above this deployment's max_execution_time of ${maximum} s`,
        { field: `${field}timeout`, limit: 'max_execution_time', maximum },
      );
    }
  }

  /** Tells the observer of a job that ended here, and of its approval when that ended with it. */
  private observeEnd(job: JobRecord): void {
    const { approval } = job;
    if (approval && approval.status !== 'pending') this.options.observer?.approvalEnded?.({ ...job, approval });
    this.options.observer?.ended?.(job);
  }

  /** The records to write with a step: none when there is no audit trail to drain them. */
  private audited(entries: AuditEntry[]): AuditEntry[] {
    return this.options.audit ? entries : [];
  }

  /**
   * Moves the records written with this call's step into the trail. The step and its record are
   * stored already, so a failure here is logged, never thrown: the housekeeper drains them later.
   */
  private async drainAudit(): Promise<void> {
    try {
      await this.options.audit?.drain();
    } catch (error) {
      this.options.logger.error({ err: error }, 'audit inbox not drained; the housekeeper will retry');
    }
  }

  private logCreated(job: JobRecord): void {
    this.options.logger.info(
      {
        job_id: job.job_id,
        tenant: job.tenant,
        tool: job.tool,
        risk: job.risk,
        status: job.status,
        payload_sha256: job.payload_sha256,
      },
      'job accepted',
    );
  }
}

const isEnded = (job: JobRecord): boolean => isTerminal(job.status);

/** The tools' workspace paths: file_path (write, read) and path (list). */
const PATH_PARAMS = ['file_path', 'path'] as const;

/**
 * Replaces the workspace paths with their normalized form, the one the worker will touch, so the
 * policy classifies it and the approver sees it (`evil.py/` is `evil.py`). A path the sandbox
 * would refuse is refused now, with InvalidPath, naming the field.
 */
function normalizePaths(params: Record<string, unknown>, field: string): void {
  for (const key of PATH_PARAMS) {
    const value = params[key];
    if (typeof value !== 'string') continue;
    try {
      params[key] = normalizeWorkspacePath(value);
    } catch (error) {
      if (!isHarombeError(error)) throw error;
      throw new HarombeError(error.code, `${field}${key}: ${error.message}`, { field: `${field}${key}` });
    }
  }
}

/** The audit records of an accepted job: its classification and, when it waits for a person, the approval request. */
function submissionEntries(job: JobRecord): AuditEntry[] {
  const classified = jobEntry('classified', job, {
    actor: job.submitted_by,
    channel: 'api',
    details: {
      risk: job.risk,
      rule: job.risk_reason,
      matched: job.risk_matched,
      require_approval: job.approval !== null,
      status: job.status,
      batch_id: job.batch_id,
    },
  });
  if (!job.approval) return [classified];
  const requested = jobEntry('approval_requested', job, {
    actor: job.submitted_by,
    channel: 'api',
    details: { approval_id: job.approval.approval_id, risk: job.risk, expires_at: job.approval.expires_at },
  });
  return [classified, requested];
}

const iso = (ms: number): string => new Date(ms).toISOString();

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A used idempotency key with another payload: answering the first job (or batch) would hide the difference. */
function idempotencyConflict(what: string, details: Record<string, unknown>): HarombeError {
  return new HarombeError(
    'IdempotencyConflict',
    `idempotency_key: already used for ${what}, with another payload; use a new key for a different request`,
    { field: 'idempotency_key', ...details },
  );
}

/** zod parse whose error names the field (under `field`, e.g. `jobs.3.params.`) and carries a stable code. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, field: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw invalidInput(fieldProblems(parsed.error.issues, { prefix: field.replace(/\.$/, '') }));
}
