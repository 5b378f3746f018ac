import { LANGUAGES, type Language } from '@harombe/core';
import type { Logger } from 'pino';
import type { SandboxRecord } from './sandbox-registry.js';

export interface WarmPoolOptions {
  /** Sandboxes kept ready per language while no job waits; 0 or absent means none. */
  base: Partial<Record<Language, number>>;
  /**
   * Starts one unassigned sandbox with the default limits, primed or not; undefined when the
   * manager has no free slot for it.
   */
  spawn: (language: Language, prime: boolean) => Promise<SandboxRecord | undefined>;
  /** Removes a pooled sandbox that will not be handed out. */
  discard: (record: SandboxRecord) => Promise<void>;
  logger: Logger;
  /** Sandboxes started at once while filling. Default 2. */
  maxParallelSpawns?: number;
  /**
   * Milliseconds a refill waits after a hand-out while no job waits and ready sandboxes remain,
   * so that the cold start does not take CPU from the first execution of the sandbox just handed
   * out. Default 1500.
   */
  refillDelayMs?: number;
  /** Milliseconds without waiting jobs before sandboxes beyond the base are removed. Default 5000. */
  shrinkAfterMs?: number;
}

/** One-shot executions remembered to split the waiting jobs between languages. */
const RECENT_USES = 64;

/**
 * Started sandboxes per language, ready to be handed out; a sandbox leaves the pool for exactly
 * one owner and never comes back. The pool follows demand: told how many jobs wait in the queue
 * (setDemand), it grows beyond its base by that many, split between languages as recent
 * one-shot executions were, as far as free slots allow (spawn answers undefined past them), and
 * several at a time; once nothing has waited for a while it shrinks back to its base. Sandboxes
 * started while nothing waits are primed (their interpreter read in once), those started for
 * waiting jobs are not: under load the priming would cost more than it saves.
 */
export class WarmPool {
  private readonly ready = new Map<Language, SandboxRecord[]>();
  private readonly spawning = new Map<Language, number>();
  private readonly filling = new Set<Promise<void>>();
  private readonly recent: Language[] = [];
  private waiting = 0;
  private lastDemandAt = 0;
  private stopped = false;
  private delayTimer: NodeJS.Timeout | undefined;
  private shrinkTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WarmPoolOptions) {}

  /** Starts filling every language's pool to its base; resolves at once. */
  start(): void {
    this.refill();
  }

  /** Resolves once no sandbox is being started (the pool is as full as it will get for now). */
  async whenFilled(): Promise<void> {
    while (this.filling.size > 0) await Promise.all(this.filling);
  }

  available(language: Language): number {
    return this.ready.get(language)?.length ?? 0;
  }

  /** Ready sandboxes of every language, and those being started. */
  get size(): number {
    let size = 0;
    for (const language of LANGUAGES) size += this.available(language) + (this.spawning.get(language) ?? 0);
    return size;
  }

  /** The number of ready sandboxes each language is being filled to now. */
  target(language: Language): number {
    const base = this.options.base[language] ?? 0;
    return base + Math.round(this.waiting * this.share(language));
  }

  /** Jobs waiting in the queue now: the pool grows for them, and shrinks back once none wait. */
  setDemand(waiting: number): void {
    this.waiting = Math.max(0, Math.floor(waiting));
    if (this.waiting > 0) {
      this.lastDemandAt = Date.now();
      this.refill();
    } else {
      this.scheduleShrink();
    }
  }

  /** Takes a ready sandbox, or undefined when none is; a refill starts either way. */
  take(language: Language): SandboxRecord | undefined {
    this.recent.push(language);
    if (this.recent.length > RECENT_USES) this.recent.shift();
    const record = this.ready.get(language)?.shift();
    // Nothing waiting and sandboxes left: the refill can wait for the handed-out one's first run.
    if (this.waiting === 0 && this.available(language) > 0) this.refillLater();
    else this.refill();
    return record;
  }

  /** True for a sandbox still waiting in the pool (the reaper must leave it alone). */
  holds(sandboxId: string): boolean {
    for (const records of this.ready.values()) if (records.some((r) => r.sandbox_id === sandboxId)) return true;
    return false;
  }

  /** Stops refilling and removes the sandboxes that were never handed out. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.delayTimer);
    clearTimeout(this.shrinkTimer);
    await this.whenFilled();
    const leftovers = [...this.ready.values()].flat();
    this.ready.clear();
    await Promise.allSettled(leftovers.map((record) => this.options.discard(record)));
  }

  /** A language's part of the waiting jobs: as in recent one-shot executions, else the base's. */
  private share(language: Language): number {
    const sample: readonly Language[] = this.recent.length > 0 ? this.recent : this.baseLanguages();
    if (sample.length === 0) return language === 'python' ? 1 : 0;
    return sample.filter((l) => l === language).length / sample.length;
  }

  private baseLanguages(): Language[] {
    return LANGUAGES.flatMap((language) => Array.from({ length: this.options.base[language] ?? 0 }, () => language));
  }

  private refillLater(): void {
    if (this.delayTimer) return;
    this.delayTimer = setTimeout(() => {
      this.delayTimer = undefined;
      this.refill();
    }, this.options.refillDelayMs ?? 1500);
    this.delayTimer.unref();
  }

  /** Tries to grow again (a slot came free). */
  poke(): void {
    this.refill();
  }

  /** Starts sandboxes where a language is below its target, a few at a time. */
  private refill(): void {
    if (this.stopped) return;
    const parallel = this.options.maxParallelSpawns ?? 2;
    let busy = [...this.spawning.values()].reduce((sum, n) => sum + n, 0);
    for (const language of LANGUAGES) {
      while (busy < parallel && this.available(language) + (this.spawning.get(language) ?? 0) < this.target(language)) {
        busy += 1;
        this.spawnOne(language);
      }
    }
  }

  private spawnOne(language: Language): void {
    this.spawning.set(language, (this.spawning.get(language) ?? 0) + 1);
    const run = this.startOne(language).finally(() => {
      this.spawning.set(language, (this.spawning.get(language) ?? 1) - 1);
      this.filling.delete(run);
    });
    this.filling.add(run);
  }

  private async startOne(language: Language): Promise<void> {
    let started = false;
    try {
      const record = await this.options.spawn(language, this.waiting === 0);
      if (!record) return; // no free slot: grow again once one comes free
      started = true;
      if (this.stopped) {
        await this.options.discard(record);
        return;
      }
      const list = this.ready.get(language) ?? [];
      list.push(record);
      this.ready.set(language, list);
    } catch (error) {
      this.options.logger.error({ err: error, language }, 'warm pool could not start a sandbox');
    } finally {
      if (started) setImmediate(() => this.refill());
    }
  }

  /** Once nothing has waited for shrinkAfterMs, sandboxes beyond the base go. */
  private scheduleShrink(): void {
    if (this.shrinkTimer || this.stopped) return;
    const after = this.options.shrinkAfterMs ?? 5000;
    this.shrinkTimer = setTimeout(
      () => {
        this.shrinkTimer = undefined;
        if (this.waiting > 0) return;
        if (Date.now() - this.lastDemandAt < after) return this.scheduleShrink();
        this.shrink();
      },
      Math.max(10, after - (Date.now() - this.lastDemandAt)),
    );
    this.shrinkTimer.unref();
  }

  private shrink(): void {
    for (const language of LANGUAGES) {
      const list = this.ready.get(language) ?? [];
      const surplus = list.length - (this.options.base[language] ?? 0);
      if (surplus <= 0) continue;
      const gone = list.splice(0, surplus);
      this.options.logger.info({ language, removed: gone.length }, 'warm pool shrank back to its base');
      for (const record of gone) {
        void this.options
          .discard(record)
          .catch((error: unknown) => this.options.logger.error({ err: error }, 'warm pool could not remove a sandbox'));
      }
    }
  }
}
