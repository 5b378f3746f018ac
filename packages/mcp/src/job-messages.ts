import type { JobView } from '@harombe/core';

/** `risk HIGH (Code execution requires approval; matched: subprocess)`: the risk and the rule that set it. */
export function riskText(job: JobView): string {
  return `risk ${job.risk} (${job.risk_reason}${job.risk_matched ? `; matched: ${job.risk_matched}` : ''})`;
}

/** `in 42 s`, or `already passed`. */
function remaining(expiresAt: string, now: number): string {
  const seconds = Math.round((Date.parse(expiresAt) - now) / 1000);
  return seconds > 0 ? `in ${seconds} s` : 'already passed';
}

/**
 * The progress message for a job that has not ended. `again` marks a heartbeat: nothing changed
 * since the last message.
 */
export function progressMessage(job: JobView, now: number, again: boolean): string {
  const approval = job.approval;
  switch (job.status) {
    case 'awaiting_approval': {
      const expiry = approval?.expires_at
        ? `expires at ${approval.expires_at} (${remaining(approval.expires_at, now)})`
        : 'never expires';
      const what = again ? "still waiting for a person's approval" : "waiting for a person's approval";
      return `${what}: ${riskText(job)}; approval ${approval?.approval_id ?? '?'} ${expiry}; job ${job.job_id}`;
    }
    case 'queued':
    case 'running': {
      if (again) return `${job.status === 'running' ? 'still running' : 'still queued'}; job ${job.job_id}`;
      const decided =
        approval?.status === 'approved' && approval.channel !== 'policy'
          ? `approved by ${approval.decided_by ?? 'an approver'}${approval.reason ? ` (${approval.reason})` : ''}; `
          : `${riskText(job)}, no approval needed; `;
      const where = job.status === 'running' && job.worker_id ? ` on worker ${job.worker_id}` : '';
      return `${decided}${job.status}${where}; job ${job.job_id}`;
    }
    default:
      return `${job.status}; job ${job.job_id}`;
  }
}

/**
 * Why a job that did not run ended, for the tool error that ends the call: who denied it and
 * why, that its approval expired, or who cancelled it.
 */
export function notRunMessage(job: JobView): string {
  const approval = job.approval;
  switch (job.status) {
    case 'denied': {
      const who = approval?.decided_by ?? 'an approver';
      const why = approval?.reason ? `: ${approval.reason}` : ' (no reason given)';
      return `ApprovalDenied: job ${job.job_id} was denied by ${who}${why}. It did not run; ${riskText(job)}.`;
    }
    case 'expired':
      return (
        `ApprovalTimeout: nobody approved job ${job.job_id} before its approval expired` +
        `${approval?.expires_at ? ` at ${approval.expires_at}` : ''}. It did not run; ${riskText(job)}.`
      );
    case 'cancelled':
      return `Cancelled: job ${job.job_id} was ${job.error?.message ?? 'cancelled'}.`;
    default:
      return `${job.error?.code ?? 'InternalError'}: job ${job.job_id} ended ${job.status}${job.error ? `: ${job.error.message}` : ''}.`;
  }
}
