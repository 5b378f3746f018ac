import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ACTIONS, DENY_VIEW } from '@harombe/slack-approvals';
import {
  ApprovalFixture,
  blocksText,
  BOT_TOKEN,
  buttonsOf,
  CHANNEL,
  eventually,
  NOT_AN_APPROVER,
} from './approval-fixture.js';
import type { RecordedCall } from './slack-stand-in.js';

let redis: RedisContainer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

const APP_TOKEN = 'xapp-1-socket-test';
const tsOf = (message: RecordedCall): string => String(message.response.ts);

/** Transport socket end to end: Bolt's SocketModeReceiver on a real WebSocket to the stand-in. */
describe('Slack over Socket Mode', () => {
  let f: ApprovalFixture;

  beforeEach(async () => {
    f = await ApprovalFixture.start(redis.url, {
      slack: { transport: 'socket' },
      env: { HAROMBE_SLACK_BOT_TOKEN: BOT_TOKEN, HAROMBE_SLACK_APP_TOKEN: APP_TOKEN },
    });
    await eventually(() => f.standIn.socketConnections === 1, 'the Socket Mode connection');
  });

  afterEach(async () => {
    await f.close();
  });

  async function announced() {
    const job = await f.submit();
    const message = await f.requestFor(job.job_id);
    return { job, approvalId: job.approval?.approval_id as string, ts: tsOf(message) };
  }

  it("connects with the app-level token, and approves on an approver's click: acked, decided as over HTTP, the message updated in place", async () => {
    expect(f.standIn.called('apps.connections.open').map((call) => call.token)).toEqual([APP_TOKEN]);
    expect(f.service.slack?.eventsUrl).toBeUndefined();
    const { job, approvalId, ts } = await announced();

    const ack = await f.clickOverSocket('UBOB', ACTIONS.approve, approvalId, ts);
    expect(f.standIn.acks.map((received) => received.envelope_id)).toEqual([ack.envelope_id]);
    const update = await f.expectApprovedInSlack(job.job_id, 'UBOB', ts);
    expect(update.token).toBe(BOT_TOKEN);
    await f.settled();
    expect(f.updatesOf(ts)).toHaveLength(1);
    expect(f.ephemeralsTo('UBOB')).toEqual([]);
    // The same message, updated: one request in the channel, now without buttons.
    expect(f.standIn.channelMessages(CHANNEL).map((message) => message.ts)).toEqual([ts]);
  });

  it("acks a non-approver's click, decides nothing, and tells them privately", async () => {
    const { job, approvalId, ts } = await announced();
    await f.clickOverSocket(NOT_AN_APPROVER, ACTIONS.approve, approvalId, ts);
    const told = await eventually(() => f.ephemeralsTo(NOT_AN_APPROVER)[0], 'a private answer');
    expect(told.body.channel).toBe(CHANNEL);
    expect(String(told.body.text)).toMatch(/not one of them/);
    await f.expectUndecided(job.job_id, ts);
  });

  it('denies with the reason asked for in a modal; a reason left empty is refused in the ack itself', async () => {
    const { job, approvalId, ts } = await announced();
    await f.clickOverSocket('UCAROL', ACTIONS.deny, approvalId, ts);
    const opened = await eventually(() => f.standIn.called('views.open')[0], 'the deny modal');
    const view = opened.body.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe(DENY_VIEW);
    expect(JSON.parse(view.private_metadata)).toEqual({ kind: 'job', id: approvalId, channel: CHANNEL });

    // Over Socket Mode the modal's errors travel in the ack's payload.
    const empty = await f.submitDenyReasonOverSocket('UCAROL', view.private_metadata, '   ');
    expect(empty.payload).toMatchObject({ response_action: 'errors', errors: { reason: expect.any(String) } });
    expect((await f.api.store.get(job.job_id))?.status).toBe('awaiting_approval');

    const given = await f.submitDenyReasonOverSocket('UCAROL', view.private_metadata, 'mines bitcoin');
    expect(given.payload ?? {}).toEqual({});
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
    const update = await eventually(() => f.updatesOf(ts)[0], 'the message update');
    expect(blocksText(update)).toContain('*Denied* by <@UCAROL>: mines bitcoin');
    expect(buttonsOf(update)).toEqual([]);
  });
});
