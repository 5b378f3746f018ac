import { createHash, randomUUID } from 'node:crypto';
import { ManualClock } from '@harombe/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuditTrail, JobEventStream, QUEUE_SCRIPTS } from '../src/index.js';
import {
  alice,
  approvalIdOf,
  carol,
  connect,
  Harness,
  HIGH_EXECUTE,
  monitorOf,
  RESULT_TTL_SECONDS,
  useRedisContainer,
} from './harness.js';

const container = useRedisContainer();

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');
/** A script's text as MONITOR shows an EVAL of it (escaped), once ioredis has read the quotes back. */
const shown = (text: string): string =>
  text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('\r', '\\r').replaceAll('\t', '\\t');

interface MonitorLine {
  args: string[];
  source: string;
}

/**
 * Each call of one of the queue's scripts that Redis ran, with the keys it was given and the
 * commands the script ran (MONITOR shows a script's commands, from `lua`, right after its call).
 */
function scriptCalls(lines: readonly MonitorLine[]): { name: string; keys: string[]; commands: string[][] }[] {
  // ioredis sends a script's text (EVAL) the first time on a connection, then its hash (EVALSHA).
  const names = new Map(
    QUEUE_SCRIPTS.sources().flatMap((source) => [
      [`evalsha ${sha1(source.lua)}`, source.name],
      [`eval ${shown(source.lua)}`, source.name],
    ]),
  );
  const calls: { name: string; keys: string[]; commands: string[][] }[] = [];
  let current: { name: string; keys: string[]; commands: string[][] } | undefined;
  for (const { args, source } of lines) {
    if (source === 'lua') {
      current?.commands.push(args);
      continue;
    }
    // Another script (BullMQ's) is not followed.
    const name = names.get(`${args[0]?.toLowerCase()} ${args[1]}`);
    current = name ? { name, keys: args.slice(3, 3 + Number(args[2])), commands: [] } : undefined;
    if (current) calls.push(current);
  }
  return calls;
}

describe("the queue's scripts in Redis", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
  });

  it('touch no key but those each call declares: every command every script ran, seen by MONITOR', async () => {
    const clock = new ManualClock();
    h = new Harness(container.url, {
      clock,
      quotas: {
        max_stored_bytes: 1_000_000,
        submissions_per_second: 100,
        submission_burst: 100,
        keys: { [alice.name]: { max_stored_bytes: 500_000, submissions_per_second: 50, submission_burst: 50 } },
      },
    });
    const trail = new AuditTrail({ redis: h.redis, keys: h.keys, clock });
    const stream = new JobEventStream({ redis: h.redis, keys: h.keys });
    const watcher = connect(container.url);
    const monitor = await monitorOf(watcher);
    const lines: MonitorLine[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => lines.push({ args, source }));
    try {
      // A job with an approval and an idempotency key, submitted twice; approved, run, ended.
      const job = await h.service.submit(alice, { ...HIGH_EXECUTE, idempotency_key: 'same' });
      expect((await h.service.submit(alice, { ...HIGH_EXECUTE, idempotency_key: 'same' })).job_id).toBe(job.job_id);
      await h.service.decide(carol, approvalIdOf(job), 'approve', null);
      await h.store.place(job.job_id, 'w1');
      await h.store.transition(job.job_id, 'start', { worker_id: 'w1' }, clock.now());
      expect(await stream.appendOutput(job.job_id, 'w1', [{ stream: 'stdout', text: 'hi\n' }])).toBe(true);
      await h.store.transition(job.job_id, 'complete', { result: { success: true } }, clock.now());
      // A batch with an idempotency key, submitted twice, one of its jobs denied (its end).
      const batch = await h.service.submitBatch(alice, { jobs: [HIGH_EXECUTE, HIGH_EXECUTE], idempotency_key: 'b' });
      await h.service.submitBatch(alice, { jobs: [HIGH_EXECUTE, HIGH_EXECUTE], idempotency_key: 'b' });
      const denied = await h.service.view(alice, batch.job_ids[0] as string);
      await h.service.decide(carol, approvalIdOf(denied), 'deny', null);
      await trail.networkRefused({ tenant: 'acme', sandbox_id: 's1', destination: 'example.com:443', reason: 'x' });
      expect(await h.sandboxes.reserve('acme', 'r1', 2, clock.now())).toBe(true);
      // Once the ended jobs expire, the next submission takes their bytes off the quotas.
      clock.advance(RESULT_TTL_SECONDS * 1000);
      await h.service.submit(alice, HIGH_EXECUTE);
      expect(await h.redis.zcard(h.keys.quotaLapse('acme'))).toBe(0);
      const marker = `done-${randomUUID()}`;
      await h.redis.echo(marker);
      await vi.waitFor(() => expect(lines.some(({ args }) => args[1] === marker)).toBe(true));
    } finally {
      monitor.disconnect();
      watcher.disconnect();
    }

    const calls = scriptCalls(lines);
    expect([...new Set(calls.map(({ name }) => name))].sort()).toEqual(QUEUE_SCRIPTS.sources().map(({ name }) => name));
    const strays = calls.flatMap(({ name, keys, commands }) =>
      commands
        // PUBLISH names a channel, not a key.
        .filter(([command, key]) => command?.toUpperCase() !== 'PUBLISH' && !keys.includes(key as string))
        .map(([command, key]) => `${name}: ${command} ${key}`),
    );
    expect(strays).toEqual([]);
    // And the declared keys share the fleet's hash tag (one Cluster slot).
    for (const { keys } of calls) for (const key of keys) expect(key.startsWith(`${h.keys.tag}:`)).toBe(true);
  });
});
