import type { Redis } from 'ioredis';
import { RESERVE_SANDBOX } from './queue-scripts.js';
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

/** A sandbox lost with its worker, remembered so that jobs naming it hear SandboxLost. */
export interface LostSandbox {
  tenant: string;
  reason: string;
}

/** The fleet-wide sandbox registry in Redis: kept sandboxes only (one-shot ones never appear). */
export class SandboxDirectory {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Holds a place for one kept sandbox of the tenant, atomically against its quota (sandboxes it
   * holds plus places held). False when the quota is used up. A place lapses after `lapseMs`
   * (a worker that crashed while making the sandbox) or when released.
   */
  async reserve(
    tenant: string,
    reservationId: string,
    quota: number,
    nowMs: number,
    lapseMs = 600_000,
  ): Promise<boolean> {
    const held = await RESERVE_SANDBOX.run(
      this.redis,
      [this.keys, tenant],
      [reservationId, String(quota), String(nowMs), String(lapseMs)],
    );
    return held === 1;
  }

  async release(tenant: string, reservationId: string): Promise<void> {
    await this.redis.zrem(this.keys.tenantSandboxReservations(tenant), reservationId);
  }

  /** Kept sandboxes the tenant holds or is having made. */
  async keptCount(tenant: string, nowMs: number): Promise<number> {
    const [held, reserved] = await Promise.all([
      this.redis.scard(this.keys.tenantSandboxes(tenant)),
      this.redis.zcount(this.keys.tenantSandboxReservations(tenant), `(${nowMs}`, '+inf'),
    ]);
    return held + reserved;
  }

  /**
   * Forgets every sandbox of a worker that is gone, remembering each as lost (for `ttlSeconds`)
   * so that a job naming it hears why. Returns how many.
   */
  async forgetWorker(workerId: string, reason: string, ttlSeconds: number): Promise<number> {
    const entries = await this.listByWorker(workerId);
    for (const entry of entries) {
      const lost: LostSandbox = { tenant: entry.tenant, reason };
      await this.redis.set(this.keys.lostSandbox(entry.sandbox_id), JSON.stringify(lost), 'EX', ttlSeconds);
      await this.delete(entry.sandbox_id);
    }
    await this.redis.del(this.keys.workerSandboxes(workerId));
    return entries.length;
  }

  /** Why a sandbox is gone, when it was lost with its worker. */
  async lost(sandboxId: string): Promise<LostSandbox | undefined> {
    const raw = await this.redis.get(this.keys.lostSandbox(sandboxId));
    return raw ? (JSON.parse(raw) as LostSandbox) : undefined;
  }

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

  /** Entries of the sandboxes among `ids` the directory knows, in one round trip per 500. */
  async getMany(ids: readonly string[]): Promise<Map<string, SandboxEntry>> {
    const out = new Map<string, SandboxEntry>();
    for (let i = 0; i < ids.length; i += 500) {
      for (const entry of await this.load(ids.slice(i, i + 500))) out.set(entry.sandbox_id, entry);
    }
    return out;
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

  private async load(ids: readonly string[]): Promise<SandboxEntry[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => this.keys.sandbox(id)));
    return raws.flatMap((raw) => (raw ? [JSON.parse(raw) as SandboxEntry] : []));
  }
}
