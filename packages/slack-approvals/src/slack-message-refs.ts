import type { Redis } from 'ioredis';
import type { SlackKeys } from './slack-keys.js';

/** Where a subject's Slack message is, to update it in place and to reply in its thread. */
export interface SlackMessageRef {
  channel: string;
  ts: string;
  /** When it was posted, ms. */
  posted_at: number;
  /** True once the message shows how the approval ended (no buttons left). */
  final: boolean;
}

/** A post of a subject's message that has not been recorded as done. */
export interface PendingPost {
  /** When its first attempt started, ms. */
  started_at: number;
  /** True when an attempt may have reached Slack without its answer reaching us (timeout, reset, crash). */
  unsure: boolean;
}

/**
 * The messages the approval service posted, kept in Redis so that any instance, or the same
 * one after a restart, updates the message it did not post itself. Each is kept `ttlSeconds`
 * after it was posted; messages still showing buttons are also listed in one set.
 */
export class SlackMessageRefs {
  constructor(
    private readonly redis: Redis,
    private readonly keys: SlackKeys,
    /** How long a reference outlives its post, s: the jobs' result time and a day. */
    private readonly ttlSeconds: number,
  ) {}

  async get(subject: string): Promise<SlackMessageRef | undefined> {
    const hash = await this.redis.hgetall(this.keys.message(subject));
    if (!hash.ts || !hash.channel) return undefined;
    return { channel: hash.channel, ts: hash.ts, posted_at: Number(hash.posted_at), final: hash.final === '1' };
  }

  async exists(subject: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.message(subject))) === 1;
  }

  /** Which of these subjects have a message (one round trip). */
  async existing(subjects: readonly string[]): Promise<Set<string>> {
    if (subjects.length === 0) return new Set();
    const pipeline = this.redis.pipeline();
    for (const subject of subjects) pipeline.exists(this.keys.message(subject));
    const replies = (await pipeline.exec()) ?? [];
    return new Set(subjects.filter((_, index) => replies[index]?.[1] === 1));
  }

  async posted(subject: string, ref: Omit<SlackMessageRef, 'final'>): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.message(subject), {
        channel: ref.channel,
        ts: ref.ts,
        posted_at: String(ref.posted_at),
        final: '0',
      })
      .expire(this.keys.message(subject), this.ttlSeconds)
      .sadd(this.keys.openMessages(), subject)
      .del(this.keys.pendingPost(subject))
      .exec();
  }

  async pendingPost(subject: string): Promise<PendingPost | undefined> {
    const hash = await this.redis.hgetall(this.keys.pendingPost(subject));
    if (!hash.started_at) return undefined;
    return { started_at: Number(hash.started_at), unsure: hash.unsure === '1' };
  }

  /**
   * An attempt to post is about to be sent: until it is recorded as posted or as refused, it may
   * have reached Slack (a crash in between leaves it so). The first attempt's start is kept.
   */
  async postAttempted(subject: string, nowMs: number): Promise<void> {
    const key = this.keys.pendingPost(subject);
    await this.redis
      .multi()
      .hsetnx(key, 'started_at', String(nowMs))
      .hset(key, 'unsure', '1')
      .expire(key, this.ttlSeconds)
      .exec();
  }

  /** The attempt certainly did not post (Slack refused it, or it never left): no need to look for it. */
  async postRefused(subject: string): Promise<void> {
    const key = this.keys.pendingPost(subject);
    await this.redis.multi().hset(key, 'unsure', '0').expire(key, this.ttlSeconds).exec();
  }

  /** The message now shows the approval's end: nothing will change it again. */
  async finalized(subject: string): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.message(subject), 'final', '1')
      .srem(this.keys.openMessages(), subject)
      .exec();
  }

  /** Forgets an open message whose subject is gone (its records expired). */
  async forget(subject: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.message(subject), this.keys.pendingPost(subject))
      .srem(this.keys.openMessages(), subject)
      .exec();
  }

  /** Subjects whose message still shows buttons. */
  async open(): Promise<string[]> {
    return this.redis.smembers(this.keys.openMessages());
  }
}
