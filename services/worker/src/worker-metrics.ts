import { performance } from 'node:perf_hooks';
import { LANGUAGES, type Language } from '@harombe/core';
import { endEventFor, INFRASTRUCTURE_ERRORS, type JobRecord, type WorkerCapacity } from '@harombe/queue';
import { JobMetrics } from '@harombe/service-kit';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface WorkerMetricsOptions {
  registry: Registry;
  workerId: string;
  /** Sandboxes this worker holds: its entries in the fleet's sandbox directory. */
  sandboxCount: () => Promise<number>;
  /** Started, primed sandboxes of a language waiting in this worker's warm pool. */
  warmPoolAvailable: (language: Language) => number;
  /** How full the worker's sandbox runtime is. */
  capacity: () => WorkerCapacity;
}

/** Seconds: a warm-pool hand-over takes milliseconds, a cold runsc start about a second. */
const SANDBOX_START_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30];

/**
 * One worker's metrics: the jobs it runs (queue wait, execution, end status, error codes), the
 * sandboxes it holds, its warm pool, and how long a job waits for a new sandbox.
 */
export class WorkerMetrics {
  readonly jobs: JobMetrics;
  private readonly sandboxStart: Histogram<'language'>;
  private readonly egressRefusals: Counter<'reason'>;

  constructor(options: WorkerMetricsOptions) {
    const registers = [options.registry];
    this.jobs = new JobMetrics(options.registry);
    // The sandbox failure-rate alert divides these by the jobs run: they must exist from the start.
    this.jobs.initErrors(INFRASTRUCTURE_ERRORS);
    new Gauge({
      name: 'harombe_sandboxes_active',
      help: 'Sandboxes held by this worker (handed to an owner; the warm pool is apart)',
      labelNames: ['worker'],
      registers,
      collect: async function (this: Gauge<'worker'>) {
        this.set({ worker: options.workerId }, await options.sandboxCount());
      },
    });
    new Gauge({
      name: 'harombe_warm_pool_available',
      help: "Started sandboxes ready in this worker's warm pool, by language",
      labelNames: ['language'],
      registers,
      collect: function (this: Gauge<'language'>) {
        for (const language of LANGUAGES) this.set({ language }, options.warmPoolAvailable(language));
      },
    });
    new Gauge({
      name: 'harombe_sandboxes_live',
      help: 'Sandbox containers this worker has alive: pooled, kept, running, being started or removed',
      labelNames: ['worker'],
      registers,
      collect: function (this: Gauge<'worker'>) {
        this.set({ worker: options.workerId }, options.capacity().in_use);
      },
    });
    new Gauge({
      name: 'harombe_sandboxes_max',
      help: 'Sandboxes this worker may have alive at once (worker.max_sandboxes)',
      labelNames: ['worker'],
      registers,
      collect: function (this: Gauge<'worker'>) {
        this.set({ worker: options.workerId }, options.capacity().max);
      },
    });
    this.sandboxStart = new Histogram({
      name: 'harombe_sandbox_start_seconds',
      help: 'Time a job waited for a new sandbox: from the warm pool, or a cold runsc start',
      labelNames: ['language'],
      buckets: SANDBOX_START_BUCKETS,
      registers,
    });
    this.egressRefusals = new Counter({
      name: 'harombe_egress_refusals_total',
      help: 'Connections network-enabled sandboxes tried that the egress proxy refused, by reason',
      labelNames: ['reason'],
      registers,
    });
  }

  /** Connections (`count`, default 1) a network-enabled sandbox tried that its egress proxy refused. */
  egressRefused(reason: string, count = 1): void {
    this.egressRefusals.inc({ reason }, count);
  }

  sandboxStarted(language: string, seconds: number): void {
    this.sandboxStart.observe({ language }, seconds);
  }

  /**
   * Runs one claimed job's tool: observes how long it waited on its queue, how long it ran,
   * and how it ended. A run aborted by a cancel is left to whoever cancelled it to count.
   */
  async measure(
    job: JobRecord,
    signal: AbortSignal,
    run: () => Promise<Record<string, unknown>>,
  ): Promise<Record<string, unknown>> {
    // Only a first attempt's wait is known: the record does not say when a retry was queued.
    if (job.attempts === 1 && job.started_at !== null)
      this.jobs.phase('queue_wait', (job.started_at - queuedAt(job)) / 1000);
    const started = performance.now();
    let result: Record<string, unknown>;
    try {
      result = await run();
    } catch (error) {
      this.jobs.ended({ ...job, status: 'failed', error: { code: 'InternalError' } });
      throw error;
    } finally {
      this.jobs.phase('execution', (performance.now() - started) / 1000);
    }
    if (!signal.aborted)
      this.jobs.ended({
        ...job,
        status: endEventFor(result) === 'complete' ? 'completed' : 'failed',
        error: null,
        result,
      });
    return result;
  }
}

/** When the job became runnable: its approval, or its submission when none was needed. */
function queuedAt(job: JobRecord): number {
  const decided =
    job.approval?.status === 'approved' && job.approval.decided_at ? Date.parse(job.approval.decided_at) : NaN;
  return Number.isNaN(decided) ? job.created_at : decided;
}
