import { createHash } from 'node:crypto';
import type { AuditRecordView } from '@harombe/core';
import { serializeAuditRecord, type AuditTrail } from '@harombe/queue';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ACTIONS } from '@harombe/slack-approvals';
import { alice, ApprovalFixture, bob, eventually } from './approval-fixture.js';

let redis: RedisContainer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

/** Replaces the stream with `entries` (record text and hash each), as someone with write access to Redis could. */
async function rewrite(client: Redis, trail: AuditTrail, entries: { record: string; hash: string }[]): Promise<void> {
  await client.del(trail.streamKey);
  for (const entry of entries) await client.xadd(trail.streamKey, '*', 'record', entry.record, 'hash', entry.hash);
}

async function entriesOf(client: Redis, trail: AuditTrail): Promise<{ id: string; record: string; hash: string }[]> {
  const raw = (await client.xrange(trail.streamKey, '-', '+')) as [string, string[]][];
  return raw.map(([id, fields]) => ({ id, record: fields[1] as string, hash: fields[3] as string }));
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('audit trail', () => {
  let f: ApprovalFixture;
  let trail: AuditTrail;

  beforeEach(async () => {
    f = await ApprovalFixture.start(redis.url);
    trail = f.api.audit;
  });

  afterEach(async () => {
    await f.close();
  });

  /** Jobs decided every way there is: in Slack, through the API, by the timeout, by cancelling. */
  async function history(): Promise<Record<string, string>> {
    const slackApproved = await f.submit();
    const message = await f.requestFor(slackApproved.job_id);
    expect(
      await f.click(
        'UBOB',
        ACTIONS.approve,
        slackApproved.approval?.approval_id as string,
        String(message.response.ts),
      ),
    ).toBe(200);
    await eventually(
      async () => (await f.api.store.get(slackApproved.job_id))?.status === 'queued',
      'the Slack approval',
    );
    const apiDenied = await f.submit({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("deny me")' },
    });
    await f.api.jobs.decide(
      bob,
      apiDenied.approval?.approval_id as string,
      'deny',
      'token xoxb-1234567890-abcdefghij pasted by mistake',
    );
    const cancelled = await f.submit({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("cancel me")' },
    });
    await f.api.jobs.cancel(alice, cancelled.job_id);
    const expired = await f.submit({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("let me expire")' },
    });
    f.manualClock.advance(60_001);
    await eventually(async () => (await f.api.store.get(expired.job_id))?.status === 'expired', 'the expiry');
    // The record of a step follows the step: wait for the last one before reading the trail.
    await eventually(async () => (await trail.latest(1))[0]?.type === 'expired', 'the expiry to be recorded');
    return {
      slackApproved: slackApproved.job_id,
      apiDenied: apiDenied.job_id,
      cancelled: cancelled.job_id,
      expired: expired.job_id,
    };
  }

  it('records every step with who, through what, when and why, and the payload hash, secrets redacted', async () => {
    const ids = await history();
    const records = (await trail.read({ limit: 1000 })).records;
    const of = (jobId: string): AuditRecordView[] => records.filter((record) => record.job_id === jobId);
    for (const jobId of Object.values(ids)) {
      const job = await f.api.store.get(jobId);
      for (const record of of(jobId)) expect(record.payload_sha256).toBe(job?.payload_sha256);
    }
    expect(of(ids.slackApproved as string).map((record) => record.type)).toEqual([
      'classified',
      'approval_requested',
      'decided',
    ]);
    expect(of(ids.slackApproved as string)[0]).toMatchObject({
      actor: 'alice-key',
      channel: 'api',
      tenant: 'acme',
      tool: 'code_execute',
      details: { risk: 'HIGH', rule: 'Code execution', require_approval: true },
    });
    expect(of(ids.slackApproved as string)[2]).toMatchObject({
      actor: 'slack:UBOB',
      channel: 'slack',
      details: { decision: 'approved', reason: null },
    });
    expect(of(ids.slackApproved as string)[2]?.details.decided_at).toBe(of(ids.slackApproved as string)[2]?.at);
    const denied = of(ids.apiDenied as string).find((record) => record.type === 'decided');
    expect(denied).toMatchObject({
      actor: 'bob-key',
      channel: 'api',
      details: { decision: 'denied', reason: 'token [REDACTED] pasted by mistake' },
    });
    expect(of(ids.cancelled as string).at(-1)).toMatchObject({
      type: 'cancelled',
      actor: 'alice-key',
      details: { previous_status: 'awaiting_approval' },
    });
    expect(of(ids.expired as string).at(-1)).toMatchObject({ type: 'expired', actor: null, channel: 'timeout' });
    expect(JSON.stringify(await f.redis.xrange(trail.streamKey, '-', '+'))).not.toContain('xoxb-1234567890');
    // One chain through every record, in order.
    expect(records.map((record) => record.seq)).toEqual(records.map((_, index) => index + 1));
    for (let i = 1; i < records.length; i += 1) expect(records[i]?.prev_hash).toBe(records[i - 1]?.hash);
  });

  it('verifies an intact trail', async () => {
    await history();
    const result = await trail.verify();
    expect(result).toMatchObject({ ok: true, problems: [] });
    expect(result.records).toBeGreaterThanOrEqual(12);
    expect(result.last).toEqual(await trail.head());
  });

  it('detects an edited record, re-hashed or not', async () => {
    await history();
    const entries = await entriesOf(f.redis, trail);
    const index = entries.findIndex(
      (entry) => entry.record.includes('"decided"') && entry.record.includes('slack:UBOB'),
    );
    const target = entries[index] as { record: string; hash: string };
    const forged = target.record.replace('slack:UBOB', 'slack:UCAROL');
    const seq = JSON.parse(target.record).seq as number;

    await rewrite(
      f.redis,
      trail,
      entries.map((entry, i) => (i === index ? { record: forged, hash: entry.hash } : entry)),
    );
    let result = await trail.verify();
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([expect.objectContaining({ kind: 'edited', seq })]);

    // Re-hashing the edited record moves the break to the next record's link.
    await rewrite(
      f.redis,
      trail,
      entries.map((entry, i) => (i === index ? { record: forged, hash: sha256(forged) } : entry)),
    );
    result = await trail.verify();
    expect(result.problems).toEqual([expect.objectContaining({ kind: 'broken_link', seq: seq + 1 })]);
  });

  it('detects a removed record, in the middle or at the end', async () => {
    await history();
    const entries = await entriesOf(f.redis, trail);
    await f.redis.xdel(trail.streamKey, (entries[4] as { id: string }).id);
    let result = await trail.verify();
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([
      expect.objectContaining({
        kind: 'removed',
        seq: 6,
        message: expect.stringMatching(/1 record missing before record 6/),
      }),
    ]);

    await rewrite(f.redis, trail, entries.slice(0, -2));
    result = await trail.verify();
    expect(result.problems).toEqual([
      expect.objectContaining({
        kind: 'head_mismatch',
        message: expect.stringMatching(/2 records removed from the end/),
      }),
    ]);
  });

  it('detects an inserted record, however well forged', async () => {
    await history();
    const entries = await entriesOf(f.redis, trail);
    const before = JSON.parse((entries[2] as { record: string }).record) as Parameters<typeof serializeAuditRecord>[0];
    // A forged approval that continues the chain exactly where it stands.
    const forged = serializeAuditRecord({
      ...before,
      seq: before.seq + 1,
      type: 'decided',
      actor: 'slack:UMALLORY',
      prev_hash: (entries[2] as { hash: string }).hash,
    });
    await rewrite(f.redis, trail, [
      ...entries.slice(0, 3),
      { record: forged, hash: sha256(forged) },
      ...entries.slice(3),
    ]);
    const result = await trail.verify();
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([expect.objectContaining({ kind: 'inserted', seq: before.seq + 1 })]);
  });
});
