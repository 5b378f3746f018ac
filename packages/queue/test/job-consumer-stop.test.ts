import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
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

/** Resolves to what `work` resolves to, or to 'still waiting' after `ms`. */
async function within<T>(work: Promise<T>, ms: number): Promise<T | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), ms)));
  try {
    return await Promise.race([work, bound]);
  } finally {
    clearTimeout(timer);
  }
}

// Each test loses its Redis on purpose: each has a server of its own.
describe('JobConsumer.stop without Redis', () => {
  let container: RedisContainer | undefined;

  afterEach(async () => {
    await container?.stop().catch(() => undefined);
    container = undefined;
  });

  it.each([
    ['gone (its server stopped)', (redis: RedisContainer) => redis.stop()],
    ['frozen (its server answers nothing)', (redis: RedisContainer) => redis.freeze()],
  ])(
    'ends when Redis is %s: running jobs are aborted at the deadline, nothing waits on Redis past its grace',
    {
      timeout: 120_000,
    },
    async (_, loseRedis) => {
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
        redisGraceMs: 500,
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
      // The deadline (300 ms) and the grace of each Redis step (500 ms) are short: 30 s is ample for
      // a stop that gives up on Redis, and a stop that waits on it never ends.
      expect(await within(consumer.stop(300), 30_000)).toBeUndefined();
      expect(aborted).toEqual([view.job_id]);
      expect(consumer.running).toBe(0);
      h.redis.disconnect();
      await h.events.close();
    },
  );
});
