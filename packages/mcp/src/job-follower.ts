import type { JobView } from '@harombe/core';

/** Something learned about a job while following it. */
export type JobUpdate =
  /** The job as the API shows it now (possibly unchanged since the last one: a heartbeat). */
  | { kind: 'job'; job: JobView }
  /** Output the program wrote, as it arrives (a follower that streams it). */
  | { kind: 'output'; stream: 'stdout' | 'stderr'; text: string };

/**
 * How a tool call follows its job from submission to its end: the seam where output streaming
 * plugs in. LongPollJobFollower (the default) sees the job's status and, at the end, its result.
 * A follower built on the API's stream of a job's events (the client's `streamJob`, over SSE)
 * yields `output` updates as the program writes, which the call relays to the client as progress
 * notifications at once; pass it as HarombeMcpServerOptions.follower.
 */
export interface JobFollower {
  /**
   * Updates until the job ends; the last update of kind `job` is the ended job. Aborting `signal`
   * stops the following (the job itself goes on): the iteration rejects with the signal's reason.
   */
  follow(job: JobView, signal: AbortSignal): AsyncIterable<JobUpdate>;
}
