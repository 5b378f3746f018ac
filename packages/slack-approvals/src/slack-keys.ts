import type { RedisKeys } from '@harombe/queue';

/**
 * The Redis keys of the Slack side of approvals, under the deployment's hash tag like every
 * other key (one Cluster slot, so the outbox's scripts may touch several of them at once).
 * A "subject" is what one Slack message is about: a job id (job-…) or a batch id (batch-…).
 */
export class SlackKeys {
  constructor(private readonly keys: RedisKeys) {}

  /** Delivery tasks (`<kind>:<subject>`) scored by when they are due, or by when their lease ends. */
  outbox(): string {
    return `${this.keys.tag}:slack:outbox`;
  }
  /** task → failed attempts so far. */
  outboxAttempts(): string {
    return `${this.keys.tag}:slack:outbox:attempts`;
  }
  /** task → until when (ms) an approval service holds it. */
  outboxLeases(): string {
    return `${this.keys.tag}:slack:outbox:leases`;
  }
  /** Tasks asked for again while held: run once more when the holder is done. */
  outboxAgain(): string {
    return `${this.keys.tag}:slack:outbox:again`;
  }
  /** Where a subject's message is: channel, ts, and whether its final state is shown. */
  message(subject: string): string {
    return `${this.keys.tag}:slack:message:${subject}`;
  }
  /** A post of a subject's message under way or failed: when the first attempt started, and whether one may have reached Slack. */
  pendingPost(subject: string): string {
    return `${this.keys.tag}:slack:posting:${subject}`;
  }
  /** Subjects whose message still shows buttons. */
  openMessages(): string {
    return `${this.keys.tag}:slack:open`;
  }
  /** A signed request already received (by the hash of its signature), for the replay window. */
  seenRequest(signatureSha256: string): string {
    return `${this.keys.tag}:slack:seen:${signatureSha256}`;
  }
}

/** Batch ids and job ids say which they are. */
export function isBatchSubject(subject: string): boolean {
  return subject.startsWith('batch-');
}
