import type { Redis } from 'ioredis';
import { RedisKeys } from './redis-keys.js';

/** Where a sandbox lives and whose it is: what routes a job that names it. */
export interface SandboxEntry {
  sandbox_id: string;
  worker_id: string;
  tenant: string;
  language: string;
  network_enabled: boolean;
  allowed_domains: string[];
  /** Milliseconds since the epoch. */
  created_at: number;
  /** When it expires if unused (ms). */
  expires_at: number;
  /** The sandbox runtime's own record, opaque here. */
  record: unknown;
}

/** The fleet-wide sandbox registry in Redis. */
export class SandboxDirectory {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async put(entry: SandboxEntry): Promise<void> {
    await this.redis
      .multi()
      .set(this.keys.sandbox(entry.sandbox_id), JSON.stringify(entry))
      .sadd(this.keys.tenantSandboxes(entry.tenant), entry.sandbox_id)
      .sadd(this.keys.workerSandboxes(entry.worker_id), entry.sandbox_id)
      .exec();
  }

  async get(sandboxId: string): Promise<SandboxEntry | undefined> {
    const raw = await this.redis.get(this.keys.sandbox(sandboxId));
    return raw ? (JSON.parse(raw) as SandboxEntry) : undefined;
  }

  async delete(sandboxId: string): Promise<void> {
    const entry = await this.get(sandboxId);
    if (!entry) return;
    await this.redis
      .multi()
      .del(this.keys.sandbox(sandboxId))
      .srem(this.keys.tenantSandboxes(entry.tenant), sandboxId)
      .srem(this.keys.workerSandboxes(entry.worker_id), sandboxId)
      .exec();
  }

  async listByTenant(tenant: string): Promise<SandboxEntry[]> {
    return this.load(await this.redis.smembers(this.keys.tenantSandboxes(tenant)));
  }

  async listByWorker(workerId: string): Promise<SandboxEntry[]> {
    return this.load(await this.redis.smembers(this.keys.workerSandboxes(workerId)));
  }

  async countByWorker(workerId: string): Promise<number> {
    return this.redis.scard(this.keys.workerSandboxes(workerId));
  }

  private async load(ids: string[]): Promise<SandboxEntry[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => this.keys.sandbox(id)));
    return raws.flatMap((raw) => (raw ? [JSON.parse(raw) as SandboxEntry] : []));
  }
}
