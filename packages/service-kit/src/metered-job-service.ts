import type { DecisionChannel, DecisionResult, JobView, SubmitBatchRequest, SubmitJobRequest } from '@harombe/core';
import { JobService, type JobServiceOptions, type JobStore, type Principal } from '@harombe/queue';
import type { EndedJob, JobMetrics } from './job-metrics.js';

/**
 * The job service, counting what passes through it into JobMetrics: submissions, decisions
 * (with how long the approval waited), cancels, expiries, and jobs that failed before they
 * could start (a sandbox that no longer exists). The API and the approval service use it;
 * batch decisions are counted because `decideBatch` decides each job through `decide`.
 */
export class MeteredJobService extends JobService {
  private readonly store: JobStore;

  constructor(
    options: JobServiceOptions,
    private readonly metrics: JobMetrics,
  ) {
    super(options);
    this.store = options.store;
  }

  override async submit(principal: Principal, request: SubmitJobRequest): Promise<JobView> {
    const job = await super.submit(principal, request);
    this.metrics.submitted(job.tool, job.params);
    this.countFailedBeforeStart(job);
    return job;
  }

  override async submitBatch(
    principal: Principal,
    request: SubmitBatchRequest,
  ): Promise<{ batch_id: string; job_ids: string[] }> {
    const batch = await super.submitBatch(principal, request);
    for (const entry of request.jobs) this.metrics.submitted(entry.tool, entry.params);
    return batch;
  }

  override async cancel(principal: Principal, jobId: string): Promise<JobView> {
    const job = await super.cancel(principal, jobId);
    this.metrics.ended(job);
    if (job.approval?.status === 'cancelled') this.metrics.decided('cancelled', job.approval.risk);
    return job;
  }

  override async decide(
    principal: Principal,
    approvalId: string,
    decision: 'approve' | 'deny',
    reason: string | null,
    channel?: DecisionChannel,
  ): Promise<DecisionResult> {
    const result = await super.decide(principal, approvalId, decision, reason, channel);
    const { approval } = result;
    if (approval.status === 'approved' || approval.status === 'denied')
      this.metrics.decided(approval.status, approval.risk);
    const job = await this.store.get(result.job_id);
    if (job) {
      if (approval.decided_at)
        this.metrics.phase('approval_wait', (Date.parse(approval.decided_at) - job.created_at) / 1000);
      if (job.status === 'denied') this.metrics.ended(job);
      else this.countFailedBeforeStart(job);
    }
    return result;
  }

  override async expire(jobId: string): Promise<boolean> {
    const expired = await super.expire(jobId);
    if (!expired) return false;
    const job = await this.store.get(jobId);
    if (job) {
      this.metrics.ended(job);
      if (job.approval) this.metrics.decided('expired', job.approval.risk);
    }
    return true;
  }

  /** Dispatching ends a job that names a sandbox gone or lost; no worker ever sees it. */
  private countFailedBeforeStart(job: EndedJob & { started_at: number | string | null }): void {
    if (job.status === 'failed' && job.started_at === null) this.metrics.ended(job);
  }
}
