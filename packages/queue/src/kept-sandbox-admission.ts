import { randomBytes } from 'node:crypto';
import { HarombeError, quotasFor, type Clock, type QuotasConfig } from '@harombe/core';
import type { SandboxDirectory } from './sandbox-directory.js';
import type { WorkerRegistry } from './worker-registry.js';

export interface KeptSandboxAdmissionOptions {
  directory: SandboxDirectory;
  workers: WorkerRegistry;
  /** The `quotas` section: max_sandboxes_per_tenant, and per-tenant overrides. */
  quotas: QuotasConfig;
  clock: Clock;
}

/** Seconds a caller is told to wait before asking again for a sandbox the fleet had no room for. */
const CAPACITY_RETRY_AFTER_S = 30;

/**
 * Who may have another kept sandbox, and where it goes. At submission a job that would make one
 * is refused at once past the tenant's quota (QuotaExceeded) or when every live worker is full
 * of kept sandboxes (CapacityExceeded); when it is dispatched it goes to the live worker with
 * the most room; on that worker, a place is held against the quota atomically while the
 * sandbox is made, so two workers never both make the last one.
 */
export class KeptSandboxAdmission {
  constructor(private readonly options: KeptSandboxAdmissionOptions) {}

  quotaFor(tenant: string): number {
    return quotasFor(this.options.quotas, tenant).max_sandboxes_per_tenant;
  }

  /** Refuses `count` more kept sandboxes for the tenant when they cannot be had now. */
  async admit(tenant: string, count = 1): Promise<void> {
    const quota = this.quotaFor(tenant);
    const held = await this.options.directory.keptCount(tenant, this.options.clock.now());
    if (held + count > quota) {
      throw new HarombeError(
        'QuotaExceeded',
        `tenant ${tenant} holds ${held} kept sandboxes of its ${quota}; destroy one, or run without keep_sandbox`,
        { quota: 'max_sandboxes_per_tenant', limit: quota, held },
      );
    }
    const workers = await this.reporting();
    if (workers.length > 0 && !workers.some((worker) => worker.kept_free > 0)) {
      throw new HarombeError(
        'CapacityExceeded',
        'every worker holds as many kept sandboxes as it may; try again later, or run without keep_sandbox',
        { retry_after_seconds: CAPACITY_RETRY_AFTER_S },
      );
    }
  }

  /**
   * The live worker with the most room for a kept sandbox; `null` when every one reporting is
   * full; undefined when none reports (any worker that comes takes it, and checks itself).
   */
  async placement(): Promise<string | null | undefined> {
    const workers = await this.reporting();
    if (workers.length === 0) return undefined;
    const best = workers.reduce((a, b) => (b.kept_free > a.kept_free ? b : a));
    return best.kept_free > 0 ? best.worker_id : null;
  }

  /**
   * Worker side: holds a place for one kept sandbox of the tenant, or throws QuotaExceeded.
   * Resolves to the release, to call once the sandbox is made (or not).
   */
  async reserve(tenant: string): Promise<() => Promise<void>> {
    const id = randomBytes(8).toString('hex');
    const quota = this.quotaFor(tenant);
    if (!(await this.options.directory.reserve(tenant, id, quota, this.options.clock.now()))) {
      throw new HarombeError(
        'QuotaExceeded',
        `tenant ${tenant} holds as many kept sandboxes as its quota allows (${quota})`,
        {
          quota: 'max_sandboxes_per_tenant',
          limit: quota,
        },
      );
    }
    return () => this.options.directory.release(tenant, id);
  }

  private async reporting(): Promise<{ worker_id: string; kept_free: number }[]> {
    const alive = await this.options.workers.alive(this.options.clock.now());
    return alive.flatMap((worker) =>
      worker.capacity ? [{ worker_id: worker.worker_id, kept_free: worker.capacity.kept_free }] : [],
    );
  }
}
