import type { SandboxDirectory } from '@harombe/queue';
import type { SandboxRecord, SandboxRegistry } from '@harombe/sandbox';

/**
 * The sandbox runtime's registry kept in the fleet's sandbox directory: the runtime's record
 * plus the worker holding it, so jobs naming the sandbox are routed here, and a restarted
 * worker with the same id adopts its sandboxes.
 */
export class RedisSandboxRegistry implements SandboxRegistry {
  constructor(
    private readonly directory: SandboxDirectory,
    private readonly workerId: string,
    /** Seconds a sandbox lives unused unless made with its own (the runtime's idle_timeout): its advertised expiry. */
    private readonly idleTimeoutSeconds: number,
  ) {}

  async get(sandboxId: string): Promise<SandboxRecord | undefined> {
    const entry = await this.directory.get(sandboxId);
    return entry && entry.worker_id === this.workerId ? (entry.record as SandboxRecord) : undefined;
  }

  async put(record: SandboxRecord): Promise<void> {
    await this.directory.put({
      sandbox_id: record.sandbox_id,
      worker_id: this.workerId,
      tenant: record.owner,
      language: record.language,
      network_enabled: record.network_enabled,
      allowed_domains: record.allowed_domains,
      created_at: Date.parse(record.created_at),
      expires_at: record.last_used_at + (record.idle_timeout ?? this.idleTimeoutSeconds) * 1000,
      record,
    });
  }

  async delete(sandboxId: string): Promise<void> {
    const entry = await this.directory.get(sandboxId);
    if (entry?.worker_id === this.workerId) await this.directory.delete(sandboxId);
  }

  async list(): Promise<SandboxRecord[]> {
    return (await this.directory.listByWorker(this.workerId)).map((entry) => entry.record as SandboxRecord);
  }
}
