import { Housekeeper } from '@harombe/queue';
import { FleetMetrics, JobMetrics, type JobPipeline } from '@harombe/service-kit';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface FleetControllerOptions {
  /** The job pipeline over this process's Redis, made with `jobMetrics` as its observer. */
  pipeline: JobPipeline;
  /** What the pipeline tells of the expiries, lost workers and re-dispatches done here. */
  jobMetrics: JobMetrics;
  /** A command connection (the fleet gauges' queues share it). */
  redis: Redis;
  /** Where the fleet-wide gauges are registered. */
  registry: Registry;
  logger: Logger;
  /** Most milliseconds between housekeeping sweeps (see HousekeeperOptions.intervalMs). Default 1 000. */
  intervalMs?: number;
  /** How long a lost sandbox is remembered (jobs naming it hear SandboxLost), s. Default 86 400. */
  lostSandboxTtlSeconds?: number;
}

/**
 * The fleet's controller: the timers kept in Redis rather than in any process (approvals past
 * their deadline expire, jobs of lost workers end or run again, jobs accepted but never queued
 * are queued, audit records left in the inbox are chained) and the fleet-wide gauges (queue
 * depths, pending approvals, live workers), which one service alone exports. Every action is an
 * atomic transition, so any number of controllers may run at once.
 */
export class FleetController {
  readonly housekeeper: Housekeeper;
  private readonly gauges: FleetMetrics;

  constructor(options: FleetControllerOptions) {
    const { pipeline, logger } = options;
    const { store, jobs, dispatcher, workers, clock, keys } = pipeline;
    this.housekeeper = new Housekeeper({
      store,
      service: jobs,
      dispatcher,
      workers,
      clock,
      logger,
      ...(options.intervalMs !== undefined ? { intervalMs: options.intervalMs } : {}),
      observer: options.jobMetrics,
      audit: pipeline.audit,
      sandboxes: pipeline.sandboxes,
      lostSandboxTtlSeconds: options.lostSandboxTtlSeconds,
    });
    this.gauges = new FleetMetrics({
      registry: options.registry,
      redis: options.redis,
      keys,
      store,
      workers,
      clock,
      logger,
    });
  }

  start(): void {
    this.housekeeper.start();
  }

  async stop(): Promise<void> {
    await this.housekeeper.stop();
    await this.gauges.close();
  }
}
