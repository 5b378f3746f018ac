import type { HarombeClient, JobStreamEvent } from '@harombe/client';
import { isTerminal, type JobView } from '@harombe/core';
import type { JobFollower, JobUpdate } from './job-follower.js';
import { LongPollJobFollower } from './long-poll-job-follower.js';

export interface EventStreamJobFollowerOptions {
  /**
   * Milliseconds without an event after which the job is yielded again as it was: the call's
   * heartbeat (it decides whether to send one). Default 5_000.
   */
  quietMs?: number;
  /** Follows the job once the event stream gave up (the API away longer than its reconnections). Default: long-polls. */
  fallback?: JobFollower;
}

/**
 * Follows a job through its live events (the client's `streamJob`, over SSE): the program's
 * output as it writes it, and the job as the API shows it after each change of status.
 */
export class EventStreamJobFollower implements JobFollower {
  private readonly quietMs: number;
  private readonly fallback: JobFollower;

  constructor(
    private readonly client: HarombeClient,
    options: EventStreamJobFollowerOptions = {},
  ) {
    this.quietMs = options.quietMs ?? 5_000;
    this.fallback = options.fallback ?? new LongPollJobFollower(client);
  }

  async *follow(job: JobView, signal: AbortSignal): AsyncGenerator<JobUpdate, void, undefined> {
    let current = job;
    const events = this.client.streamJob(job.job_id, { signal })[Symbol.asyncIterator]();
    // A read left pending (the call ended or was cancelled meanwhile) may fail with nobody
    // awaiting it: that must not become an unhandled rejection.
    const read = () => {
      const pending = events.next();
      pending.catch(() => undefined);
      return pending;
    };
    try {
      let next = read();
      while (!isTerminal(current.status)) {
        const event = await this.nextOrQuiet(next);
        if (event === 'quiet') {
          yield { kind: 'job', job: current };
          continue;
        }
        if (event.done) break;
        next = read();
        const { type } = event.value;
        if (type === 'status') {
          // A status event says what changed; the view (approval, result) is the API's.
          current = await this.client.getJob(job.job_id, { signal });
          yield { kind: 'job', job: current };
        } else {
          yield { kind: 'output', stream: type, text: event.value.data.text };
        }
      }
    } catch (error) {
      if (signal.aborted) throw error;
    } finally {
      // Not awaited: a pending read ends with the stream (the job's end, or the signal).
      events.return(undefined).catch(() => undefined);
    }
    if (!isTerminal(current.status)) yield* this.fallback.follow(current, signal);
  }

  private async nextOrQuiet(
    next: Promise<IteratorResult<JobStreamEvent>>,
  ): Promise<IteratorResult<JobStreamEvent> | 'quiet'> {
    let timer: NodeJS.Timeout | undefined;
    const quiet = new Promise<'quiet'>((resolve) => (timer = setTimeout(() => resolve('quiet'), this.quietMs)));
    try {
      return await Promise.race([next, quiet]);
    } finally {
      clearTimeout(timer);
    }
  }
}
