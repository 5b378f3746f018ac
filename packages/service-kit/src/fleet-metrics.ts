import { RISK_LEVELS, type Clock } from '@harombe/core';
import {
  PendingApprovals,
  SHARED_QUEUE,
  workerQueueName,
  type JobStore,
  type RedisKeys,
  type WorkerRegistry,
} from '@harombe/queue';
import { Queue, type JobType } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';

export interface FleetMetricsOptions {
  registry: Registry;
  /** A command connection; the queues read here share it (BullMQ never closes a shared one). */
  redis: Redis;
  keys: RedisKeys;
  store: JobStore;
  workers: WorkerRegistry;
  clock: Clock;
  logger: Logger;
  /** Undecided approvals whose deadline is at most this many seconds away count as expiring. Default 30. */
  expiringWithinSeconds?: number;
  /** Pending approvals looked up one by one for the per-risk breakdown; the rest count as `unclassified`. Default 10 000. */
  riskBreakdownLimit?: number;
}

/** BullMQ states reported per queue. Completed jobs are removed at once, so they are not among them. */
export const QUEUE_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'failed',
] as const satisfies readonly JobType[];

/** `queue` label of the jobs waiting for a person: they are on no BullMQ queue yet. */
export const APPROVALS_QUEUE = 'approvals';

/** `queue` label of the fleet-wide age of the oldest queued job (it may be on any queue). */
export const ALL_QUEUES = 'all';

/**
 * The fleet's gauges, read from Redis at each scrape: queue depth per BullMQ queue (the shared
 * `exec` queue and each live worker's own) and state, jobs awaiting approval (in total, per
 * risk, and close to their deadline), the oldest queued job's age, and live workers.
 *
 * They describe the whole fleet, so exactly one service exports them (the approval service):
 * were every worker to, each series would appear once per worker. A scrape costs a fixed
 * number of reads per live worker plus one HGET per pending approval (up to the breakdown
 * limit); no key is ever scanned.
 */
export class FleetMetrics {
  private readonly queues = new Map<string, Queue>();
  private readonly pending: PendingApprovals;
  private readonly expiringWithinSeconds: number;
  private readonly riskBreakdownLimit: number;
  private readonly warned = new Set<string>();

  constructor(private readonly options: FleetMetricsOptions) {
    this.pending = new PendingApprovals(options.redis, options.keys);
    this.expiringWithinSeconds = options.expiringWithinSeconds ?? 30;
    this.riskBreakdownLimit = options.riskBreakdownLimit ?? 10_000;
    const registers = [options.registry];
    new Gauge({
      name: 'harombe_queue_depth',
      help: `Jobs per queue and state: BullMQ's ${QUEUE_STATES.join(', ')} for the shared queue and each live worker's, and awaiting_approval (queue "${APPROVALS_QUEUE}")`,
      labelNames: ['queue', 'state'],
      registers,
      collect: this.collector('harombe_queue_depth', async (gauge) => {
        const [depths, awaiting] = await Promise.all([this.queueDepths(), options.store.countAwaitingApproval()]);
        // Departed workers' queues must leave no series behind.
        gauge.reset();
        for (const [queue, counts] of depths)
          for (const state of QUEUE_STATES) gauge.set({ queue, state }, counts[state] ?? 0);
        gauge.set({ queue: APPROVALS_QUEUE, state: 'awaiting_approval' }, awaiting);
      }),
    });
    new Gauge({
      name: 'harombe_oldest_waiting_seconds',
      help: `Age of the oldest queued job, not yet started (queue "${ALL_QUEUES}": the whole fleet); 0 when none waits`,
      labelNames: ['queue'],
      registers,
      collect: this.collector('harombe_oldest_waiting_seconds', async (gauge) => {
        const oldest = await options.store.oldestIndexed('queued');
        gauge.set({ queue: ALL_QUEUES }, oldest === undefined ? 0 : Math.max(0, (options.clock.now() - oldest) / 1000));
      }),
    });
    new Gauge({
      name: 'harombe_workers_up',
      help: 'Workers whose heartbeat is current',
      registers,
      collect: this.collector(
        'harombe_workers_up',
        async (gauge) => {
          gauge.set((await options.workers.alive(options.clock.now())).length);
        },
        { labelled: false },
      ),
    });
    new Gauge({
      name: 'harombe_approvals_pending',
      help: 'Jobs awaiting an approval decision, by risk level (unclassified: past the breakdown limit)',
      labelNames: ['risk'],
      registers,
      collect: this.collector('harombe_approvals_pending', async (gauge) => {
        const counts = await this.pending.countByRisk(this.riskBreakdownLimit);
        for (const risk of [...RISK_LEVELS, 'unclassified'] as const) gauge.set({ risk }, counts[risk]);
      }),
    });
    new Gauge({
      name: 'harombe_approvals_expiring',
      help: 'Undecided approvals whose deadline is at most within_seconds away (or already past, not yet expired)',
      labelNames: ['within_seconds'],
      registers,
      collect: this.collector('harombe_approvals_expiring', async (gauge) => {
        const deadline = options.clock.now() + this.expiringWithinSeconds * 1000;
        gauge.set(
          { within_seconds: String(this.expiringWithinSeconds) },
          await this.pending.countExpiringBefore(deadline),
        );
      }),
    });
  }

  /** Closes the queue handles (not the shared connection). */
  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
  }

  /** Counts per state of the shared queue and of each live worker's queue. */
  private async queueDepths(): Promise<Map<string, Record<string, number>>> {
    const alive = await this.options.workers.alive(this.options.clock.now());
    const names = [SHARED_QUEUE, ...alive.map((worker) => workerQueueName(worker.worker_id))];
    // Workers come and go (a restart without a fixed id is a new worker): drop departed ones' handles.
    for (const [name, queue] of this.queues) {
      if (names.includes(name)) continue;
      this.queues.delete(name);
      await queue.close();
    }
    const counts = await Promise.all(names.map((name) => this.queue(name).getJobCounts(...QUEUE_STATES)));
    return new Map(names.map((name, i) => [name, counts[i] as Record<string, number>]));
  }

  private queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.options.redis, prefix: this.options.keys.bullPrefix() });
      this.queues.set(name, queue);
    }
    return queue;
  }

  /**
   * A gauge's collect function that never fails the scrape: when Redis cannot be read, a
   * labelled gauge shows no series and an unlabelled one NaN (never stale values, nor a made-up
   * 0 that would read as "no worker up"). The failure is logged once until reads succeed again.
   */
  private collector<L extends string>(
    name: string,
    read: (gauge: Gauge<L>) => Promise<void>,
    { labelled = true } = {},
  ): (this: Gauge<L>) => Promise<void> {
    const { logger } = this.options;
    const warned = this.warned;
    return async function (this: Gauge<L>) {
      try {
        await read(this);
        warned.delete(name);
      } catch (error) {
        this.reset();
        if (!labelled) this.set(Number.NaN);
        if (!warned.has(name)) logger.warn({ err: error, metric: name }, 'fleet metric could not be read from Redis');
        warned.add(name);
      }
    };
  }
}
