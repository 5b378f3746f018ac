import { HarombeError, type Approval, type Clock } from '@harombe/core';
import type { BatchStore, JobRecord, JobService, JobStore, Principal } from '@harombe/queue';
import type { Logger } from 'pino';
import { actorText, slackDate } from './slack-messages.js';
import type { SlackApprovers } from './slack-approvers.js';

export interface SlackDecisionsOptions {
  jobs: JobService;
  store: JobStore;
  batches: BatchStore;
  approvers: SlackApprovers;
  clock: Clock;
  logger: Logger;
}

/** A decision that went through, or what to tell the person who clicked (privately). */
export type DecisionOutcome =
  | { ok: true; subject: string; decided: number; alreadyDecided: number }
  | { ok: false; subject: string | null; message: string };

type Decision = 'approve' | 'deny';

/** What to tell the clicker, and why, for the audit trail (none when Slack could not say who may decide). */
interface Refusal {
  message: string;
  reason?: 'not_an_approver' | 'self_approval';
}

/**
 * What a click in Slack may do. Only configured approvers decide, never the person whose API key
 * submitted the job (the job service refuses that too), and every decision goes through the job
 * service's atomic first-decision-wins path, channel `slack`, as `slack:<user id>`.
 */
export class SlackDecisions {
  constructor(private readonly options: SlackDecisionsOptions) {}

  /** May this user decide this approval now? For the deny modal, before asking for a reason. */
  async checkJob(userId: string, approvalId: string): Promise<DecisionOutcome> {
    const job = await this.jobOf(approvalId);
    if (!job) return { ok: false, subject: null, message: gone(approvalId) };
    const refusal =
      (await this.refusal(userId, job.submitted_by_slack))?.message ?? alreadyEnded(job, this.options.clock.now());
    return refusal
      ? { ok: false, subject: job.job_id, message: refusal }
      : { ok: true, subject: job.job_id, decided: 0, alreadyDecided: 0 };
  }

  async decideJob(
    userId: string,
    approvalId: string,
    decision: Decision,
    reason: string | null,
  ): Promise<DecisionOutcome> {
    const job = await this.jobOf(approvalId);
    if (!job) return { ok: false, subject: null, message: gone(approvalId) };
    const refusal = await this.refusal(userId, job.submitted_by_slack);
    if (refusal) {
      await this.recordRefusal({ job }, userId, refusal, approvalId);
      return { ok: false, subject: job.job_id, message: refusal.message };
    }
    try {
      await this.options.jobs.decide(principalFor(userId, job.tenant), approvalId, decision, reason, 'slack');
      return { ok: true, subject: job.job_id, decided: 1, alreadyDecided: 0 };
    } catch (error) {
      return { ok: false, subject: job.job_id, message: this.explain(error, job) };
    }
  }

  /** May this user decide this batch now? */
  async checkBatch(userId: string, batchId: string): Promise<DecisionOutcome> {
    const batch = await this.batchOf(batchId);
    if ('message' in batch) return { ok: false, subject: null, message: batch.message };
    const refusal = await this.refusal(userId, batch.submittedBySlack);
    if (refusal) return { ok: false, subject: batchId, message: refusal.message };
    if ((await this.options.batches.counts(batchId)).awaiting_approval === undefined)
      return { ok: false, subject: batchId, message: batchEnded(batchId) };
    return { ok: true, subject: batchId, decided: 0, alreadyDecided: 0 };
  }

  async decideBatch(
    userId: string,
    batchId: string,
    decision: Decision,
    reason: string | null,
  ): Promise<DecisionOutcome> {
    const batch = await this.batchOf(batchId);
    if ('message' in batch) return { ok: false, subject: null, message: batch.message };
    const refusal = await this.refusal(userId, batch.submittedBySlack);
    if (refusal) {
      await this.recordRefusal({ batch_id: batchId, tenant: batch.tenant }, userId, refusal);
      return { ok: false, subject: batchId, message: refusal.message };
    }
    try {
      const result = await this.options.jobs.decideBatch(
        principalFor(userId, batch.tenant),
        batchId,
        decision,
        reason,
        'slack',
      );
      if (result.decided === 0) return { ok: false, subject: batchId, message: batchEnded(batchId) };
      return { ok: true, subject: batchId, decided: result.decided, alreadyDecided: result.already_decided };
    } catch (error) {
      return { ok: false, subject: batchId, message: this.explain(error, null) };
    }
  }

  /** Why this user may not decide a job submitted by `submitterSlackId`; undefined when they may. */
  private async refusal(userId: string, submitterSlackId: string | null): Promise<Refusal | undefined> {
    let approver: boolean;
    try {
      approver = await this.options.approvers.isApprover(userId);
    } catch (error) {
      this.options.logger.warn({ err: error, user: userId }, 'could not read the approvers user group');
      return {
        message:
          'Slack could not tell whether you are an approver (the approvers group could not be read). Nothing was decided; try again in a moment.',
      };
    }
    if (!approver)
      return {
        reason: 'not_an_approver',
        message:
          'Only the configured Harombe approvers can decide approvals, and you are not one of them. Nothing was decided.',
      };
    if (submitterSlackId && submitterSlackId === userId) {
      return {
        reason: 'self_approval',
        message:
          'You submitted this job (the API key that did is linked to your Slack account), so you cannot decide it: another approver must. Nothing was decided.',
      };
    }
    return undefined;
  }

  /** A refused click into the audit trail and the log; one refused for want of an answer from Slack is not. */
  private async recordRefusal(
    subject: { job: JobRecord } | { batch_id: string; tenant: string },
    userId: string,
    refusal: Refusal,
    approvalId: string | null = null,
  ): Promise<void> {
    if (!refusal.reason) return;
    await this.options.jobs.decisionRefused(
      subject,
      { name: `slack:${userId}`, tenant: null },
      refusal.reason,
      'slack',
      approvalId,
    );
  }

  private explain(error: unknown, job: JobRecord | null): string {
    if (error instanceof HarombeError) {
      if (error.code === 'AlreadyDecided') {
        const approval = (error.details?.approval ?? job?.approval) as Approval | undefined;
        return approval
          ? `${endedText(approval)} Your click changed nothing.`
          : 'This approval was already decided. Your click changed nothing.';
      }
      if (error.code === 'SelfApprovalForbidden')
        return 'You submitted this job, so you cannot decide it: another approver must. Nothing was decided.';
      if (error.code === 'NotFound') return 'This job no longer exists (its records expired). Nothing was decided.';
    }
    this.options.logger.error({ err: error }, 'slack decision failed');
    return 'The decision could not be recorded because of an internal error. Nothing was decided; try again, or decide through the API.';
  }

  private async jobOf(approvalId: string): Promise<JobRecord | undefined> {
    const jobId = await this.options.store.jobIdForApproval(approvalId);
    const job = jobId ? await this.options.store.get(jobId) : undefined;
    return job?.approval ? job : undefined;
  }

  private async batchOf(
    batchId: string,
  ): Promise<{ tenant: string; submittedBySlack: string | null } | { message: string }> {
    const batch = await this.options.batches.get(batchId);
    if (!batch) return { message: `Batch ${batchId} no longer exists (its records expired). Nothing was decided.` };
    // One key submits a whole batch: its first job says whose it is.
    const [firstId] = await this.options.batches.jobIds(batchId, 0, 1);
    const first = firstId ? await this.options.store.get(firstId) : undefined;
    return { tenant: batch.tenant, submittedBySlack: first?.submitted_by_slack ?? null };
  }
}

function principalFor(userId: string, tenant: string): Principal {
  return { tenant, name: `slack:${userId}`, scopes: ['approve'], slack_user_id: userId };
}

function gone(approvalId: string): string {
  return `Approval ${approvalId} no longer exists (its records expired). Nothing was decided.`;
}

function batchEnded(batchId: string): string {
  return `No job of batch ${batchId} is waiting for a decision any more. Your click changed nothing.`;
}

/** How an approval ended, for someone who clicked after it did. */
export function endedText(approval: Approval): string {
  const when = approval.decided_at ? slackDate(Date.parse(approval.decided_at)) : 'earlier';
  switch (approval.status) {
    case 'approved':
      return `This approval was already approved by ${actorText(approval.decided_by, approval.channel)} at ${when}.`;
    case 'denied':
      return `This approval was already denied by ${actorText(approval.decided_by, approval.channel)} at ${when}.`;
    case 'expired':
      return `This approval expired at ${when} (nobody decided in time, so the job was denied).`;
    case 'cancelled':
      return `This job was cancelled by ${actorText(approval.decided_by, approval.channel)} at ${when}.`;
    case 'pending':
      return 'This approval is still pending.';
  }
}

/** Why a job is past deciding (ended, or its deadline passed before the sweep expired it); undefined while open. */
function alreadyEnded(job: JobRecord, nowMs: number): string | undefined {
  if (job.approval && job.approval.status !== 'pending')
    return `${endedText(job.approval)} Your click changed nothing.`;
  if (job.approval_deadline > 0 && job.approval_deadline <= nowMs) {
    return `This approval expired at ${slackDate(job.approval_deadline)} (nobody decided in time, so the job is denied). Your click changed nothing.`;
  }
  return undefined;
}
