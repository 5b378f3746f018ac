import { isHarombeApiError, sleep, type HarombeClient } from '@harombe/client';
import { isTerminal, type JobView } from '@harombe/core';
import type { JobFollower, JobUpdate } from './job-follower.js';

export interface LongPollJobFollowerOptions {
  /**
   * Seconds the API may hold each long-poll of a queued or running job; each answer is a
   * heartbeat the call can report. Default 10.
   */
  pollSeconds?: number;
  /**
   * Seconds each look at a job waiting for approval may be held. A long-poll answers when a job
   * ends, not when it is approved, so this is how soon an approval is noticed. Default 2.
   */
  approvalPollSeconds?: number;
  /**
   * Milliseconds the API may be unreachable (or answer 5xx) in a row while a job is followed, as
   * when it restarts, before the call gives up (the job goes on). Default 60_000.
   */
  outageMs?: number;
}

/** Shortest gap between two long-polls, should a proxy answer them at once. */
const MIN_POLL_INTERVAL_MS = 200;
/** The first retry after a failed look waits this long, each next one twice as long, at most MAX. */
const RETRY_MS = 250;
const MAX_RETRY_MS = 5000;

/** A failure that passes with time: the API unreachable or restarting, not a refusal. */
function isTransient(error: unknown): boolean {
  if (!isHarombeApiError(error)) return false;
  return error.code === 'ServiceUnavailable' || error.code === 'TimeoutError' || error.status >= 500;
}

/** Follows a job with the API's long-polls (GET /v1/jobs/{id}?wait_seconds=). */
export class LongPollJobFollower implements JobFollower {
  private readonly pollSeconds: number;
  private readonly approvalPollSeconds: number;
  private readonly outageMs: number;

  constructor(
    private readonly client: HarombeClient,
    options: LongPollJobFollowerOptions = {},
  ) {
    this.pollSeconds = options.pollSeconds ?? 10;
    this.approvalPollSeconds = options.approvalPollSeconds ?? 2;
    this.outageMs = options.outageMs ?? 60_000;
  }

  async *follow(job: JobView, signal: AbortSignal): AsyncGenerator<JobUpdate, void, undefined> {
    let current = job;
    let failingSince: number | undefined;
    let retryMs = RETRY_MS;
    while (!isTerminal(current.status)) {
      const seconds = current.status === 'awaiting_approval' ? this.approvalPollSeconds : this.pollSeconds;
      const asked = Date.now();
      try {
        current = await this.client.getJob(current.job_id, { wait_seconds: seconds, signal });
      } catch (error) {
        if (signal.aborted || !isTransient(error)) throw error;
        failingSince ??= asked;
        if (Date.now() - failingSince > this.outageMs) throw error;
        await sleep(retryMs, signal);
        retryMs = Math.min(MAX_RETRY_MS, retryMs * 2);
        continue;
      }
      failingSince = undefined;
      retryMs = RETRY_MS;
      yield { kind: 'job', job: current };
      const rest = MIN_POLL_INTERVAL_MS - (Date.now() - asked);
      if (!isTerminal(current.status) && rest > 0) await sleep(rest, signal);
    }
  }
}
