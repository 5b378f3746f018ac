import type { Clock } from '@harombe/core';
import type { Logger } from 'pino';
import { jobEntry, type AuditEntry } from './audit-entry.js';
import type { AuditTrail } from './audit-trail.js';
import type { JobDispatcher } from './job-dispatcher.js';
import type { JobObserver } from './job-observer.js';
import type { JobRecord } from './job-record.js';
import type { JobService } from './job-service.js';
import type { JobStore } from './job-store.js';
import { failedResult } from './results.js';
import type { SandboxDirectory } from './sandbox-directory.js';
import type { WorkerRegistry } from './worker-registry.js';

export interface HousekeeperOptions {
  store: JobStore;
  service: JobService;
  dispatcher: JobDispatcher;
  workers: WorkerRegistry;
  clock: Clock;
  logger: Logger;
  /**
   * Most milliseconds between sweeps. Default 1 000. A sweep comes sooner when an approval's
   * deadline does: it is due then, and expires within a few milliseconds of it. (An approval made
   * after a sweep, with a deadline before the next, expires at that next sweep.)
   */
  intervalMs?: number;
  /** A queued job not on its queue after this long is put back on it. Default 30 000. */
  redispatchAfterMs?: number;
  /**
   * Milliseconds between the sweeps that need not run at every tick: jobs of lost workers
   * (default 1 000) and jobs missing from their queue (default 5 000). Expiries and the audit
   * inbox are looked at every tick.
   */
  lostWorkersEveryMs?: number;
  redispatchEveryMs?: number;
  /** Told of the jobs of lost workers (expiries are told by the job service). Default: none. */
  observer?: JobObserver;
  /** Where the end of an execution whose worker was lost is recorded. Default: nowhere. */
  audit?: AuditTrail;
  /** The sandbox directory: a lost worker's sandboxes leave it. Default: they stay listed. */
  sandboxes?: SandboxDirectory;
  /** Seconds a lost sandbox is remembered (jobs naming it hear SandboxLost). Default 86 400. */
  lostSandboxTtlSeconds?: number;
}

const PAGE = 200;
/** The shortest wait for a deadline: a clock parked just before one does not make sweeps run back to back. */
const MIN_PAUSE_MS = 10;

/**
 * The fleet's timers, kept in Redis rather than in any process: approvals past their deadline
 * expire, jobs of lost workers end WorkerLost (or run again while attempts remain), and a job
 * accepted but never put on a queue (a crash between the two) is put on it. Every action is
 * an atomic transition, so any number of housekeepers may run at once.
 */
export class Housekeeper {
  private readonly intervalMs: number;
  private readonly redispatchAfterMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private queuedCursor = 0;

  constructor(private readonly options: HousekeeperOptions) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.redispatchAfterMs = options.redispatchAfterMs ?? 30_000;
  }

  start(): void {
    const due = { lost: 0, redispatch: 0 };
    const loop = (): void => {
      let pause = this.intervalMs;
      this.running = this.sweep(due)
        .then(async () => {
          // One the sweep could not expire (it is retried at the next) does not make the timer spin.
          const now = this.options.clock.now();
          const deadline = await this.options.store.nextApprovalDeadline(now);
          if (deadline !== undefined) pause = Math.min(pause, Math.max(MIN_PAUSE_MS, deadline - now));
        })
        .catch((error: unknown) => this.options.logger.error({ err: error }, 'housekeeping failed'))
        .finally(() => {
          if (this.running) this.timer = setTimeout(loop, pause);
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    clearTimeout(this.timer);
    await running;
  }

  /**
   * What the timer runs: expiries and the audit inbox at every tick (the timer wakes at the next
   * approval's deadline), the slower sweeps when they are due (a large queue waiting for free
   * slots must not be walked at every tick).
   */
  private async sweep(due: { lost: number; redispatch: number }): Promise<void> {
    await this.expireApprovals();
    const now = Date.now();
    if (now >= due.lost) {
      due.lost = now + (this.options.lostWorkersEveryMs ?? 1000);
      await this.endJobsOfLostWorkers();
    }
    if (now >= due.redispatch) {
      due.redispatch = now + (this.options.redispatchEveryMs ?? 5000);
      await this.redispatchStale();
    }
    await this.drainAudit();
  }

  /** One sweep of everything; tests call it directly with a ManualClock. */
  async tick(): Promise<{ expired: number; lost: number; redispatched: number; audited: number }> {
    return {
      expired: await this.expireApprovals(),
      lost: await this.endJobsOfLostWorkers(),
      redispatched: await this.redispatchStale(),
      audited: await this.drainAudit(),
    };
  }

  async expireApprovals(): Promise<number> {
    let expired = 0;
    for (;;) {
      const due = await this.options.store.dueApprovalJobIds(this.options.clock.now(), PAGE);
      for (const jobId of due) if (await this.options.service.expire(jobId)) expired += 1;
      if (due.length < PAGE) return expired;
    }
  }

  async endJobsOfLostWorkers(): Promise<number> {
    const now = this.options.clock.now();
    const lostWorkers = new Set(await this.options.workers.lost(now));
    const alive = new Map<string, boolean>();
    let ended = 0;
    for (let offset = 0; ; offset += PAGE) {
      const ids = await this.options.store.indexedBefore('running', Number.POSITIVE_INFINITY, offset, PAGE);
      for (const job of await this.options.store.getMany(ids)) {
        if (!job?.worker_id || job.status !== 'running') continue;
        if (!alive.has(job.worker_id)) alive.set(job.worker_id, await this.options.workers.isAlive(job.worker_id, now));
        if (alive.get(job.worker_id)) continue;
        if (await this.workerLost(job, now)) ended += 1;
      }
      if (ids.length < PAGE) break;
    }
    for (const workerId of lostWorkers) {
      // Its sandboxes went with it (their containers are reaped on its host): they leave the directory.
      const sandboxes = await this.options.sandboxes?.forgetWorker(
        workerId,
        `it was lost with its worker ${workerId}`,
        this.options.lostSandboxTtlSeconds ?? 86_400,
      );
      await this.options.workers.forget(workerId);
      this.options.logger.warn({ worker_id: workerId, sandboxes: sandboxes ?? 0 }, 'worker lost');
    }
    return ended;
  }

  async redispatchStale(): Promise<number> {
    const before = this.options.clock.now() - this.redispatchAfterMs;
    const ids = await this.options.store.indexedBefore('queued', before, this.queuedCursor, PAGE);
    this.queuedCursor = ids.length < PAGE ? 0 : this.queuedCursor + ids.length;
    let redispatched = 0;
    for (const job of await this.options.store.getMany(ids)) {
      if (!job || job.status !== 'queued' || (await this.options.dispatcher.isOnQueue(job))) continue;
      this.options.logger.warn({ job_id: job.job_id }, 'queued job was not on its queue: dispatching it again');
      await this.options.dispatcher.dispatch(job);
      redispatched += 1;
    }
    return redispatched;
  }

  /** Code execution is not idempotent: run again only when the submitter asked for attempts. */
  private async workerLost(job: JobRecord, now: number): Promise<boolean> {
    const message = `worker ${job.worker_id} was lost while running the job`;
    if (job.attempts < job.max_attempts) {
      const outcome = await this.options.store.transition(
        job.job_id,
        'retry',
        { worker_id: null },
        now,
        this.workerLostEntry(job, 'queued'),
      );
      if (outcome.outcome !== 'ok') return false;
      this.options.logger.warn(
        { job_id: job.job_id, worker_id: job.worker_id, attempt: job.attempts },
        `${message}: running it again`,
      );
      this.options.observer?.workerLost?.(job, 'retried');
      await this.drainAudit();
      await this.options.dispatcher.dispatch({ ...job, status: 'queued', worker_id: null });
      return true;
    }
    const ended = failedResult(job, 'WorkerLost', message);
    const outcome = await this.options.store.transition(
      job.job_id,
      'lose_worker',
      ended,
      now,
      this.workerLostEntry(job, 'failed'),
    );
    if (outcome.outcome !== 'ok') return false;
    this.options.logger.warn({ job_id: job.job_id, worker_id: job.worker_id }, message);
    this.options.observer?.workerLost?.({ ...job, ...ended, status: 'failed' }, 'failed');
    await this.drainAudit();
    return true;
  }

  /** The execution's end, which its worker could not record. */
  private workerLostEntry(job: JobRecord, status: 'queued' | 'failed'): AuditEntry | undefined {
    const details = { status, worker_id: job.worker_id, error: 'WorkerLost', run_again: status === 'queued' };
    return this.options.audit
      ? jobEntry('execution_finished', job, { actor: null, channel: 'housekeeper', details })
      : undefined;
  }

  /**
   * Moves audit records into the trail: those of this sweep's steps, and those of any process
   * that stored a step and crashed before draining. Logged, never thrown.
   */
  private async drainAudit(): Promise<number> {
    try {
      return (await this.options.audit?.drain()) ?? 0;
    } catch (error) {
      this.options.logger.error({ err: error }, 'audit inbox not drained; retrying on the next sweep');
      return 0;
    }
  }
}
