import { isTerminal, type JobStatus } from '@harombe/core';
import type { Redis } from 'ioredis';
import { RedisKeys } from './redis-keys.js';

/**
 * What a status change's message says besides the status, so listeners read only the jobs that
 * concern them. A message that says nothing (published by an older version) has both true.
 */
export interface JobEventFlags {
  /** The job has an approval (pending or ended). */
  approval: boolean;
  /** The step recorded a webhook event (RedisKeys.webhookEvents). */
  webhook: boolean;
}

export type JobEventListener = (jobId: string, status: JobStatus, flags: JobEventFlags) => void;

/** One job's end, listened for (see JobEvents.listen). */
export interface JobEndListener {
  /** Resolves at the job's end (at once if it has come), or after `timeoutMs`. */
  ended(timeoutMs: number): Promise<void>;
  stop(): void;
}

/**
 * Job status changes as they happen, over one Redis subscriber connection per process:
 * long-polls wait on it, workers hear cancellations on it. Only the changes someone listens for
 * are told: every job's end, and each step of a job with an approval or one that recorded a
 * webhook event (see JobEventFlags). Pub/sub may drop a message while reconnecting, so waiters
 * always re-read the store; this only wakes them early.
 */
export class JobEvents {
  private readonly listeners = new Set<JobEventListener>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private started: Promise<unknown> | undefined;

  constructor(
    /** A dedicated connection: it is put in subscriber mode. */
    private readonly subscriber: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Subscribes (once): resolves when the subscription is in place. */
  async start(): Promise<void> {
    this.started ??= this.subscribe();
    await this.started;
  }

  onEvent(listener: JobEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Listens for the job's end from now on. For a job about to be created: its end cannot come
   * before, so nobody need look for one in the store. stop() once done with it.
   */
  async listen(jobId: string): Promise<JobEndListener> {
    await this.start();
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const set = this.waiters.get(jobId) ?? new Set();
    set.add(wake);
    this.waiters.set(jobId, set);
    return {
      ended: async (timeoutMs) => {
        const timer = setTimeout(wake, timeoutMs);
        await woken;
        clearTimeout(timer);
      },
      stop: () => {
        set.delete(wake);
        if (set.size === 0 && this.waiters.get(jobId) === set) this.waiters.delete(jobId);
      },
    };
  }

  /**
   * Resolves when the job reaches a terminal status, or after `timeoutMs`, whichever is first.
   * `isDone` re-reads the store after subscribing, so an end that came just before is not missed.
   */
  async waitForEnd(jobId: string, timeoutMs: number, isDone: () => Promise<boolean>): Promise<void> {
    const listener = await this.listen(jobId);
    try {
      if (await isDone()) return;
      await listener.ended(timeoutMs);
    } finally {
      listener.stop();
    }
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
  }

  /**
   * SUBSCRIBE, sent only once the connection is ready. Sent between its connect and its ready check
   * (a service starting while its connections open), it puts the connection in subscriber mode
   * before ioredis (5.8.2 and later, redis/ioredis#2037) sends the check's INFO, which subscriber
   * mode refuses: ioredis drops the connection and, as it never was ready, reconnects without the
   * subscription. start() had already resolved and nothing failed after: the process would hear no
   * job event again (Slack announcements would wait for a reconciliation, workers would miss
   * cancellations). A ready connection that is lost later is subscribed again by ioredis itself.
   */
  private subscribe(): Promise<unknown> {
    const { subscriber } = this;
    subscriber.on('message', (_channel: string, message: string) => this.dispatch(message));
    return new Promise((resolve, reject) => {
      const send = (): void => {
        if (subscriber.status !== 'ready') return;
        stopWaiting();
        subscriber.subscribe(this.keys.jobEvents()).then(resolve, reject);
      };
      const ended = (): void => {
        stopWaiting();
        reject(new Error('Connection is closed.'));
      };
      const stopWaiting = (): void => {
        subscriber.off('ready', send);
        subscriber.off('end', ended);
      };
      if (subscriber.status === 'ready') return send();
      if (subscriber.status === 'end') return ended();
      subscriber.on('ready', send);
      subscriber.on('end', ended);
      // A lazy connection connects on its first command; nothing is sent before it is ready.
      if (subscriber.status === 'wait') subscriber.connect().catch(() => undefined);
    });
  }

  private dispatch(message: string): void {
    const [jobId, status, marks] = message.split(' ') as [string, JobStatus, string?];
    // A message without flags (a process of an older version published it) may concern anyone.
    const flags: JobEventFlags =
      marks === undefined
        ? { approval: true, webhook: true }
        : { approval: marks.includes('a'), webhook: marks.includes('w') };
    for (const listener of this.listeners) listener(jobId, status, flags);
    if (isTerminal(status)) for (const wake of this.waiters.get(jobId) ?? []) wake();
  }
}
