import type { Redis } from 'ioredis';

/** One reader's wait on a stream: whether something was added since it last looked. */
export interface StreamWatch {
  /**
   * Resolves true once something was added to the stream since the previous call (at once if it
   * already was), false after `timeoutMs` or when `signal` aborts. Read the stream after it
   * resolves: a word that came while the reader was reading is kept for the next call.
   */
  next(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Stops watching; the channel is let go once nobody in this process watches it. */
  close(): void;
}

interface Watcher {
  added: boolean;
  wake: (() => void) | undefined;
}

/**
 * Wakes readers of event streams (a job's, a batch's) when something is added: the scripts
 * that add an entry publish on the channel named like the stream. One subscriber connection per
 * process, one subscription per stream someone here watches. Pub/sub drops what is published
 * while the connection is down, so readers also look again on their own every so often (the
 * SSE heartbeat); this only wakes them early.
 */
export class StreamNotifier {
  private connection: Redis | undefined;
  private ready: Promise<void> | undefined;
  private readonly channels = new Map<string, Set<Watcher>>();

  constructor(
    /** Opens the dedicated connection (put in subscriber mode), on the first watch. */
    private readonly connect: () => Redis,
  ) {}

  /** Watches a stream; resolves once the subscription is in place, so nothing added after is missed. */
  async watch(channel: string): Promise<StreamWatch> {
    const watcher: Watcher = { added: false, wake: undefined };
    let watchers = this.channels.get(channel);
    if (!watchers) this.channels.set(channel, (watchers = new Set()));
    watchers.add(watcher);
    const close = (): void => {
      watcher.wake?.();
      const set = this.channels.get(channel);
      if (!set?.delete(watcher) || set.size > 0) return;
      this.channels.delete(channel);
      this.connection?.unsubscribe(channel).catch(() => undefined);
    };
    try {
      // Each watcher subscribes (again, harmlessly): its answer comes after any SUBSCRIBE still on its way.
      await (await this.open()).subscribe(channel);
    } catch (error) {
      close();
      throw error;
    }
    return {
      next: (timeoutMs, signal) =>
        new Promise<boolean>((resolve) => {
          if (watcher.added || signal?.aborted) {
            const added = watcher.added;
            watcher.added = false;
            resolve(added);
            return;
          }
          const done = (): void => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            watcher.wake = undefined;
            const added = watcher.added;
            watcher.added = false;
            resolve(added);
          };
          const timer = setTimeout(done, timeoutMs);
          signal?.addEventListener('abort', done, { once: true });
          watcher.wake = done;
        }),
      close,
    };
  }

  async close(): Promise<void> {
    this.connection?.disconnect();
  }

  /** The connection, subscribed only once ready (see JobEvents.subscribe for why). */
  private open(): Promise<Redis> {
    this.ready ??= new Promise<void>((resolve, reject) => {
      const connection = (this.connection = this.connect());
      connection.on('error', () => undefined);
      connection.on('message', (channel: string) => {
        for (const watcher of this.channels.get(channel) ?? []) {
          watcher.added = true;
          watcher.wake?.();
        }
      });
      if (connection.status === 'ready') return resolve();
      connection.once('ready', () => resolve());
      connection.once('end', () => reject(new Error('Connection is closed.')));
      if (connection.status === 'wait') connection.connect().catch(() => undefined);
    });
    return this.ready.then(() => this.connection as Redis);
  }
}
