import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { SlackKeys } from './slack-keys.js';

/** Slack's window: a request whose timestamp is further than this from now is refused. */
export const SIGNATURE_WINDOW_SECONDS = 300;

/**
 * Refuses a signed request seen before. A replay inside the 5-minute window carries the same
 * signature (it signs the timestamp and the body), so each signature is remembered in Redis, by
 * every approval service instance alike, until its timestamp has left the window.
 */
export class SlackReplayGuard {
  constructor(
    private readonly redis: Redis,
    private readonly keys: SlackKeys,
  ) {}

  /** True the first time this signature is seen; false for a replay. */
  async firstSighting(signature: string, timestampSeconds: number, nowMs: number): Promise<boolean> {
    const remaining = timestampSeconds + SIGNATURE_WINDOW_SECONDS - Math.floor(nowMs / 1000);
    // A minute more than the window still has, so clock skew between instances cannot reopen it.
    const ttl = Math.max(1, remaining) + 60;
    const key = this.keys.seenRequest(createHash('sha256').update(signature).digest('hex'));
    return (await this.redis.set(key, '1', 'EX', ttl, 'NX')) === 'OK';
  }
}
