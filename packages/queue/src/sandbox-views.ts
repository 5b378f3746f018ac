import { HarombeError, type Clock, type SandboxView } from '@harombe/core';
import type { SandboxDirectory, SandboxEntry } from './sandbox-directory.js';
import type { WorkerRegistry } from './worker-registry.js';

export interface SandboxViewsOptions {
  directory: SandboxDirectory;
  /** Live workers: the sandboxes of a worker that is gone are not listed. */
  workers: WorkerRegistry;
  clock: Clock;
}

/** Kept sandboxes as the API shows them, from the fleet's sandbox directory. */
export class SandboxViews {
  constructor(private readonly options: SandboxViewsOptions) {}

  /** The tenant's sandboxes on live workers. */
  async list(tenant: string): Promise<SandboxView[]> {
    const { directory, workers, clock } = this.options;
    // A sandbox whose worker is gone is gone with it (the housekeeper forgets it soon after).
    const alive = new Set((await workers.alive(clock.now())).map((worker) => worker.worker_id));
    const entries = (await directory.listByTenant(tenant)).filter((entry) => alive.has(entry.worker_id));
    return entries.map((entry) => ({
      sandbox_id: entry.sandbox_id,
      language: entry.language,
      worker_id: entry.worker_id,
      network_enabled: entry.network_enabled,
      allowed_domains: entry.allowed_domains,
      created_at: new Date(entry.created_at).toISOString(),
      expires_at: new Date(entry.expires_at).toISOString(),
    }));
  }

  /** The tenant's sandbox; one of another tenant is NotFound, as one that does not exist. */
  async owned(tenant: string, sandboxId: string): Promise<SandboxEntry> {
    const entry = await this.options.directory.get(sandboxId);
    if (!entry || entry.tenant !== tenant) throw new HarombeError('NotFound', `sandbox ${sandboxId} not found`);
    return entry;
  }
}
