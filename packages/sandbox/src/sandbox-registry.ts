import type { Language, Limits } from '@harombe/core';

/** What the runtime knows of one sandbox beyond its container. */
export interface SandboxRecord {
  sandbox_id: string;
  container_id: string;
  language: Language;
  /** Who may use it; anybody else is told it does not exist. */
  owner: string;
  limits: Limits;
  network_enabled: boolean;
  allowed_domains: string[];
  /** ISO 8601. */
  created_at: string;
  /** Milliseconds since the epoch, by the manager's clock. */
  last_used_at: number;
  /** Executions so far (each runs under a user id of its own, counted from this). */
  executions: number;
  /** An execution kept its background processes (keep_background): they may be running. */
  keepers?: boolean;
  /** Seconds it may sit unused before it is destroyed; absent: the manager's idle_timeout. */
  idle_timeout?: number;
}

/**
 * Where sandbox records live. The in-memory one forgets on restart (the manager then reaps the
 * containers as orphans); a persistent one lets a restarted manager adopt its sandboxes. The
 * manager runs its kept sandboxes by records of its own and writes them here when they are made,
 * now and then as they are used (see SandboxManager's USE_RECORD_SHARE) and when it stops; it asks
 * get() before each operation whether the registry still holds the sandbox (one that others
 * change may forget it).
 */
export interface SandboxRegistry {
  get(sandboxId: string): Promise<SandboxRecord | undefined>;
  put(record: SandboxRecord): Promise<void>;
  delete(sandboxId: string): Promise<void>;
  list(): Promise<SandboxRecord[]>;
}

export class InMemorySandboxRegistry implements SandboxRegistry {
  private readonly records = new Map<string, SandboxRecord>();

  async get(sandboxId: string): Promise<SandboxRecord | undefined> {
    const record = this.records.get(sandboxId);
    return record && structuredClone(record);
  }

  async put(record: SandboxRecord): Promise<void> {
    this.records.set(record.sandbox_id, structuredClone(record));
  }

  async delete(sandboxId: string): Promise<void> {
    this.records.delete(sandboxId);
  }

  async list(): Promise<SandboxRecord[]> {
    return [...this.records.values()].map((record) => structuredClone(record));
  }
}
