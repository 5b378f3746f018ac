import type { Approval, ErrorCode, JobStatus, RiskLevel } from '@harombe/core';
import type { JobObserver, JobRecord } from '@harombe/queue';
import { Counter, Histogram, type Registry } from 'prom-client';

/** The stretches of a job's life that `harombe_job_duration_seconds` measures. */
export type JobPhase = 'approval_wait' | 'queue_wait' | 'execution';

/** How a pending approval ended. */
export type ApprovalOutcome = 'approved' | 'denied' | 'expired' | 'cancelled';

/** What an ended job must tell about itself: a JobRecord or a JobView will do. */
export interface EndedJob {
  tool: string;
  params: Record<string, unknown>;
  status: JobStatus;
  error: { code: ErrorCode } | null;
  result: Record<string, unknown> | null;
}

/** Seconds; from a warm-pool hand-over (milliseconds) to a job that waited for a person for an hour. */
const DURATION_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600];

/** `language` label of a job: its params' language, or `none` for tools that have none. */
export function languageOf(params: Record<string, unknown>): string {
  return typeof params.language === 'string' ? params.language : 'none';
}

/**
 * The job counters every service shares, each counted by the service that sees the event
 * happen: the API counts submissions, decisions and cancels, the worker the jobs it runs, the
 * approval service expiries and lost workers. Summed over services they give the fleet's view;
 * no event is counted by two services. As a JobObserver it is told by the job service, the
 * dispatcher and the housekeeper; the worker calls it directly.
 */
export class JobMetrics implements JobObserver {
  private readonly submittedTotal: Counter<'tool' | 'language'>;
  private readonly endedTotal: Counter<'tool' | 'language' | 'status'>;
  private readonly duration: Histogram<'phase'>;
  private readonly approvalsTotal: Counter<'outcome' | 'risk'>;
  private readonly errorsTotal: Counter<'code'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.submittedTotal = new Counter({
      name: 'harombe_jobs_submitted_total',
      help: 'Jobs accepted, by tool and language',
      labelNames: ['tool', 'language'],
      registers,
    });
    this.endedTotal = new Counter({
      name: 'harombe_jobs_total',
      help: 'Jobs ended, by tool, language and end status (completed, failed, denied, expired, cancelled)',
      labelNames: ['tool', 'language', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'harombe_job_duration_seconds',
      help: 'Time jobs spend per phase: approval_wait (submitted to decided), queue_wait (queued to started), execution (started to ended)',
      labelNames: ['phase'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.approvalsTotal = new Counter({
      name: 'harombe_approvals_total',
      help: 'Approvals ended, by outcome and risk level',
      labelNames: ['outcome', 'risk'],
      registers,
    });
    this.errorsTotal = new Counter({
      name: 'harombe_errors_total',
      help: "Errors by stable code: a job's own or its tool's (TimeoutError, SandboxLost, ...), and API requests refused",
      labelNames: ['code'],
      registers,
    });
  }

  submitted(job: Pick<JobRecord, 'tool' | 'params'>): void {
    this.submittedTotal.inc({ tool: job.tool, language: languageOf(job.params) });
  }

  /** A job reached an end status; its error, or its tool's, counts by code. */
  ended(job: EndedJob): void {
    this.endedTotal.inc({ tool: job.tool, language: languageOf(job.params), status: job.status });
    const code = job.error?.code ?? job.result?.error;
    if (typeof code === 'string') this.error(code as ErrorCode);
  }

  decided(outcome: ApprovalOutcome, risk: RiskLevel): void {
    this.approvalsTotal.inc({ outcome, risk });
  }

  /** An approval ended; a person's decision also measures how long the job waited for it. */
  approvalEnded(job: { created_at: number; approval: Approval }): void {
    const { status, risk, decided_at } = job.approval;
    if (status === 'pending') return;
    this.decided(status, risk);
    if ((status === 'approved' || status === 'denied') && decided_at)
      this.phase('approval_wait', (Date.parse(decided_at) - job.created_at) / 1000);
  }

  /** Ignores negative spans (clocks of two hosts disagreeing). */
  phase(phase: JobPhase, seconds: number): void {
    if (seconds >= 0) this.duration.observe({ phase }, seconds);
  }

  error(code: ErrorCode): void {
    this.errorsTotal.inc({ code });
  }

  /**
   * Starts these codes' series at 0, so that a rate over them (an alert's ratio) has a series
   * to read before the first such error.
   */
  initErrors(codes: readonly ErrorCode[]): void {
    for (const code of codes) this.errorsTotal.inc({ code }, 0);
  }

  /** The housekeeper's report: a lost worker is an error either way; a job that ended, ended. */
  workerLost(job: JobRecord, outcome: 'retried' | 'failed'): void {
    if (outcome === 'failed') this.ended(job);
    else this.error('WorkerLost');
  }
}
