import type { JobStatus } from '@harombe/core';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { JobEvents, RedisKeys } from '../src/index.js';
import { connect, uniquePrefix, useRedisContainer } from './harness.js';

const container = useRedisContainer();

/** Resolves on the connection's next `event`. */
function next(redis: Redis, event: string): Promise<void> {
  return new Promise((resolve) => redis.once(event, () => resolve()));
}

describe('job events', () => {
  it('hear every status change once started, even when started while the connection is still being set up', async () => {
    const keys = new RedisKeys(uniquePrefix());
    const publisher = connect(container.url);
    const subscriber = connect(container.url);
    const events = new JobEvents(subscriber, keys);
    const heard: [string, JobStatus][] = [];
    events.onEvent((jobId, status) => heard.push([jobId, status]));
    try {
      // Started between the connection's connect and its ready check (ioredis sends the check's
      // INFO once its handshake is answered): as when a service starts while its connections open.
      await new Promise<void>((resolve, reject) =>
        subscriber.once('connect', () => void events.start().then(resolve, reject)),
      );
      // Had the SUBSCRIBE gone out before the ready check, the connection would be reconnecting now,
      // to come back without it: wait until it is back before publishing.
      if (subscriber.status !== 'ready') await next(subscriber, 'ready');
      expect(await publisher.publish(keys.jobEvents(), 'job-1 queued')).toBe(1);
      await expect.poll(() => heard).toEqual([['job-1', 'queued']]);
    } finally {
      await events.close();
      publisher.disconnect();
    }
  });

  it('start a lazy connection, and subscribe once however often started', async () => {
    const keys = new RedisKeys(uniquePrefix());
    const publisher = connect(container.url);
    const events = new JobEvents(connect(container.url, { lazyConnect: true }), keys);
    const heard: string[] = [];
    events.onEvent((jobId) => heard.push(jobId));
    try {
      await Promise.all([events.start(), events.start()]);
      await events.start();
      expect(await publisher.publish(keys.jobEvents(), 'job-2 running')).toBe(1);
      await expect.poll(() => heard).toEqual(['job-2']);
    } finally {
      await events.close();
      publisher.disconnect();
    }
  });

  it('refuse to start on a closed connection', async () => {
    const subscriber = connect(container.url, { lazyConnect: true });
    subscriber.disconnect();
    await expect(new JobEvents(subscriber, new RedisKeys(uniquePrefix())).start()).rejects.toThrow(/closed/);
  });
});
