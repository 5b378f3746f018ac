import { createsKeptSandbox, type Clock, type ErrorCode, type ToolName } from '@harombe/core';
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { JobObserver } from './job-observer.js';
import type { JobRecord } from './job-record.js';
import type { JobStore } from './job-store.js';
import type { JobRouting } from './queue-scripts.js';
import type { KeptSandboxAdmission } from './kept-sandbox-admission.js';
import { failedResult } from './results.js';
import { SHARED_QUEUE, workerQueueName, type RedisKeys } from './redis-keys.js';
import type { SandboxDirectory, SandboxEntry } from './sandbox-directory.js';
import type { WorkerRegistry } from './worker-registry.js';

/** Jobs added to BullMQ in one round trip when a batch is dispatched. */
const BULK = 500;
/**
 * A worker seen alive less than this long ago (ms) is taken as alive still: one is found lost
 * only after seconds without a heartbeat, and a job routed to a worker lost meanwhile is
 * dispatched again, and failed, by the housekeeper (see Housekeeper.redispatchStale), as one
 * routed just before its worker died already is: SandboxLost then comes after the housekeeper's
 * redispatch delay (30 s by default), not at once.
 */
const SEEN_ALIVE_MS = 1_000;
/** Workers whose last sighting is kept at most, beyond those seen within SEEN_ALIVE_MS. */
const MAX_SEEN_ALIVE = 1_000;

/** What a BullMQ job carries: the id, and what a worker's claim needs. The job store holds everything else. */
export interface QueuedJobData {
  job_id: string;
  /**
   * Known when the job was dispatched: the worker claims the job and reads it in one step. A job
   * put on its queue without it (by an older version) is read before it is claimed.
   */
  claim?: ClaimData;
}

/** What a job's start needs before the job is read: the fields its keys and its audit record are built from. */
export interface ClaimData {
  routing: Omit<JobRouting, 'job_id'>;
  tool: ToolName;
  payload_sha256: string;
  /** The job's attempts so far: this start is attempt `attempts + 1`. */
  attempts: number;
}

export interface JobDispatcherOptions {
  connection: ConnectionOptions;
  keys: RedisKeys;
  store: JobStore;
  sandboxes: SandboxDirectory;
  workers: WorkerRegistry;
  clock: Clock;
  logger: Logger;
  /** Places jobs that make a kept sandbox on the worker with the most room. Default: the shared queue. */
  admission?: KeptSandboxAdmission;
  /** Told of each job that fails here, before any worker sees it. Default: none. */
  observer?: JobObserver;
}

/**
 * Puts queued jobs on BullMQ: the shared queue, or the queue of the worker holding the
 * sandbox the job names. Adding is idempotent (the BullMQ job id is the job id and attempt),
 * so a job can be dispatched again safely after a crash.
 */
export class JobDispatcher {
  private readonly queues = new Map<string, Queue<QueuedJobData>>();
  /** When each worker was last seen alive (clock ms): jobs naming its sandboxes need not ask again at once. */
  private readonly seenAlive = new Map<string, number>();

  constructor(private readonly options: JobDispatcherOptions) {}

  /**
   * Dispatches a job the store has just made `queued`; a job it cannot route ends failed. `known`:
   * sandbox entries the caller has just read from the directory (a submission reads those its jobs
   * name), used instead of reading them again; a sandbox not among them is looked up.
   */
  async dispatch(job: JobRecord, known?: ReadonlyMap<string, SandboxEntry>): Promise<void> {
    const queueName = await this.route(job, { known });
    if (!queueName) return;
    await this.queue(queueName).add('job', this.queuedData(job), this.jobOptions(job));
  }

  private queuedData(job: JobRecord): QueuedJobData {
    const known = this.options.store.knownRouting(job.job_id);
    if (!known) return { job_id: job.job_id };
    const { job_id, ...routing } = known;
    return {
      job_id,
      claim: { routing, tool: job.tool, payload_sha256: job.payload_sha256, attempts: job.attempts },
    };
  }

  /** Idempotent: the BullMQ job id is the job id and attempt. */
  private jobOptions(job: JobRecord): JobsOptions {
    return { jobId: `${job.job_id}-${job.attempts}`, removeOnComplete: true, removeOnFail: { age: 3600 } };
  }

  /** Dispatches many jobs the store has just made `queued` (a batch), in bulk per queue; `known` as for dispatch. */
  async dispatchMany(jobs: JobRecord[], known?: ReadonlyMap<string, SandboxEntry>): Promise<void> {
    const byQueue = new Map<string, JobRecord[]>();
    for (const job of jobs) {
      const queueName = await this.route(job, { known });
      if (!queueName) continue;
      byQueue.set(queueName, [...(byQueue.get(queueName) ?? []), job]);
    }
    for (const [queueName, queued] of byQueue) {
      for (let i = 0; i < queued.length; i += BULK) {
        await this.queue(queueName).addBulk(
          queued
            .slice(i, i + BULK)
            .map((job) => ({ name: 'job', data: this.queuedData(job), opts: this.jobOptions(job) })),
        );
      }
    }
  }

  /**
   * Whether BullMQ still holds the job's current attempt (waiting, active or delayed). A job
   * that can no longer be routed (its sandbox's worker is gone) is not: dispatching it again
   * ends it.
   */
  async isOnQueue(job: JobRecord): Promise<boolean> {
    const queueName = await this.route(job, { dryRun: true });
    if (!queueName) return false;
    const state = await this.queue(queueName).getJobState(`${job.job_id}-${job.attempts}`);
    return state !== 'unknown' && state !== 'completed' && state !== 'failed';
  }

  /** Whether a worker is alive: seen so within SEEN_ALIVE_MS, else asked (always, for a dry run). */
  private async isAlive(workerId: string, now: number, fresh: boolean): Promise<boolean> {
    const seen = this.seenAlive.get(workerId);
    if (!fresh && seen !== undefined && now - seen >= 0 && now - seen < SEEN_ALIVE_MS) return true;
    const alive = await this.options.workers.isAlive(workerId, now);
    this.seenAlive.delete(workerId);
    if (alive) this.seenAlive.set(workerId, now);
    // Workers come and go (each restart is a new id): only the recently seen are worth keeping.
    for (const [id, at] of this.seenAlive) {
      if (this.seenAlive.size <= MAX_SEEN_ALIVE) break;
      if (now - at >= SEEN_ALIVE_MS) this.seenAlive.delete(id);
    }
    return alive;
  }

  queue(name: string): Queue<QueuedJobData> {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue<QueuedJobData>(name, {
        connection: this.options.connection,
        prefix: this.options.keys.bullPrefix(),
      });
      this.queues.set(name, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
  }

  /**
   * A job naming a sandbox goes to its worker's queue; one making a kept sandbox to the queue of
   * the worker with the most room for it; the rest to the shared queue.
   */
  private async route(
    job: JobRecord,
    { dryRun = false, known }: { dryRun?: boolean; known?: ReadonlyMap<string, SandboxEntry> | undefined } = {},
  ): Promise<string | undefined> {
    const now = this.options.clock.now();
    let failure: [ErrorCode, string] | undefined;
    if (!job.sandbox_id) {
      if (!createsKeptSandbox(job.tool, job.params) || !this.options.admission) return SHARED_QUEUE;
      // A dry run asks where the job went: the queue of the worker it was placed on.
      if (dryRun && job.placed_on) return workerQueueName(job.placed_on);
      const placement = await this.options.admission.placement();
      if (placement === undefined) return SHARED_QUEUE;
      if (placement !== null) {
        if (!dryRun) await this.options.store.place(job.job_id, placement);
        return workerQueueName(placement);
      }
      failure = ['CapacityExceeded', 'every worker holds as many kept sandboxes as it may'];
    } else {
      // An entry the submission read a moment ago stands (its worker's liveness is still asked
      // below): a sandbox destroyed since is refused by that worker (SandboxNotFound), as one
      // destroyed just after a fresh read here would be.
      const entry = known?.get(job.sandbox_id) ?? (await this.options.sandboxes.get(job.sandbox_id));
      const lost = entry ? undefined : await this.options.sandboxes.lost(job.sandbox_id);
      if (lost && lost.tenant === job.tenant)
        failure = ['SandboxLost', `sandbox ${job.sandbox_id} is gone: ${lost.reason}`];
      else if (!entry || entry.tenant !== job.tenant)
        failure = ['SandboxNotFound', `sandbox ${job.sandbox_id} not found`];
      else if (!(await this.isAlive(entry.worker_id, now, dryRun))) {
        failure = ['SandboxLost', `sandbox ${job.sandbox_id} was lost with its worker ${entry.worker_id}`];
      }
      if (!failure) return workerQueueName((entry as { worker_id: string }).worker_id);
    }
    if (!dryRun) {
      const [code, message] = failure;
      const ended = failedResult(job, code, message);
      const outcome = await this.options.store.transition(job.job_id, 'fail', ended, now);
      this.options.logger.warn(
        { job_id: job.job_id, sandbox_id: job.sandbox_id, code, outcome: outcome.outcome },
        message,
      );
      if (outcome.outcome === 'ok')
        this.options.observer?.ended?.({ ...job, ...ended, status: 'failed', finished_at: now });
    }
    return undefined;
  }
}
