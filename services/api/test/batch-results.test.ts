import { randomUUID } from 'node:crypto';
import { HarombeClient } from '@harombe/client';
import { parseConfig, type ApiKeyConfig, type ExecutionResult, type JobView } from '@harombe/core';
import { createJobPipeline, RedisConnections, type JobPipeline } from '@harombe/service-kit';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiKeyring, buildApiServer, sha256Hex, type ApiServer } from '../src/index.js';

const logger = pino({ level: 'silent' });
const KEY = 'hk_alice-submits-for-acme';
const keyConfigs: ApiKeyConfig[] = [{ name: 'alice', tenant: 'acme', scopes: ['submit'], key_sha256: sha256Hex(KEY) }];
const MIB = 1_048_576;

let container: RedisContainer;
beforeAll(async () => {
  container = await startRedis();
});
afterAll(async () => {
  await container?.stop();
});

/** Output no JSON or NDJSON step may bend: multi-byte characters, U+FFFD, NUL and other controls, line and paragraph separators, CR. */
const TRICKY = 'é€😀\uFFFD\u0000\u0001\u001f\u2028\u2029\r\n"\\';

function result(stdout: string): ExecutionResult {
  return {
    success: true,
    sandbox_id: null,
    sandbox_kept: false,
    stdout,
    stderr: TRICKY,
    exit_code: 0,
    execution_time: 1,
    error: null,
  };
}

describe('GET /v1/batches/{batch_id}/results', () => {
  let redis: RedisConnections;
  let pipeline: JobPipeline;
  let app: ApiServer;
  let url: string;

  beforeEach(async () => {
    redis = new RedisConnections(container.url, logger);
    pipeline = createJobPipeline(
      parseConfig({ redis: { url: container.url, prefix: `t${randomUUID().slice(0, 8)}` } }),
      redis,
      logger,
    );
    app = await buildApiServer({
      service: pipeline.jobs,
      store: pipeline.store,
      batches: pipeline.batches,
      sandboxes: pipeline.sandboxes,
      workers: pipeline.workers,
      keyring: new ApiKeyring(keyConfigs),
      metrics: new Registry(),
      readiness: {},
      clock: pipeline.clock,
      logger,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });

  afterEach(async () => {
    await app.close();
    await pipeline.close();
    await redis.close();
  });

  /** A batch of `n` jobs, each taken by a worker and completed with `stdoutOf(i)` (all but `unfinished`). */
  async function finishedBatch(
    n: number,
    stdoutOf: (i: number) => string,
    unfinished: ReadonlySet<number> = new Set(),
  ): Promise<{ batch_id: string; job_ids: string[] }> {
    const client = new HarombeClient({ baseUrl: url, apiKey: KEY });
    const jobs = Array.from({ length: n }, (_, i) => ({
      tool: 'code_execute',
      params: { language: 'shell', code: `echo ${i}` },
    }));
    const batch = await client.submitBatch({ jobs });
    const records = await pipeline.store.getMany(batch.job_ids);
    const bob = { tenant: 'acme', name: 'bob', scopes: ['approve' as const] };
    for (const [i, job] of records.entries()) {
      if (unfinished.has(i)) continue;
      await pipeline.jobs.decide(bob, job!.approval!.approval_id, 'approve', null);
      await pipeline.store.transition(job!.job_id, 'start', { worker_id: 'w1' }, Date.now());
      await pipeline.store.transition(
        job!.job_id,
        'complete',
        { result: result(stdoutOf(i)), error: null },
        Date.now(),
      );
    }
    return batch;
  }

  it('streams every ended job of a large batch whole, byte for byte: many jobs, large outputs, any characters', async () => {
    const large = (i: number) => `${i}:`.padEnd(MIB, TRICKY);
    const stdoutOf = (i: number) => (i % 50 === 0 ? large(i) : `${i}${TRICKY}`);
    const unfinished = new Set([3, 500]);
    const batch = await finishedBatch(1_000, stdoutOf, unfinished);
    const client = new HarombeClient({ baseUrl: url, apiKey: KEY });
    const seen: JobView[] = [];
    for await (const job of client.batchResults(batch.batch_id)) seen.push(job);
    expect(seen.map((job) => job.job_id)).toEqual(batch.job_ids.filter((_, i) => !unfinished.has(i)));
    for (const job of seen) {
      const i = batch.job_ids.indexOf(job.job_id);
      expect(job.result, `job ${i}`).toEqual(result(stdoutOf(i)));
    }
  });
});
