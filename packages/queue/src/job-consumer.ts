import { hostname } from 'node:os';
import { settledWithin, type Clock, type ErrorCode } from '@harombe/core';
import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { jobEntry, type AuditedJob, type AuditEntry } from './audit-entry.js';
import type { AuditTrail } from './audit-trail.js';
import type { ClaimData, QueuedJobData } from './job-dispatcher.js';
import type { JobEventStream, OutputStreamName } from './job-event-stream.js';
import type { JobEvents } from './job-events.js';
import { transitionOf } from './job-lifecycle.js';
import { JobOutputWriter } from './job-output-writer.js';
import type { JobRecord } from './job-record.js';
import type { JobStore } from './job-store.js';
import { SHARED_QUEUE, workerQueueName, type RedisKeys } from './redis-keys.js';
import { endEventFor, failedResult } from './results.js';
import type { WorkerCapacity, WorkerRegistry } from './worker-registry.js';

/**
 * Runs one job's tool and returns the tool's result. `signal` aborts when the job is cancelled;
 * `output` takes what the program writes, as it writes it (to the job's event stream).
 */
export type RunJob = (
  job: JobRecord,
  signal: AbortSignal,
  output: (stream: OutputStreamName, text: string) => void,
) => Promise<Record<string, unknown>>;

export interface JobConsumerOptions {
  workerId: string;
  /**
   * The consumer's connections (the queues' workers share one for commands, and each blocks on one
   * of its own): `url`, when given, first, as BullMQ takes it.
   */
  connection: RedisOptions & { url?: string };
  keys: RedisKeys;
  store: JobStore;
  workers: WorkerRegistry;
  events: JobEvents;
  /** Where a running job's output goes as it is written. */
  eventStream: JobEventStream;
  clock: Clock;
  logger: Logger;
  run: RunJob;
  /** Jobs run at once from the shared queue, and again from this worker's own queue. Default 2. */
  concurrency?: number;
  /** Milliseconds between heartbeats. Default 2 000. */
  heartbeatMs?: number;
  /** Sandboxes this worker holds, reported with each heartbeat. Default: none. */
  sandboxCount?: () => Promise<number>;
  /** How full the worker's sandbox runtime is, reported with each heartbeat. Default: not reported. */
  capacity?: () => WorkerCapacity;
  /** Where each execution's start and end are recorded. Default: nowhere. */
  audit?: AuditTrail;
  /**
   * Milliseconds a stop waits on each of its Redis steps (a cancel recorded, a run's end step, the
   * queues closed, leaving the fleet) before it goes on without: a Redis gone for good does not
   * hold a stop. Jobs left `running` then are found lost by the fleet once Redis is back.
   * Default REDIS_GRACE_MS (10 000).
   */
  redisGraceMs?: number;
}

/** Why a running job was cut short: its cancel, or the stop of the worker running it. */
const CANCELLED_BY_CALLER = 'the job was cancelled';
const CANCELLED_BY_STOP = 'the worker shut down before the job finished';

/** How long a worker's stop waits on Redis before it goes on without (see JobConsumerOptions.redisGraceMs). */
export const REDIS_GRACE_MS = 10_000;

/**
 * A worker's side of the queues: takes jobs from the shared queue and from its own (jobs for
 * sandboxes it holds), claims each in the job store (a job already claimed, cancelled or ended
 * is dropped: nothing runs twice), runs it, and writes the result. Heartbeats say it is alive.
 */
export class JobConsumer {
  private readonly concurrency: number;
  private readonly heartbeatMs: number;
  private readonly redisGraceMs: number;
  private readonly bullWorkers: Worker<QueuedJobData>[] = [];
  private bullConnection: Redis | undefined;
  private stopping = false;
  private redisGone = false;
  /** Running jobs: `ran` settles when the tool's run is over, `done` once its end is recorded too. */
  private readonly inFlight = new Map<
    string,
    { controller: AbortController; ran: Promise<unknown>; done: Promise<unknown> }
  >();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Every line names the worker. */
  private readonly log: Logger;

  constructor(private readonly options: JobConsumerOptions) {
    this.log = options.logger.child({ worker_id: options.workerId });
    this.concurrency = options.concurrency ?? 2;
    this.heartbeatMs = options.heartbeatMs ?? 2_000;
    this.redisGraceMs = options.redisGraceMs ?? REDIS_GRACE_MS;
  }

  get running(): number {
    return this.inFlight.size;
  }

  async start(): Promise<void> {
    await this.options.events.start();
    this.unsubscribe = this.options.events.onEvent((jobId, status) => {
      if (status === 'cancelled') this.inFlight.get(jobId)?.controller.abort(CANCELLED_BY_CALLER);
    });
    await this.heartbeat();
    this.heartbeatTimer = setInterval(
      () => void this.heartbeat().catch((error: unknown) => this.log.error({ err: error }, 'heartbeat failed')),
      this.heartbeatMs,
    );
    // One BullMQ worker per slot, each taking one job at a time. A worker of concurrency N fetches
    // again as soon as it has taken a job, and finds the queue empty at every job once jobs come
    // one by one (a moveToActive and a wait more per job); one of concurrency 1 takes its next job
    // in the step that finishes the last. Their commands share a connection; each blocks on its own.
    const { url, ...connection } = this.options.connection;
    const options = { ...connection, maxRetriesPerRequest: null };
    this.bullConnection = url ? new Redis(url, options) : new Redis(options);
    for (const queue of [SHARED_QUEUE, workerQueueName(this.options.workerId)]) {
      for (let slot = 0; slot < this.concurrency; slot += 1) {
        const worker = new Worker<QueuedJobData>(queue, (job, token) => this.process(job, token), {
          connection: this.bullConnection as unknown as ConnectionOptions,
          prefix: this.options.keys.bullPrefix(),
          concurrency: 1,
        });
        worker.on('error', (error) => this.log.error({ err: error, queue }, 'queue worker error'));
        this.bullWorkers.push(worker);
      }
    }
    await Promise.all(this.bullWorkers.map((worker) => worker.waitUntilReady()));
    this.log.info({ concurrency: this.concurrency }, 'worker taking jobs');
  }

  /**
   * Graceful stop: take no new jobs, give running ones until `deadlineMs` to finish, then cancel
   * the rest (their jobs end `cancelled`), and leave the fleet.
   */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    // Not waiting for the running jobs, pausing asks nothing of Redis.
    await Promise.all(this.bullWorkers.map((worker) => worker.pause(true).catch(() => undefined)));
    const finished = Promise.allSettled([...this.inFlight.values()].map((entry) => entry.done));
    const timedOut = await Promise.race([finished.then(() => false), sleep(deadlineMs).then(() => true)]);
    if (timedOut) {
      const now = this.options.clock.now();
      const running = [...this.inFlight];
      await this.redisStep(
        'recording running jobs cancelled',
        Promise.all(
          running.map(async ([jobId]) => {
            const job = await this.options.store.get(jobId);
            if (job)
              await this.options.store.transition(
                jobId,
                'cancel',
                failedResult(job, 'Cancelled', CANCELLED_BY_STOP),
                now,
              );
          }),
        ),
      );
      for (const [, entry] of running) entry.controller.abort(CANCELLED_BY_STOP);
      // An aborted run ends without Redis, unless it was waiting on it (a sandbox looked up, a
      // record written): the runs get the grace, and a run that outlasts it is not taken for a
      // dead Redis (a tool may ignore the abort); its sandbox goes with the worker's stop.
      await settledWithin(Promise.allSettled(running.map(([, entry]) => entry.ran)), this.redisGraceMs);
      await this.redisStep("recording the cancelled jobs' ends", finished);
    }
    clearInterval(this.heartbeatTimer);
    this.unsubscribe?.();
    // A job whose end step waits on a Redis that is gone never ends: queue workers closed without
    // forcing would wait for it. (A worker's first close decides: later ones return the same.)
    const force = this.redisGone;
    await this.redisStep('closing the queues', Promise.all(this.bullWorkers.map((worker) => worker.close(force))));
    if (!(await this.redisStep('closing the queue connection', this.bullConnection?.quit() ?? Promise.resolve())))
      this.bullConnection?.disconnect();
    await this.redisStep('leaving the fleet', this.options.workers.leave(this.options.workerId));
    this.inFlight.clear();
    this.log.info('worker stopped');
  }

  /**
   * Whether a stop gave up on Redis (a step outlasted redisGraceMs). Its later steps then wait no
   * more, and the caller's need not either.
   */
  get redisGivenUp(): boolean {
    return this.redisGone;
  }

  /** One Redis step of a stop, given up after redisGraceMs (at once, once one was): whether it ended. */
  private async redisStep(what: string, work: Promise<unknown>): Promise<boolean> {
    work.catch((error: unknown) => this.log.warn({ err: error }, `stopping: ${what} failed`));
    const ended = await settledWithin(work, this.redisGone ? 0 : this.redisGraceMs);
    if (!ended && !this.redisGone)
      this.log.error(
        { grace_ms: this.redisGraceMs, step: what },
        'stopping: Redis does not answer; the stop goes on without it (jobs left running are found lost once it is back)',
      );
    if (!ended) this.redisGone = true;
    return ended;
  }

  private async process(bullJob: Job<QueuedJobData>, token: string | undefined): Promise<void> {
    const jobId = bullJob.data.job_id;
    let log = this.log.child({ job_id: jobId });
    // A slot already waiting for a job when the stop began still receives one (pausing does not
    // interrupt its wait): the job goes back to its queue, unclaimed, for another worker.
    if (this.stopping) {
      await bullJob.moveToDelayed(Date.now(), token);
      log.info('job put back on its queue: the worker is stopping');
      throw new DelayedError();
    }
    const worker = this.options.workerId;
    const job = await this.claim(jobId, bullJob.data.claim);
    if (typeof job === 'string') {
      log.info({ outcome: job }, 'job not claimed: gone, already taken, cancelled or ended');
      return;
    }
    // Every line about the job carries whose it is and its batch.
    log = log.child({ tenant: job.tenant, batch_id: job.batch_id });
    const controller = new AbortController();
    let finish!: () => void;
    let ranOut!: () => void;
    this.inFlight.set(jobId, {
      controller,
      ran: new Promise<void>((resolve) => (ranOut = resolve)),
      done: new Promise<void>((resolve) => (finish = resolve)),
    });
    log.info({ tool: job.tool, attempt: job.attempts }, 'job started');
    const output = new JobOutputWriter(this.options.eventStream, jobId, worker, {
      onError: (error) => log.warn({ err: error }, 'live output not appended'),
    });
    try {
      // Cut short by a cancel, recorded already, or by this worker's stop, recorded just before
      // unless Redis missed it: the job ends cancelled whichever step reaches Redis first.
      const endCancelled = async (ran?: Record<string, unknown>): Promise<void> => {
        const reason = String(controller.signal.reason);
        const cancelled = failedResult(job, 'Cancelled', reason);
        // The audit trail keeps what the run did before it was cut short, when it said.
        const details = { worker_id: worker, ...(ran ? runDetails(ran) : {}), error: 'Cancelled' };
        const outcome = await this.end(log, job, 'cancel', cancelled, details, output);
        log.info({ outcome, success: false, error: 'Cancelled', reason }, 'job finished');
      };
      let result: Record<string, unknown>;
      try {
        result = await Promise.resolve()
          .then(() => this.options.run(job, controller.signal, (stream, text) => output.write(stream, text)))
          .finally(ranOut);
      } catch (error) {
        if (controller.signal.aborted) return await endCancelled();
        log.error({ err: error }, 'job failed in the worker');
        const failed = failedResult(
          job,
          'InternalError',
          `the worker failed to run the job: ${(error as Error).message}`,
        );
        const outcome = await this.end(log, job, 'fail', failed, { worker_id: worker, error: 'InternalError' }, output);
        log.info({ outcome, success: false, error: 'InternalError' }, 'job finished');
        return;
      }
      if (controller.signal.aborted) return await endCancelled(result);
      const event = endEventFor(result);
      const code = result.error as ErrorCode;
      const text = (value: unknown): string => (typeof value === 'string' ? value : '');
      const error = event === 'fail' ? { code, message: text(result.stderr) || text(result.message) || code } : null;
      const outcome = await this.end(
        log,
        job,
        event,
        { result, error },
        { worker_id: worker, ...runDetails(result) },
        output,
      );
      // What the tool said of its run, when it ran a program: one line tells the whole end.
      const ran = Object.fromEntries(
        (['sandbox_id', 'exit_code', 'execution_time'] as const).flatMap((key) =>
          result[key] === undefined ? [] : [[key, result[key]]],
        ),
      );
      log.info({ outcome, success: result.success, error: result.error ?? null, ...ran }, 'job finished');
    } finally {
      this.inFlight.delete(jobId);
      finish();
    }
  }

  /**
   * Starts the job on this worker (a job already claimed, cancelled or ended is not: the outcome
   * says why) and answers it as started. With what the dispatcher put on the queue (`claim`), one
   * step does both; without it, the job is read first.
   */
  private async claim(jobId: string, claim: ClaimData | undefined): Promise<JobRecord | string> {
    const worker = this.options.workerId;
    const now = this.options.clock.now();
    const start = { worker_id: worker, started_at: now };
    if (claim) {
      const { routing, attempts, ...audited } = claim;
      const entry = this.entry(
        'execution_started',
        { job_id: jobId, tenant: routing.tenant, ...audited },
        {
          worker_id: worker,
          attempt: attempts + 1,
        },
      );
      const claimed = await this.options.store.transition(jobId, 'start', start, now, entry, {
        routing: { job_id: jobId, ...routing },
        read: true,
        attempts,
      });
      if (claimed.outcome !== 'ok') return claimed.outcome;
      if (claimed.job) return claimed.job;
      // Started, but not readable back: it must not stay running with nothing running it.
      const message = 'the worker could not read the job it had started';
      const failed = failedResult({ tool: audited.tool, params: {} }, 'InternalError', message);
      await this.options.store.transition(jobId, 'fail', failed, now, undefined, { worker, attempts: attempts + 1 });
      return 'unreadable';
    }
    const queued = await this.options.store.get(jobId);
    if (!queued) return 'missing';
    const entry = this.entry('execution_started', queued, { worker_id: worker, attempt: queued.attempts + 1 });
    const claimed = await this.options.store.transition(jobId, 'start', start, now, entry);
    if (claimed.outcome !== 'ok') return claimed.outcome;
    return { ...queued, status: 'running', ...start, attempts: queued.attempts + 1 };
  }

  /**
   * Ends the job with `event`, its record and its last output written with the step. When
   * something else ended it first (a cancel), the execution still happened: its end is recorded
   * apart, with the status the job was left in.
   */
  private async end(
    log: Logger,
    job: JobRecord,
    event: 'complete' | 'fail' | 'cancel',
    patch: Partial<JobRecord>,
    details: Record<string, unknown>,
    output: JobOutputWriter,
  ): Promise<string> {
    const ours = transitionOf(event).to;
    const outcome = await this.options.store.transition(
      job.job_id,
      event,
      patch,
      this.options.clock.now(),
      this.entry('execution_finished', job, { status: ours, ...details }),
      { worker: this.options.workerId, attempts: job.attempts, output: await output.finish() },
    );
    // The step's record waits in the audit inbox: the housekeeper (or a reader of the trail)
    // chains it in, many at a time, off the jobs' path.
    if (outcome.outcome !== 'ok' && this.options.audit) {
      const status = (await this.options.store.get(job.job_id))?.status ?? 'gone';
      await this.options.audit
        .append(this.entry('execution_finished', job, { status, ...details }) as AuditEntry)
        .catch((error: unknown) => {
          log.error({ err: error, audit: 'execution_finished' }, 'audit record not written');
        });
    }
    return outcome.outcome;
  }

  /** An execution step's record, when there is an audit trail to write it to. */
  private entry(
    type: 'execution_started' | 'execution_finished',
    job: AuditedJob,
    details: Record<string, unknown>,
  ): AuditEntry | undefined {
    return this.options.audit
      ? jobEntry(type, job, { actor: this.options.workerId, channel: 'worker', details })
      : undefined;
  }

  private async heartbeat(): Promise<void> {
    await this.options.workers.heartbeat({
      worker_id: this.options.workerId,
      hostname: hostname(),
      last_seen: this.options.clock.now(),
      concurrency: this.concurrency,
      running: this.inFlight.size,
      sandboxes: (await this.options.sandboxCount?.()) ?? 0,
      ...(this.options.capacity ? { capacity: this.options.capacity() } : {}),
    });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** What a run's audit record keeps of its result. */
function runDetails(result: Record<string, unknown>): Record<string, unknown> {
  return {
    success: result.success ?? null,
    exit_code: result.exit_code ?? null,
    error: result.error ?? null,
    execution_time: result.execution_time ?? null,
  };
}
