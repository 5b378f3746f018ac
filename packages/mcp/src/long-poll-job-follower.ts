import { sleep, type HarombeClient } from '@harombe/client';
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
}

/** Shortest gap between two long-polls, should a proxy answer them at once. */
const MIN_POLL_INTERVAL_MS = 200;

/** Follows a job with the API's long-polls (GET /v1/jobs/{id}?wait_seconds=). */
export class LongPollJobFollower implements JobFollower {
  private readonly pollSeconds: number;
  private readonly approvalPollSeconds: number;

  constructor(
    private readonly client: HarombeClient,
    options: LongPollJobFollowerOptions = {},
  ) {
    this.pollSeconds = options.pollSeconds ?? 10;
    this.approvalPollSeconds = options.approvalPollSeconds ?? 2;
  }

  async *follow(job: JobView, signal: AbortSignal): AsyncGenerator<JobUpdate, void, undefined> {
    let current = job;
    while (!isTerminal(current.status)) {
      const seconds = current.status === 'awaiting_approval' ? this.approvalPollSeconds : this.pollSeconds;
      const asked = Date.now();
      current = await this.client.getJob(current.job_id, { wait_seconds: seconds, signal });
      yield { kind: 'job', job: current };
      const rest = MIN_POLL_INTERVAL_MS - (Date.now() - asked);
      if (!isTerminal(current.status) && rest > 0) await sleep(rest, signal);
    }
  }
}
