import { settledWithin } from '@harombe/core';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redactUrl } from './logger.js';

/**
 * The Redis connections of one process: commands, and a subscriber for job events. BullMQ
 * opens its own from the same options. `maxRetriesPerRequest: null` keeps commands waiting
 * through a Redis restart instead of failing them, which BullMQ requires and jobs need.
 */
export class RedisConnections {
  readonly commands: Redis;
  readonly subscriber: Redis;

  constructor(
    readonly url: string,
    logger: Logger,
  ) {
    this.commands = this.open('commands', logger);
    this.subscriber = this.open('subscriber', logger);
  }

  /** Options for BullMQ queues and workers: each makes its own connections from them. */
  bullConnection(): { url: string; maxRetriesPerRequest: null } & Record<string, unknown> {
    const parsed = new URL(this.url);
    return {
      url: this.url,
      host: parsed.hostname,
      port: Number(parsed.port || 6379),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.pathname.length > 1 ? { db: Number(parsed.pathname.slice(1)) } : {}),
      maxRetriesPerRequest: null,
    };
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.commands.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  /** Drops both connections at once: commands waiting fail, and later ones too (no reconnecting). */
  disconnect(): void {
    this.subscriber.disconnect();
    this.commands.disconnect();
  }

  /** Quits (waiting 5 s at most for Redis to answer), then drops both connections. */
  async close(): Promise<void> {
    this.subscriber.disconnect();
    if (!(await settledWithin(this.commands.quit(), 5_000)) || this.commands.status !== 'end')
      this.commands.disconnect();
  }

  private open(role: string, logger: Logger): Redis {
    const redis = new Redis(this.url, { maxRetriesPerRequest: null, lazyConnect: false });
    let warned = false;
    redis.on('error', (error: Error) => {
      if (!warned)
        logger.warn({ redis: redactUrl(this.url), role, err: error.message }, 'redis connection error (retrying)');
      warned = true;
    });
    redis.on('ready', () => {
      if (warned) logger.info({ redis: redactUrl(this.url), role }, 'redis connection restored');
      warned = false;
    });
    return redis;
  }
}
