import type { Language } from '@harombe/core';
import type { Logger } from 'pino';
import type { SandboxRecord } from './sandbox-registry.js';

export interface WarmPoolOptions {
  /** Sandboxes to keep ready per language; 0 or absent means none. */
  sizes: Partial<Record<Language, number>>;
  /** Starts one unassigned sandbox with the default limits. */
  spawn: (language: Language) => Promise<SandboxRecord>;
  /** Removes a pooled sandbox that will not be handed out. */
  discard: (record: SandboxRecord) => Promise<void>;
  logger: Logger;
  /**
   * Milliseconds a refill waits after a hand-out while ready sandboxes remain, so that the cold
   * start does not take CPU from the first execution of the sandbox just handed out. An empty
   * pool refills at once. Default 1500.
   */
  refillDelayMs?: number;
}

/**
 * Pre-started sandboxes per language, refilled in the background. A sandbox leaves the pool
 * for exactly one owner and never comes back.
 */
export class WarmPool {
  private readonly ready = new Map<Language, SandboxRecord[]>();
  private readonly filling = new Map<Language, Promise<void>>();
  private stopped = false;

  constructor(private readonly options: WarmPoolOptions) {}

  /** Starts filling every language's pool; resolves at once. */
  start(): void {
    for (const language of Object.keys(this.options.sizes) as Language[]) this.refill(language);
  }

  /** Resolves once every pool is full (or its filling failed). */
  async whenFilled(): Promise<void> {
    while (this.filling.size > 0) await Promise.all(this.filling.values());
  }

  available(language: Language): number {
    return this.ready.get(language)?.length ?? 0;
  }

  /** Takes a ready sandbox, or undefined when none is; a refill starts either way. */
  take(language: Language): SandboxRecord | undefined {
    const record = this.ready.get(language)?.shift();
    this.refill(language, this.available(language) > 0 ? (this.options.refillDelayMs ?? 1500) : 0);
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
    await Promise.allSettled(this.filling.values());
    const leftovers = [...this.ready.values()].flat();
    this.ready.clear();
    await Promise.allSettled(leftovers.map((record) => this.options.discard(record)));
  }

  private refill(language: Language, delayMs = 0): void {
    if (this.stopped || this.filling.has(language)) return;
    const target = this.options.sizes[language] ?? 0;
    if (this.available(language) >= target) return;
    const run = (async () => {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      // One at a time: a burst of cold starts would slow the executions already running.
      while (!this.stopped && this.available(language) < target) {
        try {
          const record = await this.options.spawn(language);
          if (this.stopped) {
            await this.options.discard(record);
            return;
          }
          const list = this.ready.get(language) ?? [];
          list.push(record);
          this.ready.set(language, list);
        } catch (error) {
          this.options.logger.error({ err: error, language }, 'warm pool could not start a sandbox');
          return;
        }
      }
    })().finally(() => this.filling.delete(language));
    this.filling.set(language, run);
  }
}
