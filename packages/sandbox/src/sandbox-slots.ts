import { cpus, totalmem } from 'node:os';

/** What a slot holds: a kept sandbox (it lives on for its owner), or anything else (pool, one-shot). */
export type SlotKind = 'kept' | 'transient';

export interface SandboxSlotsOptions {
  /** Sandboxes that may be alive at once: created, pooled, kept, running or being removed. */
  max: number;
  /**
   * Slots kept sandboxes may never take, so that one-shot executions always find one: normally
   * the worker's concurrency. Kept sandboxes are limited to `max - reserve`. Default 2.
   */
  reserve?: number;
}

/**
 * Counts the sandboxes a manager has alive, so it never holds more than `max`: every container
 * takes a slot before it is created and gives it back once it is removed. A one-shot execution
 * that finds no free slot waits for one (first come, first served; the pool only grows into
 * slots nobody waits for); a kept sandbox never waits: past its share it is refused.
 */
export class SandboxSlots {
  readonly max: number;
  readonly keptLimit: number;
  private used = 0;
  private kept = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(options: SandboxSlotsOptions) {
    this.max = Math.max(1, Math.floor(options.max));
    this.keptLimit = Math.max(0, this.max - Math.max(0, options.reserve ?? 2));
  }

  /** Slots in use (sandboxes alive), and of those the kept ones. */
  get inUse(): number {
    return this.used;
  }

  get keptInUse(): number {
    return this.kept;
  }

  /** Slots free for a pool sandbox: none while an execution waits for one. */
  get freeForPool(): number {
    return this.waiters.length > 0 ? 0 : this.max - this.used;
  }

  /** Kept sandboxes that could still be made. */
  get keptFree(): number {
    return Math.max(0, Math.min(this.keptLimit - this.kept, this.max - this.used));
  }

  /** A slot for a pool sandbox, if one is free and nobody waits. */
  tryTake(kind: SlotKind): boolean {
    if (kind === 'kept' ? this.keptFree < 1 : this.freeForPool < 1) return false;
    this.used += 1;
    if (kind === 'kept') this.kept += 1;
    return true;
  }

  /** A slot for a one-shot sandbox, waiting for one to be given back if need be. */
  async take(): Promise<void> {
    if (this.waiters.length === 0 && this.used < this.max) {
      this.used += 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** A sandbox that exists already (adopted after a restart) takes a slot, even past the limits. */
  adopt(kind: SlotKind): void {
    this.used += 1;
    if (kind === 'kept') this.kept += 1;
  }

  /** A transient sandbox (a pooled one) becomes kept: false when kept ones are at their limit. */
  keep(): boolean {
    if (this.kept >= this.keptLimit) return false;
    this.kept += 1;
    return true;
  }

  /** A sandbox was removed: its slot goes to the first waiter, or back to the free ones. */
  release(kind: SlotKind): void {
    if (kind === 'kept') this.kept = Math.max(0, this.kept - 1);
    const next = this.waiters.shift();
    if (next) next();
    else this.used = Math.max(0, this.used - 1);
  }
}

/**
 * The default of `worker.max_sandboxes`: as many sandboxes as three quarters of the host's memory
 * holds at their default memory limit plus the runtime's overhead, and at most 16 per core, but
 * never fewer than the concurrency plus two (an idle sandbox costs no CPU, so memory bounds it).
 */
export function defaultMaxSandboxes(memoryMbPerSandbox: number, concurrency: number): number {
  const byMemory = Math.floor((0.75 * totalmem()) / (memoryMbPerSandbox * 1024 * 1024));
  const byCores = 16 * Math.max(1, cpus().length);
  return Math.max(concurrency + 2, Math.min(byMemory, byCores));
}
