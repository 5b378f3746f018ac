import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ACTIONS, DENY_VIEW } from '@harombe/slack-approvals';
import {
  alice,
  ApprovalFixture,
  blocksText,
  bob,
  buttonsOf,
  CHANNEL,
  eventually,
  HIGH_JOB,
  NOT_AN_APPROVER,
} from './approval-fixture.js';
import type { RecordedCall } from './slack-stand-in.js';
import { send } from './slack-requests.js';

let redis: RedisContainer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

describe('Slack approvals', () => {
  let f: ApprovalFixture;

  beforeEach(async () => {
    f = await ApprovalFixture.start(redis.url);
  });

  afterEach(async () => {
    await f.close();
  });

  /** Submits a HIGH job and waits for its request in Slack. */
  async function announced(request = HIGH_JOB) {
    const job = await f.submit(request);
    const message = await f.requestFor(job.job_id);
    return { job, approvalId: job.approval?.approval_id as string, message };
  }

  it('posts a request saying who asks for what, at what risk, with the code, the network and the expiry', async () => {
    const code = ['import subprocess', ...Array.from({ length: 40 }, (_, i) => `print(${i})  # line ${i + 2}`)].join(
      '\n',
    );
    const job = await f.submit({
      tool: 'code_execute',
      params: { language: 'python', code, network_enabled: true, allowed_domains: ['pypi.org', '*.example.com'] },
    });
    const message = await f.requestFor(job.job_id);
    expect(message.token).toBe('xoxb-test-bot-token');
    expect(message.body.channel).toBe(CHANNEL);
    const blocks = blocksText(message);
    expect(blocks).toContain('alice-key');
    expect(blocks).toContain('<@UALICE>');
    expect(blocks).toContain('code_execute');
    expect(blocks).toContain('python');
    expect(blocks).toContain(`*${job.risk}*`);
    expect(job.risk).toBe('CRITICAL');
    expect(blocks).toContain('Code execution with network access');
    expect(blocks).toContain('pypi.org, *.example.com');
    expect(blocks).toContain(`|${job.approval?.expires_at}>`);
    // A preview, not the whole code: the first lines only, and the whole code one click away.
    expect(blocks).toContain('import subprocess');
    expect(blocks).not.toContain('line 41');
    expect(buttonsOf(message)).toEqual([ACTIONS.approve, ACTIONS.deny, ACTIONS.showCode]);

    // Without network, the dangerous pattern is the matched rule, and the text it matched is shown.
    const dangerous = await f.submit({
      tool: 'code_execute',
      params: { language: 'python', code: 'x = 1\nimport subprocess' },
    });
    const second = blocksText(await f.requestFor(dangerous.job_id));
    expect(dangerous.risk_reason).toBe('Code contains a dangerous pattern');
    expect(second).toContain('Code contains a dangerous pattern');
    expect(second).toContain(`\`${dangerous.risk_matched}\``);
    expect(second).toContain('Network*\\noff');
  });

  it('approves on a click by an approver, and updates the message in place', async () => {
    const { job, approvalId, message } = await announced();
    const ts = tsOf(message);
    expect(await f.click('UBOB', ACTIONS.approve, approvalId, ts)).toBe(200);
    await f.expectApprovedInSlack(job.job_id, 'UBOB', ts);
    await f.settled();
    expect(f.updatesOf(ts)).toHaveLength(1);
    expect(f.ephemeralsTo('UBOB')).toEqual([]);
  });

  it('shows the whole code in a modal', async () => {
    const code = Array.from({ length: 100 }, (_, i) => `print(${i})`).join('\n');
    const { job, message } = await announced({ tool: 'code_execute', params: { language: 'python', code } });
    expect(await f.click('UMALLORY', ACTIONS.showCode, job.job_id, tsOf(message))).toBe(200);
    const opened = await eventually(() => f.standIn.called('views.open')[0], 'views.open');
    expect(JSON.stringify(opened.body.view)).toContain('print(99)');
    expect(typeof opened.body.trigger_id).toBe('string');
  });

  it('denies with the reason asked for in a modal', async () => {
    const { job, approvalId, message } = await announced();
    const ts = tsOf(message);
    expect(await f.click('UCAROL', ACTIONS.deny, approvalId, ts)).toBe(200);
    const opened = await eventually(() => f.standIn.called('views.open')[0], 'the deny modal');
    const view = opened.body.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe(DENY_VIEW);
    // Opening the modal decides nothing.
    expect((await f.api.store.get(job.job_id))?.status).toBe('awaiting_approval');

    expect(await f.submitDenyReason('UCAROL', view.private_metadata, 'mines bitcoin')).toBe(200);
    const denied = await eventually(async () => {
      const current = await f.api.store.get(job.job_id);
      return current?.status === 'denied' ? current : undefined;
    }, 'the job to be denied');
    expect(denied.approval).toMatchObject({
      status: 'denied',
      decided_by: 'slack:UCAROL',
      channel: 'slack',
      reason: 'mines bitcoin',
    });
    expect(denied.error?.code).toBe('ApprovalDenied');
    const update = await eventually(() => f.updatesOf(ts)[0], 'the message update');
    expect(blocksText(update)).toContain('*Denied* by <@UCAROL>: mines bitcoin');
    expect(buttonsOf(update)).toEqual([]);
  });

  it('refuses a deny without a reason, and decides nothing', async () => {
    const { job, approvalId } = await announced();
    const metadata = JSON.stringify({ kind: 'job', id: approvalId, channel: CHANNEL });
    const response = await fetch(f.eventsUrl, {
      method: 'POST',
      ...requestInit(f.signed(denyPayload('UCAROL', metadata, '   '))),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ response_action: 'errors', errors: { reason: expect.any(String) } });
    await f.settled();
    expect((await f.api.store.get(job.job_id))?.status).toBe('awaiting_approval');
  });

  it('refuses a request with a forged signature', async () => {
    const { job, approvalId, message } = await announced();
    const forged = f.signed(clickPayload('UBOB', approvalId, tsOf(message)), { signature: `v0=${'0'.repeat(64)}` });
    expect(await send(f.eventsUrl, forged)).toBe(401);
    // Signed with another secret.
    const { signedRequest } = await import('./slack-requests.js');
    expect(
      await send(f.eventsUrl, signedRequest('not-the-secret', clickPayload('UBOB', approvalId, tsOf(message)))),
    ).toBe(401);
    await f.settled();
    expect((await f.api.store.get(job.job_id))?.status).toBe('awaiting_approval');
    expect(f.standIn.called('chat.update')).toEqual([]);
  });

  it('refuses a correctly signed request older than five minutes', async () => {
    const { job, approvalId, message } = await announced();
    const stale = f.signed(clickPayload('UBOB', approvalId, tsOf(message)), {
      timestampSeconds: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    expect(await send(f.eventsUrl, stale)).toBe(401);
    const future = f.signed(clickPayload('UBOB', approvalId, tsOf(message)), {
      timestampSeconds: Math.floor(Date.now() / 1000) + 6 * 60,
    });
    expect(await send(f.eventsUrl, future)).toBe(401);
    await f.settled();
    expect((await f.api.store.get(job.job_id))?.status).toBe('awaiting_approval');
  });

  it('refuses a replayed request: the same signed bytes a second time never reach the app', async () => {
    const { job, approvalId, message } = await announced();
    const ts = tsOf(message);
    const click = f.signed(clickPayload('UBOB', approvalId, ts));
    expect(await send(f.eventsUrl, click)).toBe(200);
    await eventually(async () => (await f.api.store.get(job.job_id))?.status === 'queued', 'the approval');
    expect(await send(f.eventsUrl, click)).toBe(401);
    await f.settled();
    // Had the replay reached the app, UBOB would have been told that the approval was already decided.
    expect(f.ephemeralsTo('UBOB')).toEqual([]);
    expect(f.updatesOf(ts)).toHaveLength(1);
  });

  it('tells someone who is not an approver, privately, and decides nothing', async () => {
    const { job, approvalId, message } = await announced();
    const ts = tsOf(message);
    expect(await f.click(NOT_AN_APPROVER, ACTIONS.approve, approvalId, ts)).toBe(200);
    expect(await f.click(NOT_AN_APPROVER, ACTIONS.deny, approvalId, ts)).toBe(200);
    const told = await eventually(
      () => (f.ephemeralsTo(NOT_AN_APPROVER).length === 2 ? f.ephemeralsTo(NOT_AN_APPROVER) : undefined),
      'two private answers',
    );
    for (const call of told) {
      expect(call.body.channel).toBe(CHANNEL);
      expect(String(call.body.text)).toMatch(/not one of them/);
    }
    await f.expectUndecided(job.job_id, ts);
    expect(f.standIn.called('views.open')).toEqual([]);
    // The refused decision is on the record (the deny click only asked whether a reason may follow).
    const refused = (await f.api.audit.read({ jobId: job.job_id })).records.filter(
      (record) => record.type === 'decision_refused',
    );
    expect(refused.map((record) => [record.actor, record.channel, record.details.reason])).toEqual([
      [`slack:${NOT_AN_APPROVER}`, 'slack', 'not_an_approver'],
    ]);
  });

  it("refuses the submitter's own Slack identity, even when they are an approver", async () => {
    const { job, approvalId, message } = await announced();
    expect(job.approval).not.toBeNull();
    const ts = tsOf(message);
    expect(await f.click(alice.slack_user_id as string, ACTIONS.approve, approvalId, ts)).toBe(200);
    const told = await eventually(() => f.ephemeralsTo('UALICE')[0], 'a private answer');
    expect(String(told.body.text)).toMatch(/You submitted this job/);
    await f.expectUndecided(job.job_id, ts);
    const refused = (await f.api.audit.read({ jobId: job.job_id })).records.filter(
      (record) => record.type === 'decision_refused',
    );
    expect(refused.map((record) => [record.actor, record.details.reason])).toEqual([['slack:UALICE', 'self_approval']]);
  });

  it('takes one decision when two approvers click at once, and updates the message once', async () => {
    const { job, approvalId, message } = await announced();
    const ts = tsOf(message);
    const metadata = JSON.stringify({ kind: 'job', id: approvalId, channel: CHANNEL });
    const [approve, deny] = await Promise.all([
      f.click('UBOB', ACTIONS.approve, approvalId, ts),
      f.submitDenyReason('UCAROL', metadata, 'no'),
    ]);
    expect([approve, deny]).toEqual([200, 200]);
    const ended = await eventually(async () => {
      const current = await f.api.store.get(job.job_id);
      return current && current.status !== 'awaiting_approval' ? current : undefined;
    }, 'a decision');
    const winner = ended.approval?.decided_by === 'slack:UBOB' ? 'UBOB' : 'UCAROL';
    const loser = winner === 'UBOB' ? 'UCAROL' : 'UBOB';
    expect(ended.status).toBe(winner === 'UBOB' ? 'queued' : 'denied');
    const told = await eventually(() => f.ephemeralsTo(loser)[0], 'the other approver to be told');
    expect(String(told.body.text)).toMatch(new RegExp(`already (approved|denied) by <@${winner}>.*changed nothing`));
    await f.settled();
    expect(f.updatesOf(ts)).toHaveLength(1);
    expect(f.ephemeralsTo(winner)).toEqual([]);
    expect(
      (await f.api.audit.read({ jobId: job.job_id })).records.filter((record) => record.type === 'decided'),
    ).toHaveLength(1);
  });

  it('changes nothing on a click after expiry, and says so', async () => {
    const { job, approvalId, message } = await announced();
    const ts = tsOf(message);
    f.manualClock.advance(60_001);
    const update = await eventually(() => f.updatesOf(ts)[0], 'the message to say it expired');
    expect(blocksText(update)).toContain('*Expired* at');
    expect(blocksText(update)).toContain('the job was denied');
    expect(await f.click('UBOB', ACTIONS.approve, approvalId, ts)).toBe(200);
    const told = await eventually(() => f.ephemeralsTo('UBOB')[0], 'a private answer');
    expect(String(told.body.text)).toMatch(/expired at .*changed nothing/);
    await f.settled();
    expect((await f.api.store.get(job.job_id))?.status).toBe('expired');
    expect(f.updatesOf(ts)).toHaveLength(1);
  });

  it('changes nothing on a click after the deadline that the sweep has not expired yet', async () => {
    const { job, approvalId, message } = await announced();
    const ts = tsOf(message);
    await f.service.controller.housekeeper.stop();
    f.manualClock.advance(60_001);
    expect(await f.click('UBOB', ACTIONS.approve, approvalId, ts)).toBe(200);
    const told = await eventually(() => f.ephemeralsTo('UBOB')[0], 'a private answer');
    expect(String(told.body.text)).toMatch(/expired at .*changed nothing/);
    // The late decision expired the job itself (first come, first served: the deadline came first).
    expect((await f.api.store.get(job.job_id))?.status).toBe('expired');
  });

  it('updates the message after a decision made through the API', async () => {
    const { job, approvalId, message } = await announced();
    const ts = tsOf(message);
    await f.api.jobs.decide(bob, approvalId, 'deny', 'not today');
    const update = await eventually(() => f.updatesOf(ts)[0], 'the message update');
    expect(blocksText(update)).toContain('*Denied* by *bob-key* (API): not today');
    await f.settled();
    expect(f.updatesOf(ts)).toHaveLength(1);
    expect((await f.api.store.get(job.job_id))?.status).toBe('denied');
  });

  it('stops updating a message that someone deleted', async () => {
    const { approvalId, message } = await announced();
    f.standIn.failures.set('chat.update', 'message_not_found');
    await f.api.jobs.decide(bob, approvalId, 'approve', null);
    await eventually(() => f.updatesOf(tsOf(message))[0], 'the update attempt');
    await f.settled();
    f.manualClock.advance(10 * 60_000);
    await f.settled();
    expect(f.updatesOf(tsOf(message))).toHaveLength(1);
    expect(
      await f.redis.exists(
        `${f.api.keys.tag}:slack:message:${(await f.api.store.jobIdForApproval(approvalId)) as string}`,
      ),
    ).toBe(0);
  });

  it('updates the message when the submitter cancels the job', async () => {
    const { job, message } = await announced();
    const ts = tsOf(message);
    await f.api.jobs.cancel(alice, job.job_id);
    const update = await eventually(() => f.updatesOf(ts)[0], 'the message update');
    expect(blocksText(update)).toContain('*Cancelled* by *alice-key* (API)');
  });

  it('reminds in the thread at half the timeout', async () => {
    const { message } = await announced();
    const ts = tsOf(message);
    f.manualClock.advance(29_000);
    await f.settled();
    expect(f.standIn.called('chat.postMessage').filter((call) => call.body.thread_ts === ts)).toEqual([]);
    f.manualClock.advance(1_000);
    const reminder = await eventually(
      () => f.standIn.called('chat.postMessage').find((call) => call.body.thread_ts === ts),
      'the reminder',
    );
    expect(String(reminder.body.text)).toMatch(/Reminder: job .* still waits for a decision/);
    expect(String(reminder.body.text)).toContain('<@UBOB>');
  });
});

/** The ts Slack gave a posted message: where updates and thread replies point. */
function tsOf(message: RecordedCall): string {
  return String(message.response.ts);
}

function clickPayload(user: string, approvalId: string, ts: string): Record<string, unknown> {
  return {
    type: 'block_actions',
    user: { id: user, username: user.toLowerCase(), team_id: 'T1' },
    api_app_id: 'A1',
    token: 'unused',
    container: { type: 'message', message_ts: ts, channel_id: CHANNEL },
    trigger_id: `trigger-${Math.random()}`,
    team: { id: 'T1', domain: 'acme' },
    channel: { id: CHANNEL, name: 'approvals' },
    message: { type: 'message', ts, text: 'x' },
    actions: [
      { type: 'button', action_id: ACTIONS.approve, block_id: 'harombe_decision', value: approvalId, action_ts: '1' },
    ],
  };
}

function denyPayload(user: string, privateMetadata: string, reason: string): Record<string, unknown> {
  return {
    type: 'view_submission',
    team: { id: 'T1', domain: 'acme' },
    user: { id: user, name: user, team_id: 'T1' },
    api_app_id: 'A1',
    token: 'unused',
    trigger_id: 't',
    view: {
      id: 'V1',
      type: 'modal',
      callback_id: DENY_VIEW,
      private_metadata: privateMetadata,
      state: { values: { reason: { reason_input: { type: 'plain_text_input', value: reason } } } },
    },
  };
}

function requestInit(request: { body: string; headers: Record<string, string> }): RequestInit {
  return { headers: request.headers, body: request.body };
}
