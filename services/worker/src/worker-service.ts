import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { settledWithin, systemClock, toolDescriptor, type Clock, type HarombeConfig } from '@harombe/core';
import {
  AuditTrail,
  JobConsumer,
  JobEvents,
  JobEventStream,
  JobStore,
  KeptSandboxAdmission,
  REDIS_GRACE_MS,
  RedisKeys,
  SandboxDirectory,
  SHARED_QUEUE,
  WorkerRegistry,
  type RunJob,
} from '@harombe/queue';
import { CodeExecutionTools, LABELS, SandboxManager } from '@harombe/sandbox';
import { createRegistry, fleetId, RedisConnections, startOpsServer } from '@harombe/service-kit';
import { Queue } from 'bullmq';
import type Docker from 'dockerode';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { RedisSandboxRegistry } from './redis-sandbox-registry.js';
import { WorkerMetrics } from './worker-metrics.js';

export interface WorkerServiceOptions {
  config: HarombeConfig;
  logger: Logger;
  /** Default: `<hostname>-<random>`; a restart with the same id adopts the sandboxes it held. */
  workerId?: string;
  /**
   * Whether kept sandboxes outlive a graceful stop, for a restart with the same worker id to
   * adopt. Default: true when `workerId` is given, false otherwise (nobody could adopt them).
   * Pooled and one-shot sandboxes never do.
   */
  keepSandboxesOnStop?: boolean;
  /** Milliseconds between looks at the shared queue's depth, which the warm pool follows. Default 500. */
  demandIntervalMs?: number;
  /** Default: the local Docker engine. */
  docker?: Docker;
  /** Default: the system clock. */
  clock?: Clock;
  /** Port of /healthz, /readyz, /metrics; 0 picks a free one. Default 9101. */
  opsPort?: number;
  /** Default 127.0.0.1. */
  opsHost?: string;
}

/** Sandbox containers of workers carry this manager prefix, so a live worker can reap a dead one's. */
const MANAGER_PREFIX = 'harombe-worker-';

/** A worker: pulls approved jobs and runs them in gVisor sandboxes. Wires the packages together. */
export class WorkerService {
  readonly workerId: string;
  readonly sandboxes: SandboxManager;
  private readonly redis: RedisConnections;
  private readonly consumer: JobConsumer;
  private readonly workers: WorkerRegistry;
  private readonly clock: Clock;
  private readonly metrics = createRegistry('worker');
  private readonly sharedQueue: Queue;
  private ops: FastifyInstance | undefined;
  private reapTimer: NodeJS.Timeout | undefined;
  private demandTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WorkerServiceOptions) {
    const { config, logger } = options;
    this.workerId = options.workerId ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
    this.clock = options.clock ?? systemClock;
    const log = logger.child({ worker_id: this.workerId });
    const keys = new RedisKeys(config.redis.prefix);
    this.redis = new RedisConnections(config.redis.url, log);
    const store = new JobStore({ redis: this.redis.commands, keys, resultTtlSeconds: config.api.result_ttl_seconds });
    const directory = new SandboxDirectory(this.redis.commands, keys);
    this.workers = new WorkerRegistry(this.redis.commands, keys, config.worker.lost_after_seconds * 1000);
    const metrics = new WorkerMetrics({
      registry: this.metrics,
      workerId: this.workerId,
      sandboxCount: () => directory.countByWorker(this.workerId),
      warmPoolAvailable: (language) => this.sandboxes.warmPoolAvailable(language),
      capacity: () => this.sandboxes.capacity(),
    });
    const audit = new AuditTrail({ redis: this.redis.commands, keys, clock: this.clock });
    this.sandboxes = new SandboxManager({
      config: config.security.sandbox,
      // Each refused connection is counted and goes into the audit trail under the sandbox's tenant,
      // tied to the job whose execution made it, when one ran then.
      onEgressRefused: (refusal) => {
        metrics.egressRefused(refusal.reason, refusal.count);
        void Promise.all([directory.get(refusal.sandbox_id), refusal.job_id ? store.get(refusal.job_id) : undefined])
          .then(([entry, job]) =>
            audit.networkRefused({
              tenant: job?.tenant ?? entry?.tenant ?? 'unknown',
              sandbox_id: refusal.sandbox_id,
              destination: refusal.target,
              reason: refusal.reason,
              count: refusal.count,
              worker_id: this.workerId,
              ...(job ? { job } : {}),
              ...(refusal.background ? { background: true } : {}),
            }),
          )
          .catch((error: unknown) =>
            log.error({ err: error, sandbox_id: refusal.sandbox_id }, 'recording a refused connection failed'),
          );
      },
      managerId: `${MANAGER_PREFIX}${this.workerId}`,
      labels: { [LABELS.fleet]: fleetId(config) },
      registry: new RedisSandboxRegistry(directory, this.workerId, config.security.sandbox.idle_timeout),
      // Kept sandboxes leave each worker at least one sandbox per job it runs at once.
      oneShotReserve: config.worker.concurrency,
      ...(config.worker.max_sandboxes ? { maxSandboxes: config.worker.max_sandboxes } : {}),
      clock: this.clock,
      logger: log,
      ...(options.docker ? { docker: options.docker } : {}),
      onSandboxReady: (language, seconds) => metrics.sandboxStarted(language, seconds),
    });
    const admission = new KeptSandboxAdmission({
      directory,
      workers: this.workers,
      quotas: config.quotas,
      clock: this.clock,
    });
    const tools = new CodeExecutionTools(this.sandboxes, (tenant) => admission.reserve(tenant));
    // Each tool as the catalogue describes it: aborted when its job is cancelled, or run to its end;
    // its output to the job's event stream as it is written (all of it before the job ends), or not.
    const runTool: RunJob = (job, signal, output) => {
      const tool = toolDescriptor(job.tool);
      return tools.run(job.tool, {
        params: job.params,
        owner: job.tenant,
        jobId: job.job_id,
        ...(tool.abortOnCancel ? { signal } : {}),
        ...(tool.streamsOutput ? { onOutput: output } : {}),
      });
    };
    this.sharedQueue = new Queue(SHARED_QUEUE, { connection: this.redis.bullConnection(), prefix: keys.bullPrefix() });
    this.consumer = new JobConsumer({
      workerId: this.workerId,
      connection: this.redis.bullConnection(),
      keys,
      store,
      workers: this.workers,
      events: new JobEvents(this.redis.subscriber, keys),
      eventStream: new JobEventStream({ redis: this.redis.commands, keys }),
      clock: this.clock,
      // It names the worker on each line itself.
      logger,
      concurrency: config.worker.concurrency,
      heartbeatMs: config.worker.heartbeat_seconds * 1000,
      sandboxCount: () => directory.countByWorker(this.workerId),
      capacity: () => this.sandboxes.capacity(),
      audit,
      run: (job, signal, output) => metrics.measure(job, signal, () => runTool(job, signal, output)),
    });
  }

  async start(): Promise<void> {
    await this.sandboxes.start();
    await this.consumer.start();
    await this.reapAbandoned().catch(this.reapFailed);
    // As often as a worker can be found lost: what a killed one left is reaped soon after.
    const reapEveryMs = Math.max(1000, this.options.config.worker.lost_after_seconds * 1000);
    this.reapTimer = setInterval(() => void this.reapAbandoned().catch(this.reapFailed), reapEveryMs);
    this.demandTimer = setInterval(
      () =>
        void this.followDemand().catch((error: unknown) =>
          this.options.logger.warn({ err: error }, 'reading the queue depth failed'),
        ),
      this.options.demandIntervalMs ?? 500,
    );
    this.ops = await startOpsServer({
      host: this.options.opsHost ?? '127.0.0.1',
      port: this.options.opsPort ?? 9101,
      registry: this.metrics,
      readiness: { redis: () => this.redis.ping() },
      about: { worker_id: this.workerId },
    });
  }

  get opsAddress(): string | undefined {
    const address = this.ops?.server.address();
    return address && typeof address === 'object' ? `http://${address.address}:${address.port}` : undefined;
  }

  /** SIGTERM: finish (or, past the deadline, cancel) running jobs, then leave. */
  async stop(deadlineMs = this.options.config.worker.shutdown_deadline_seconds * 1000): Promise<void> {
    clearInterval(this.reapTimer);
    clearInterval(this.demandTimer);
    await this.consumer.stop(deadlineMs);
    // A Redis gone for good: nothing after waits on it (ioredis may hold a command queued while it
    // reconnects even after a disconnect), and the sandboxes still go, found by their labels; the
    // fleet finds this worker lost, and drops its directory entries, once Redis is back.
    const redisAnswers =
      !this.consumer.redisGivenUp && (await settledWithin(this.redis.commands.ping(), REDIS_GRACE_MS));
    if (!redisAnswers) this.redis.disconnect();
    await this.sandboxes.stop({
      destroySandboxes: !(this.options.keepSandboxesOnStop ?? this.options.workerId !== undefined),
      registryGone: !redisAnswers,
    });
    // Redis answered the ping, which says nothing of the next moment: the close is bounded too.
    if (!redisAnswers || !(await settledWithin(this.sharedQueue.close(), REDIS_GRACE_MS)))
      void this.sharedQueue.disconnect().catch(() => undefined);
    await this.ops?.close();
    if (redisAnswers) await this.redis.close();
  }

  /**
   * The warm pool grows for the jobs waiting in the shared queue beyond what this worker's free
   * slots take at once (those start their own sandbox now), and shrinks once none wait.
   */
  private async followDemand(): Promise<void> {
    const waiting = await this.sharedQueue.getWaitingCount();
    const free = this.options.config.worker.concurrency - this.consumer.running;
    this.sandboxes.setDemand(Math.max(0, waiting - free));
  }

  /** Removes sandbox containers on this host whose worker is gone (killed mid-job). */
  private async reapAbandoned(): Promise<void> {
    await this.sandboxes.reapAbandoned(async (managerId) => {
      if (!managerId.startsWith(MANAGER_PREFIX)) return false;
      return !(await this.workers.isAlive(managerId.slice(MANAGER_PREFIX.length), this.clock.now()));
    });
  }

  /** A failed reap is logged; the next round tries again. */
  private readonly reapFailed = (error: unknown): void => {
    this.options.logger.warn({ err: error }, 'reaping abandoned sandboxes failed');
  };
}
