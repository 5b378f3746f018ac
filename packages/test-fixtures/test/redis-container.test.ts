import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisContainer } from '../src/index.js';

describe('startRedis', () => {
  let redis: RedisContainer;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('publishes Redis on loopback and answers PING', async () => {
    expect(redis.host).toBe('127.0.0.1');
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    const client = new Redis(redis.url);
    try {
      expect(await client.ping()).toBe('PONG');
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    } finally {
      client.disconnect();
    }
  });

  it('keeps data and its address across a restart, and clients reconnect', async () => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    // The restart drops the connection (ECONNRESET, then ECONNREFUSED while Redis is down):
    // expected here, and ioredis would otherwise print them as unhandled error events.
    client.on('error', () => {});
    try {
      await client.set('fixture:key', 'kept');
      const { url, port } = redis;

      await redis.restart();

      expect(redis.url).toBe(url);
      expect(redis.port).toBe(port);
      // The same client, reconnected by ioredis's retry strategy, reads the AOF-loaded key.
      expect(await client.get('fixture:key')).toBe('kept');
      const fresh = new Redis(url);
      try {
        expect(await fresh.get('fixture:key')).toBe('kept');
      } finally {
        fresh.disconnect();
      }
    } finally {
      client.disconnect();
    }
  });

  it('names the fix when the image is missing', async () => {
    await expect(startRedis({ image: 'harombe/no-such-image' })).rejects.toThrow(
      'image harombe/no-such-image is missing: run `sudo bash deploy/host/setup.sh`',
    );
  });
});
