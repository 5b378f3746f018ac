import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { settledWithin } from '@harombe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { JobConsumer } from '../src/index.js';
import {
  alice,
  approvalIdOf,
  bullConnection,
  carol,
  COMPLETED_RUN,
  Harness,
  HIGH_EXECUTE,
  silentLogger,
} from './harness.js';

const DEADLINE_MS = 300;
const GRACE_MS = 2_000;

// Each test loses its Redis on purpose: each has a server of its own.
describe('JobConsumer.stop without Redis', () => {
  let container: RedisContainer | undefined;

  afterEach(async () => {
    await container?.stop().catch(() => undefined);
    container = undefined;
  });

  it.each([
    ['gone (its server stopped)', (redis: RedisContainer) => redis.stop(), undefined],
    [
      'frozen (its server answers nothing)',
      (redis: RedisContainer) => redis.freeze(),
      (redis: RedisContainer) => redis.thaw(),
    ],
  ])(
    'ends when Redis is %s: running jobs are aborted at the deadline, nothing waits on Redis past its grace',
    {
      timeout: 120_000,
    },
    async (_, loseRedis, bringRedisBack) => {
      container = await startRedis();
      const h = new Harness(container.url);
      const aborted: string[] = [];
      const consumer = new JobConsumer({
        workerId: 'w-stop',
        connection: bullConnection(container.url),
        keys: h.keys,
        store: h.store,
        workers: h.workers,
        events: h.events,
        eventStream: h.eventStream,
        clock: h.clock,
        logger: silentLogger,
        concurrency: 1,
        redisGraceMs: GRACE_MS,
        run: (job, signal) =>
          new Promise((resolve) =>
            signal.addEventListener('abort', () => {
              aborted.push(job.job_id);
              resolve(COMPLETED_RUN);
            }),
          ),
      });
      await consumer.start();
      const view = await h.service.submit(alice, HIGH_EXECUTE);
      await h.service.decide(carol, approvalIdOf(view), 'approve', null);
      await expect.poll(() => consumer.running, { timeout: 20_000 }).toBe(1);

      await loseRedis(container);
      const stopping = Date.now();
      // 60 s: ample for a stop that gives up on Redis once; one that waits on it never ends.
      expect(await settledWithin(consumer.stop(DEADLINE_MS), 60_000)).toBe(true);
      // Given up once, Redis holds no later step: a stop that waited the grace at each of its steps
      // (four more) would take twice this.
      expect(Date.now() - stopping).toBeLessThan(DEADLINE_MS + 2 * GRACE_MS);
      expect(aborted).toEqual([view.job_id]);
      expect(consumer.running).toBe(0);
      if (bringRedisBack) {
        // What the stop sent into the frozen connection lands once Redis reads it: the job ends
        // cancelled, not completed with what its aborted run returned.
        await bringRedisBack(container);
        await expect.poll(async () => (await h.store.get(view.job_id))?.status).toBe('cancelled');
        expect((await h.store.get(view.job_id))?.error?.code).toBe('Cancelled');
      }
      h.redis.disconnect();
      await h.events.close();
    },
  );
});
