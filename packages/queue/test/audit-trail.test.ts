import { ManualClock, type AuditRecordView } from '@harombe/core';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditTrail, Housekeeper, JobConsumer, JobService, type AuditEntry } from '../src/index.js';
import {
  alice,
  bullConnection,
  carol,
  COMPLETED_RUN,
  connect,
  Harness,
  HIGH_EXECUTE,
  LOST_AFTER_MS,
  silentLogger,
} from './harness.js';

let container: RedisContainer;

beforeAll(async () => {
  container = await startRedis();
});

afterAll(async () => {
  await container?.stop();
});

const entry = (n: number, tenant = 'acme'): AuditEntry => ({
  type: 'classified',
  tenant,
  job_id: `job-${String(n).padStart(24, '0')}`,
  tool: 'code_execute',
  payload_sha256: 'f'.repeat(64),
  actor: 'k',
  channel: 'api',
  details: { n },
});

describe('AuditTrail', () => {
  let h: Harness;
  let clock: ManualClock;
  let trail: AuditTrail;

  beforeEach(() => {
    clock = new ManualClock();
    h = new Harness(container.url, { clock });
    trail = new AuditTrail({ redis: h.redis, keys: h.keys, clock });
  });

  afterEach(async () => {
    await h.close();
  });

  it("writes a step's record with the step: a crash before the drain loses nothing, and a refused step writes none", async () => {
    const service = new JobService({
      store: h.store,
      batches: h.batches,
      dispatcher: h.dispatcher,
      events: h.events,
      policy: h.policy,
      clock,
      logger: silentLogger,
      audit: trail,
    });
    const submitted = await service.submit(alice, HIGH_EXECUTE);
    // The submission's records wait in the inbox too, until someone drains (here, at once).
    expect(await h.redis.llen(trail.inboxKey)).toBe(2);
    await trail.drain();
    const before = (await trail.head())?.seq ?? 0;
    // The decision as a process stores it, dying before it drains: the record waits in the inbox.
    clock.advance(1_500);
    const decided: AuditEntry = {
      ...entry(0),
      type: 'decided',
      job_id: submitted.job_id,
      actor: 'carol-key',
      details: { decision: 'approved' },
    };
    expect((await h.store.transition(submitted.job_id, 'approve', {}, clock.now(), decided)).outcome).toBe('ok');
    expect(await h.redis.llen(trail.inboxKey)).toBe(1);
    expect((await trail.head())?.seq).toBe(before);
    // A step refused (already decided) stores no record.
    expect(
      (
        await h.store.transition(submitted.job_id, 'deny', {}, clock.now(), {
          ...decided,
          details: { decision: 'denied' },
        })
      ).outcome,
    ).toBe('refused');
    expect(await h.redis.llen(trail.inboxKey)).toBe(1);
    // Any instance's housekeeper drains it, at the time of the step, into an intact chain.
    clock.advance(60_000);
    const other = new AuditTrail({ redis: h.redis, keys: h.keys, clock });
    const housekeeper = new Housekeeper({
      store: h.store,
      service,
      dispatcher: h.dispatcher,
      workers: h.workers,
      clock,
      logger: silentLogger,
      audit: other,
    });
    expect((await housekeeper.tick()).audited).toBe(1);
    expect(await h.redis.llen(trail.inboxKey)).toBe(0);
    const records = (await trail.read({ jobId: submitted.job_id })).records;
    expect(records.map((r) => r.type)).toEqual(['classified', 'approval_requested', 'decided']);
    expect(records[2]).toMatchObject({
      seq: before + 1,
      at: new Date(clock.now() - 60_000).toISOString(),
      details: { decision: 'approved' },
    });
    expect((await trail.verify()).ok).toBe(true);
  });

  it('fills a cancellation record with the status the job left, in the same step', async () => {
    const service = new JobService({
      store: h.store,
      batches: h.batches,
      dispatcher: h.dispatcher,
      events: h.events,
      policy: h.policy,
      clock,
      logger: silentLogger,
      audit: trail,
    });
    const submitted = await service.submit(alice, HIGH_EXECUTE);
    await service.cancel(alice, submitted.job_id);
    expect((await trail.read({ jobId: submitted.job_id })).records.at(-1)).toMatchObject({
      type: 'cancelled',
      details: { previous_status: 'awaiting_approval' },
    });
  });

  it('keeps one chain while drains and direct appends race on separate connections', async () => {
    const connections = Array.from({ length: 3 }, () => connect(container.url));
    try {
      const [a, b, c] = connections.map((redis) => new AuditTrail({ redis, keys: h.keys, clock })) as [
        AuditTrail,
        AuditTrail,
        AuditTrail,
      ];
      const inbox = Array.from(
        { length: 700 },
        (_, i) => `|${JSON.stringify({ at: new Date(clock.now()).toISOString(), entry: entry(i) })}`,
      );
      await h.redis.rpush(a.inboxKey, ...inbox);
      const drained = await Promise.all([
        a.drain(),
        b.drain(),
        (async () => {
          for (let i = 0; i < 20; i += 1) await c.append(entry(10_000 + i));
          return 0;
        })(),
      ]);
      expect(drained[0] + drained[1]).toBe(700);
    } finally {
      await Promise.all(connections.map((redis) => redis.quit()));
    }
    const all = await readAll(trail);
    expect(all).toHaveLength(720);
    // The inbox's records in the order they were pushed, none twice.
    expect(all.map((record) => record.details.n as number).filter((n) => n < 10_000)).toEqual(
      Array.from({ length: 700 }, (_, i) => i),
    );
    expect((await trail.verify()).ok).toBe(true);
  });

  it('keeps one chain under concurrent writers on separate connections', async () => {
    const connections = Array.from({ length: 4 }, () => connect(container.url));
    try {
      const writers = connections.map((redis) => new AuditTrail({ redis, keys: h.keys, clock }));
      await Promise.all([
        ...writers.map(async (writer, w) => {
          for (let i = 0; i < 30; i += 1) await writer.append(entry(w * 1000 + i));
        }),
        // Longer than one script call (500): appended in chunks, each contiguous.
        writers[0]?.appendMany(Array.from({ length: 1_200 }, (_, i) => entry(100_000 + i))),
      ]);
    } finally {
      await Promise.all(connections.map((redis) => redis.quit()));
    }
    const result = await trail.verify();
    expect(result).toMatchObject({ ok: true, records: 1_320, problems: [] });
    expect(result.last).toEqual({ hash: (await trail.head())?.hash, seq: 1_320 });
    const all = await readAll(trail);
    expect(all.map((record) => record.seq)).toEqual(Array.from({ length: 1_320 }, (_, i) => i + 1));
    // Each writer's records in the order it wrote them; the big batch contiguous.
    const batch = all.filter((record) => (record.details.n as number) >= 100_000);
    expect(batch.map((record) => record.details.n)).toEqual(Array.from({ length: 1_200 }, (_, i) => 100_000 + i));
    for (const chunk of [batch.slice(0, 500), batch.slice(500, 1_000), batch.slice(1_000)]) {
      expect((chunk.at(-1)?.seq ?? 0) - (chunk[0]?.seq ?? 0)).toBe(chunk.length - 1);
    }
  });

  it('redacts secrets before writing', async () => {
    const record = await trail.append({
      ...entry(1),
      actor: 'xoxb-1234567890-secret',
      details: { reason: 'key hk_AAAAAAAAAAAAAAAAAAAAAAAAAAAA', token: 'anything', nested: { password: 'pw' } },
    });
    expect(record.actor).toBe('[REDACTED]');
    expect(record.details).toEqual({
      reason: 'key [REDACTED]',
      token: '[REDACTED]',
      nested: { password: '[REDACTED]' },
    });
    expect(JSON.stringify(await h.redis.xrange(trail.streamKey, '-', '+'))).not.toMatch(
      /xoxb-1234567890|hk_A|anything|"pw"/,
    );
  });

  it('records a refused network attempt, with the job when it is known', async () => {
    const job = await h.service.submit(alice, HIGH_EXECUTE);
    const stored = await h.job(job.job_id);
    const tied = await trail.networkRefused({
      tenant: 'acme',
      sandbox_id: 'sandbox-0123456789abcdef',
      destination: 'evil.example:443',
      reason: 'not in allowed_domains',
      worker_id: 'w1',
      job: stored,
    });
    expect(tied).toMatchObject({
      type: 'network_refused',
      job_id: job.job_id,
      payload_sha256: stored.payload_sha256,
      actor: 'w1',
      channel: 'sandbox',
      details: { destination: 'evil.example:443' },
    });
    const untied = await trail.networkRefused({
      tenant: 'acme',
      sandbox_id: 'sandbox-0123456789abcdef',
      destination: '10.0.0.1:22',
      reason: 'private address',
    });
    expect(untied).toMatchObject({
      type: 'network_refused',
      job_id: null,
      payload_sha256: null,
      tenant: 'acme',
      actor: null,
    });
    expect((await trail.verify()).ok).toBe(true);
  });

  it('reads pages after a cursor, by tenant and by job, and the latest records', async () => {
    await trail.appendMany([entry(1), entry(2, 'globex'), entry(3), entry(4), entry(5, 'globex')]);
    const first = await trail.read({ limit: 2, tenant: 'acme' });
    expect(first.records.map((record) => record.details.n)).toEqual([1, 3]);
    const second = await trail.read({ limit: 2, tenant: 'acme', after: first.next_after as string });
    expect(second.records.map((record) => record.details.n)).toEqual([4]);
    const rest = await trail.read({ tenant: 'acme', after: second.next_after as string });
    expect(rest).toEqual({ records: [], next_after: second.next_after });
    expect((await trail.read({ jobId: entry(5).job_id as string })).records.map((record) => record.tenant)).toEqual([
      'globex',
    ]);
    expect((await trail.latest(2)).map((record) => record.details.n)).toEqual([4, 5]);
    expect(await new AuditTrail({ redis: h.redis, keys: h.keys }).read()).toMatchObject({ records: expect.any(Array) });
  });

  it('records what the job service does: classification, approval request, decision, expiry, cancellation', async () => {
    const service = new JobService({
      store: h.store,
      batches: h.batches,
      dispatcher: h.dispatcher,
      events: h.events,
      policy: h.policy,
      clock,
      logger: silentLogger,
      audit: trail,
    });
    const decided = await service.submit(alice, HIGH_EXECUTE);
    await service.decide(carol, decided.approval?.approval_id as string, 'deny', 'no');
    const cancelled = await service.submit(alice, HIGH_EXECUTE);
    await service.cancel(alice, cancelled.job_id);
    const expired = await service.submit(alice, HIGH_EXECUTE);
    clock.advance(60_000);
    await service.expire(expired.job_id);
    const batch = await service.submitBatch(alice, { jobs: [HIGH_EXECUTE, HIGH_EXECUTE] });
    const types = (jobId: string): Promise<string[]> =>
      trail.read({ jobId }).then((page) => page.records.map((record) => record.type));
    expect(await types(decided.job_id)).toEqual(['classified', 'approval_requested', 'decided']);
    expect(await types(cancelled.job_id)).toEqual(['classified', 'approval_requested', 'cancelled']);
    expect(await types(expired.job_id)).toEqual(['classified', 'approval_requested', 'expired']);
    for (const jobId of batch.job_ids) expect(await types(jobId)).toEqual(['classified', 'approval_requested']);
    const decision = (await trail.read({ jobId: decided.job_id })).records[2];
    expect(decision).toMatchObject({
      actor: 'carol-key',
      channel: 'api',
      payload_sha256: (await h.job(decided.job_id)).payload_sha256,
      details: { decision: 'denied', reason: 'no' },
    });
    expect((await trail.verify()).ok).toBe(true);
  });

  it("records each execution's start and end on the worker, and the end of one whose worker was lost", async () => {
    const service = new JobService({
      store: h.store,
      batches: h.batches,
      dispatcher: h.dispatcher,
      events: h.events,
      policy: h.policy,
      clock,
      logger: silentLogger,
    });
    const consumer = new JobConsumer({
      workerId: 'w-audit',
      connection: bullConnection(container.url),
      keys: h.keys,
      store: h.store,
      workers: h.workers,
      events: h.events,
      eventStream: h.eventStream,
      clock,
      logger: silentLogger,
      audit: trail,
      run: async () => COMPLETED_RUN,
    });
    await consumer.start();
    try {
      const view = await service.submit(alice, HIGH_EXECUTE);
      await service.decide(carol, view.approval?.approval_id as string, 'approve', null);
      await h.events.waitForEnd(view.job_id, 30_000, async () => (await h.job(view.job_id)).status === 'completed');
      const records = await waitForRecords(trail, view.job_id, 2);
      expect(records.map((record) => [record.type, record.actor, record.channel])).toEqual([
        ['execution_started', 'w-audit', 'worker'],
        ['execution_finished', 'w-audit', 'worker'],
      ]);
      expect(records[1]?.details).toMatchObject({
        status: 'completed',
        success: true,
        exit_code: 0,
        worker_id: 'w-audit',
      });
      expect(records[0]?.payload_sha256).toBe((await h.job(view.job_id)).payload_sha256);
    } finally {
      await consumer.stop(1_000);
    }

    // A job running on a worker that went silent.
    const lost = await service.submit(alice, HIGH_EXECUTE);
    await service.decide(carol, lost.approval?.approval_id as string, 'approve', null);
    await h.store.transition(lost.job_id, 'start', { worker_id: 'w-gone', started_at: clock.now() }, clock.now());
    await h.heartbeat('w-gone');
    clock.advance(LOST_AFTER_MS + 1);
    const housekeeper = new Housekeeper({
      store: h.store,
      service,
      dispatcher: h.dispatcher,
      workers: h.workers,
      clock,
      logger: silentLogger,
      audit: trail,
    });
    expect((await housekeeper.tick()).lost).toBe(1);
    expect((await trail.read({ jobId: lost.job_id })).records).toEqual([
      expect.objectContaining({
        type: 'execution_finished',
        actor: null,
        channel: 'housekeeper',
        details: { status: 'failed', worker_id: 'w-gone', error: 'WorkerLost', run_again: false },
      }),
    ]);
    expect((await trail.verify()).ok).toBe(true);
  });
});

async function readAll(trail: AuditTrail): Promise<AuditRecordView[]> {
  const out: AuditRecordView[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await trail.read({ limit: 500, ...(after ? { after } : {}) });
    out.push(...page.records);
    if (page.records.length < 500) return out;
    after = page.next_after as string;
  }
}

/** The job's records, once there are at least `count`. */
async function waitForRecords(trail: AuditTrail, jobId: string, count: number): Promise<AuditRecordView[]> {
  return vi.waitFor(
    async () => {
      const { records } = await trail.read({ jobId });
      expect(records.length).toBeGreaterThanOrEqual(count);
      return records;
    },
    { timeout: 15_000, interval: 20 },
  );
}
