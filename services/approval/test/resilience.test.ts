import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '@harombe/core';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS } from '@harombe/slack-approvals';
import {
  alice,
  ApprovalFixture,
  blocksText,
  bob,
  buttonsOf,
  CHANNEL,
  eventually,
  HIGH_JOB,
  mentions,
  SLACK_ENV,
} from './approval-fixture.js';
import type { HeldMessage, RecordedCall } from './slack-stand-in.js';

let redis: RedisContainer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

const tsOf = (message: RecordedCall): string => String(message.response.ts);

/** The requests for a job in the approvals channel, as Slack holds them (whatever the client was told). */
function requestsIn(f: ApprovalFixture, jobId: string): HeldMessage[] {
  return f.standIn
    .channelMessages(CHANNEL)
    .filter(
      (message) =>
        JSON.stringify(message.metadata ?? {}).includes(jobId) || JSON.stringify(message.blocks ?? []).includes(jobId),
    );
}

describe('approval service restarts', () => {
  let f: ApprovalFixture;

  afterEach(async () => {
    await f?.close();
  });

  it('after a restart, updates the messages of approvals decided or expired meanwhile, and announces new ones', async () => {
    f = await ApprovalFixture.start(redis.url);
    const decided = await f.submit();
    const expiring = await f.submit();
    const decidedTs = tsOf(await f.requestFor(decided.job_id));
    const expiringTs = tsOf(await f.requestFor(expiring.job_id));
    await f.settled();

    await f.service.stop();
    // While no approval service runs: a decision through the API, a new job, a deadline passing.
    await f.api.jobs.decide(bob, decided.approval?.approval_id as string, 'approve', null);
    const submittedMeanwhile = await f.submit({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("meanwhile")' },
    });
    f.manualClock.advance(60_001);
    expect(f.updatesOf(decidedTs)).toEqual([]);
    expect((await f.api.store.get(expiring.job_id))?.status).toBe('awaiting_approval');

    f.service = f.newService();
    await f.service.start();
    // The expiry fires at once: its deadline has passed.
    await eventually(async () => (await f.api.store.get(expiring.job_id))?.status === 'expired', 'the expiry');
    const approvedUpdate = await eventually(() => f.updatesOf(decidedTs)[0], 'the decided message to be updated');
    expect(blocksText(approvedUpdate)).toContain('*Approved* by *bob-key* (API)');
    const expiredUpdate = await eventually(() => f.updatesOf(expiringTs)[0], 'the expired message to be updated');
    expect(blocksText(expiredUpdate)).toContain('*Expired* at');
    // The job submitted meanwhile has expired too (60 s passed), so it is not announced at all.
    expect((await f.api.store.get(submittedMeanwhile.job_id))?.status).toBe('expired');
    const fresh = await f.submit({ tool: 'code_execute', params: { language: 'python', code: 'print("after")' } });
    expect(buttonsOf(await f.requestFor(fresh.job_id))).toContain(ACTIONS.approve);
    await f.settled();
    expect(f.updatesOf(decidedTs)).toHaveLength(1);
    expect(f.updatesOf(expiringTs)).toHaveLength(1);
    expect(f.standIn.called('chat.postMessage').some((call) => mentions(call, submittedMeanwhile.job_id))).toBe(false);
  });

  it('announces, after a restart, a job submitted while it was down, and its timeout fires on time', async () => {
    f = await ApprovalFixture.start(redis.url);
    await f.service.stop();
    const job = await f.submit();
    f.manualClock.advance(10_000);
    f.service = f.newService();
    await f.service.start();
    const ts = tsOf(await f.requestFor(job.job_id));
    f.manualClock.advance(49_999);
    await f.settled();
    expect((await f.api.store.get(job.job_id))?.status).toBe('awaiting_approval');
    f.manualClock.advance(1);
    await eventually(
      async () => (await f.api.store.get(job.job_id))?.status === 'expired',
      'the expiry at the deadline',
    );
    expect(blocksText(await eventually(() => f.updatesOf(ts)[0], 'the update'))).toContain('*Expired*');
  });
});

describe('Slack unreachable', () => {
  let f: ApprovalFixture;

  afterEach(async () => {
    await f?.close();
  });

  it('keeps the approval request while Slack is down, and delivers it when Slack is back', async () => {
    f = await ApprovalFixture.start(redis.url);
    await f.standIn.down();
    const job = await f.submit();
    const attemptsKey = `${f.api.keys.tag}:slack:outbox:attempts`;
    await eventually(
      async () => Number(await f.redis.hget(attemptsKey, `announce:${job.job_id}`)) >= 1,
      'a failed delivery',
    );
    // The API keeps working meanwhile: the job waits, and shows in the pending approvals.
    expect((await f.api.jobs.pendingApprovals(bob, 10)).map((view) => view.job_id)).toEqual([job.job_id]);
    const metrics = await (await fetch(`${f.service.opsAddress}/metrics`)).text();
    expect(metrics).toMatch(/harombe_slack_delivery_failures_total\{kind="announce",service="approval"\} [1-9]/);
    expect(metrics).toMatch(/harombe_slack_outbox_pending\{service="approval"\} [1-9]/);

    await f.standIn.up();
    // The retry waits out its backoff (1 s after the first failure), on the service's clock.
    f.manualClock.advance(2_000);
    const message = await f.requestFor(job.job_id);
    expect(message.body.channel).toBe(CHANNEL);
    await f.settled();
    expect(
      f.standIn
        .called('chat.postMessage')
        .filter((call) => JSON.stringify(call.body).includes(job.job_id) && call.body.thread_ts === undefined),
    ).toHaveLength(1);
    expect(requestsIn(f, job.job_id)).toHaveLength(1);
    // A refused connection never reached Slack: nothing to look for before posting.
    expect(f.standIn.called('conversations.history')).toEqual([]);
    // And it works as any other request.
    expect(await f.click('UBOB', ACTIONS.approve, job.approval?.approval_id as string, tsOf(message))).toBe(200);
    await eventually(() => f.updatesOf(tsOf(message))[0], 'the update');
  });

  it('updates the message of a decision made while Slack was down once Slack is back', async () => {
    f = await ApprovalFixture.start(redis.url);
    const job = await f.submit();
    const ts = tsOf(await f.requestFor(job.job_id));
    await f.standIn.down();
    await f.api.jobs.decide(bob, job.approval?.approval_id as string, 'deny', 'slack is down');
    await eventually(
      async () => Number(await f.redis.hget(`${f.api.keys.tag}:slack:outbox:attempts`, `update:${job.job_id}`)) >= 1,
      'a failed update',
    );
    await f.standIn.up();
    f.manualClock.advance(2_000);
    expect(blocksText(await eventually(() => f.updatesOf(ts)[0], 'the update'))).toContain('slack is down');
  });
});

describe('Slack slow', () => {
  let f: ApprovalFixture;

  afterEach(async () => {
    await f?.close();
  });

  /** A Web API call unanswered after this long fails (real time: the client's own timeout). */
  const REQUEST_TIMEOUT_MS = 500;

  it('never posts a request twice when Slack posted it but answered too late: it finds it by its metadata, and updates that message', async () => {
    f = await ApprovalFixture.start(redis.url, { slack: { request_timeout_ms: REQUEST_TIMEOUT_MS } });
    // Slack posts at once but answers long after the client has given up.
    f.standIn.delays.set('chat.postMessage', 20 * REQUEST_TIMEOUT_MS);
    const job = await f.submit();
    const attemptsKey = `${f.api.keys.tag}:slack:outbox:attempts`;
    await eventually(
      async () => Number(await f.redis.hget(attemptsKey, `announce:${job.job_id}`)) >= 1,
      'the post to time out',
    );
    const [held] = requestsIn(f, job.job_id);
    expect(held?.metadata).toEqual({ event_type: 'harombe_approval', event_payload: { job_id: job.job_id } });
    f.standIn.delays.delete('chat.postMessage');

    // The retry, after its backoff on the service's clock, looks before it posts.
    f.manualClock.advance(2_000);
    const messageKey = `${f.api.keys.tag}:slack:message:${job.job_id}`;
    await eventually(
      async () => (await f.redis.hget(messageKey, 'ts')) === held?.ts,
      'the message found to be recorded',
    );
    await f.settled();
    expect(requestsIn(f, job.job_id)).toHaveLength(1);
    expect(
      f.standIn
        .called('chat.postMessage')
        .filter((call) => mentions(call, job.job_id) && call.body.thread_ts === undefined),
    ).toHaveLength(1);
    const [lookup, ...more] = f.standIn.called('conversations.history');
    expect(more).toEqual([]);
    expect(lookup?.body).toMatchObject({ channel: CHANNEL, include_all_metadata: 'true' });
    // From a little before the first attempt: the message is inside the window.
    expect(Number(lookup?.body.oldest)).toBeLessThan(Number(held?.ts));

    // A decision updates that one message in place.
    await f.api.jobs.decide(bob, job.approval?.approval_id as string, 'approve', null);
    const update = await eventually(() => f.updatesOf(held?.ts as string)[0], 'the update of the message found');
    expect(update.response.ok).toBe(true);
    expect(blocksText(update)).toContain('*Approved* by *bob-key* (API)');
    await f.settled();
    expect(requestsIn(f, job.job_id)).toHaveLength(1);
  });

  it('updates the request whose answer was lost when its approval ends before it is found: no new post, no buttons left', async () => {
    f = await ApprovalFixture.start(redis.url, { slack: { request_timeout_ms: REQUEST_TIMEOUT_MS } });
    f.standIn.delays.set('chat.postMessage', 20 * REQUEST_TIMEOUT_MS);
    const job = await f.submit();
    await eventually(
      async () => Number(await f.redis.hget(`${f.api.keys.tag}:slack:outbox:attempts`, `announce:${job.job_id}`)) >= 1,
      'the post to time out',
    );
    f.standIn.delays.delete('chat.postMessage');
    const [held] = requestsIn(f, job.job_id);
    // Decided while the service does not know where its request is.
    await f.api.jobs.decide(bob, job.approval?.approval_id as string, 'deny', 'too slow to ask');
    f.manualClock.advance(2_000);
    const update = await eventually(() => f.updatesOf(held?.ts as string)[0], 'the update of the message found');
    expect(blocksText(update)).toContain('*Denied* by *bob-key* (API): too slow to ask');
    expect(buttonsOf(update)).toEqual([]);
    await f.settled();
    expect(requestsIn(f, job.job_id)).toHaveLength(1);
  });

  it('posts again, once, when the connection was cut before Slack posted anything', async () => {
    f = await ApprovalFixture.start(redis.url, { slack: { request_timeout_ms: REQUEST_TIMEOUT_MS } });
    // The request is sent, then the connection drops: whether Slack posted it is unknown here.
    f.standIn.resets.add('chat.postMessage');
    const job = await f.submit();
    const attemptsKey = `${f.api.keys.tag}:slack:outbox:attempts`;
    await eventually(
      async () => Number(await f.redis.hget(attemptsKey, `announce:${job.job_id}`)) >= 1,
      'the cut-off post',
    );
    expect(requestsIn(f, job.job_id)).toEqual([]);
    f.standIn.resets.delete('chat.postMessage');

    f.manualClock.advance(2_000);
    const message = await eventually(
      () => f.standIn.called('chat.postMessage').find((call) => mentions(call, job.job_id) && call.response.ts),
      'the request to be posted',
    );
    await f.settled();
    // Looked for first, not found, then posted: one request in the channel.
    expect(f.standIn.called('conversations.history')).toHaveLength(1);
    expect(requestsIn(f, job.job_id).map((held) => held.ts)).toEqual([tsOf(message)]);
    await f.api.jobs.decide(bob, job.approval?.approval_id as string, 'deny', 'not today');
    expect(blocksText(await eventually(() => f.updatesOf(tsOf(message))[0], 'the update'))).toContain('not today');
  });
});

describe('approval service killed (real time)', () => {
  let f: ApprovalFixture | undefined;
  let child: ChildProcess | undefined;

  afterEach(async () => {
    child?.kill('SIGKILL');
    await f?.close();
    f = undefined;
  });

  it('is SIGKILLed while holding a job; restarted, it expires the job on time and updates the message', async () => {
    // The in-process service of the fixture stays stopped: processes of the real entry point hold the job.
    f = await ApprovalFixture.start(redis.url, {
      clock: systemClock,
      rules: [
        {
          tools: ['code_execute'],
          risk: 'HIGH',
          timeout: 4,
          conditions: [{ param: 'code', matches: 'EXPIRES_IN_4S' }],
          description: 'Test rule: a 4-second approval window',
        },
      ],
    });
    await f.service.stop();
    const dir = mkdtempSync(join(tmpdir(), 'harombe-approval-'));
    const configPath = join(dir, 'harombe.yaml');
    // YAML is a superset of JSON.
    writeFileSync(configPath, JSON.stringify(f.config));
    const start = async (): Promise<ChildProcess> => {
      const started = spawn(process.execPath, [fileURLToPath(new URL('../dist/main.js', import.meta.url))], {
        env: {
          ...process.env,
          ...SLACK_ENV,
          HAROMBE_CONFIG: configPath,
          HAROMBE_OPS_PORT: '0',
          HAROMBE_LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      started.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
      started.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
      started.once(
        'exit',
        () => process.env.TEST_LOG_FILE && writeFileSync(`${process.env.TEST_LOG_FILE}.child-${started.pid}`, log),
      );
      await eventually(
        () => log.includes('approval service holding approvals') || started.exitCode !== null,
        'the approval service to start',
        30_000,
      );
      expect(started.exitCode, log).toBeNull();
      return started;
    };

    child = await start();
    const job = await f.submit({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("EXPIRES_IN_4S")' },
    });
    const ts = tsOf(await f.requestFor(job.job_id));
    // Holding the job: its request is posted and where it is recorded.
    await eventually(
      async () => (await f?.redis.hget(`${f?.api.keys.tag}:slack:message:${job.job_id}`, 'ts')) === ts,
      'the request to be recorded',
    );
    child.kill('SIGKILL');
    await new Promise((resolve) => child?.once('exit', resolve));

    child = await start();
    const expired = await eventually(
      async () => {
        const current = await f?.api.store.get(job.job_id);
        return current?.status === 'expired' ? current : undefined;
      },
      'the expiry',
      20_000,
    );
    // Never before the deadline.
    expect(Date.parse(expired.approval?.decided_at as string)).toBeGreaterThanOrEqual(
      Date.parse(job.approval?.expires_at as string),
    );
    expect(blocksText(await eventually(() => f?.updatesOf(ts)[0], 'the message update', 20_000))).toContain(
      '*Expired*',
    );
  });
});

describe('batches', () => {
  let f: ApprovalFixture;

  afterEach(async () => {
    await f?.close();
  });

  it('asks once for a whole batch, and Approve all approves every job still pending', async () => {
    f = await ApprovalFixture.start(redis.url);
    const jobs = [
      { tool: 'code_execute', params: { language: 'python', code: 'print(1)' } },
      { tool: 'code_execute', params: { language: 'python', code: 'print(2)' } },
      { tool: 'code_execute', params: { language: 'python', code: 'import subprocess' } },
      { tool: 'code_execute', params: { language: 'python', code: 'print(4)' } },
    ];
    const batch = await f.api.jobs.submitBatch(alice, { jobs });
    const message = await eventually(
      () => f.standIn.called('chat.postMessage').find((call) => JSON.stringify(call.body).includes(batch.batch_id)),
      'the batch request',
    );
    await f.settled();
    expect(f.standIn.called('chat.postMessage')).toHaveLength(1);
    const blocks = blocksText(message);
    expect(blocks).toContain('*CRITICAL* 1 · *HIGH* 3');
    expect(blocks).toContain('print(1)');
    expect(buttonsOf(message)).toEqual([ACTIONS.approveBatch, ACTIONS.denyBatch]);
    const ts = tsOf(message);

    // Per-job decisions stay available through the API.
    const [first] = await f.api.store.getMany([batch.job_ids[0] as string]);
    await f.api.jobs.decide(bob, first?.approval?.approval_id as string, 'deny', 'not this one');
    const interim = await eventually(() => f.updatesOf(ts)[0], 'an interim update');
    expect(blocksText(interim)).toContain('1 of 4 needing approval');
    expect(buttonsOf(interim)).toEqual([ACTIONS.approveBatch, ACTIONS.denyBatch]);

    expect(await f.click('UALICE', ACTIONS.approveBatch, batch.batch_id, ts)).toBe(200);
    expect(
      String((await eventually(() => f.ephemeralsTo('UALICE')[0], 'the submitter to be refused')).body.text),
    ).toMatch(/You submitted this job/);
    expect(await f.click('UCAROL', ACTIONS.approveBatch, batch.batch_id, ts)).toBe(200);
    await eventually(async () => (await f.api.batches.counts(batch.batch_id)).queued === 3, 'three approvals');
    const stored = await f.api.store.getMany(batch.job_ids);
    expect(stored.map((job) => job?.status)).toEqual(['denied', 'queued', 'queued', 'queued']);
    for (const job of stored.slice(1))
      expect(job?.approval).toMatchObject({ status: 'approved', decided_by: 'slack:UCAROL', channel: 'slack' });
    const final = await eventually(
      () => f.updatesOf(ts).find((call) => buttonsOf(call).length === 0),
      'the final update',
    );
    expect(blocksText(final)).toContain('3 approved by <@UCAROL>');
    expect(blocksText(final)).toContain('1 denied by *bob-key* (API): not this one');
    await f.settled();
    expect(f.updatesOf(ts).filter((call) => buttonsOf(call).length === 0)).toHaveLength(1);
    // A second Approve all changes nothing and says so.
    expect(await f.click('UBOB', ACTIONS.approveBatch, batch.batch_id, ts)).toBe(200);
    expect(String((await eventually(() => f.ephemeralsTo('UBOB')[0], 'a private answer')).body.text)).toMatch(
      /No job of batch .* is waiting/,
    );
  });

  it('Deny all asks for a reason and denies every pending job', async () => {
    f = await ApprovalFixture.start(redis.url);
    const batch = await f.api.jobs.submitBatch(alice, { jobs: [HIGH_JOB, HIGH_JOB] });
    const ts = tsOf(await eventually(() => f.standIn.called('chat.postMessage')[0], 'the batch request'));
    expect(await f.click('UBOB', ACTIONS.denyBatch, batch.batch_id, ts)).toBe(200);
    const view = (await eventually(() => f.standIn.called('views.open')[0], 'the deny modal')).body.view as {
      private_metadata: string;
    };
    expect(JSON.parse(view.private_metadata)).toEqual({ kind: 'batch', id: batch.batch_id, channel: CHANNEL });
    expect(await f.submitDenyReason('UBOB', view.private_metadata, 'whole batch is wrong')).toBe(200);
    await eventually(async () => (await f.api.batches.counts(batch.batch_id)).denied === 2, 'two denials');
    const final = await eventually(
      () => f.updatesOf(ts).find((call) => buttonsOf(call).length === 0),
      'the final update',
    );
    expect(blocksText(final)).toContain('2 denied by <@UBOB>: whole batch is wrong');
  });
});

describe('approvers from a user group', () => {
  let f: ApprovalFixture;

  afterEach(async () => {
    await f?.close();
  });

  it('lets members of the group decide, and nobody else', async () => {
    f = await ApprovalFixture.start(redis.url, { slack: { approvers: { usergroup: 'SAPPROVERS' } } });
    f.standIn.usergroups.set('SAPPROVERS', ['UGROUPIE']);
    const job = await f.submit();
    const message = await f.requestFor(job.job_id);
    expect(await f.click('UBOB', ACTIONS.approve, job.approval?.approval_id as string, tsOf(message))).toBe(200);
    expect(String((await eventually(() => f.ephemeralsTo('UBOB')[0], 'a refusal')).body.text)).toMatch(
      /not one of them/,
    );
    expect(await f.click('UGROUPIE', ACTIONS.approve, job.approval?.approval_id as string, tsOf(message))).toBe(200);
    await eventually(async () => (await f.api.store.get(job.job_id))?.status === 'queued', 'the approval');
    expect(f.standIn.called('usergroups.users.list')[0]?.body.usergroup).toBe('SAPPROVERS');
  });
});
