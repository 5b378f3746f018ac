import { webApi } from '@slack/bolt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoltLogger, mayHaveReachedSlack } from '@harombe/slack-approvals';
import { BOT_TOKEN, CHANNEL, silentLogger } from './approval-fixture.js';
import { SlackStandIn } from './slack-stand-in.js';

let standIn: SlackStandIn;
let client: webApi.WebClient;

beforeAll(async () => {
  standIn = await SlackStandIn.start();
  // As the approval service makes its client: no retries of its own, a timeout.
  client = new webApi.WebClient(BOT_TOKEN, {
    slackApiUrl: standIn.apiUrl,
    retryConfig: { retries: 0 },
    timeout: 300,
    rejectRateLimitedCalls: true,
    logger: new BoltLogger(silentLogger),
  });
});

afterAll(async () => {
  await standIn?.stop();
});

/** The error of a post that fails under the stand-in's current faults. */
async function failedPost(): Promise<unknown> {
  try {
    await client.chat.postMessage({ channel: CHANNEL, text: 'x' });
  } catch (error) {
    return error;
  }
  throw new Error('expected the post to fail');
}

describe('whether a failed Web API call may have been carried out', () => {
  it('no, when Slack answered it: {ok: false}', async () => {
    standIn.failures.set('chat.postMessage', 'channel_not_found');
    try {
      expect(mayHaveReachedSlack(await failedPost())).toBe(false);
    } finally {
      standIn.failures.delete('chat.postMessage');
    }
  });

  it('yes, when the answer came too late (the client timed out)', async () => {
    standIn.delays.set('chat.postMessage', 5_000);
    try {
      expect(mayHaveReachedSlack(await failedPost())).toBe(true);
    } finally {
      standIn.delays.delete('chat.postMessage');
    }
  });

  it('yes, when the connection was cut after the request was sent', async () => {
    standIn.resets.add('chat.postMessage');
    try {
      expect(mayHaveReachedSlack(await failedPost())).toBe(true);
    } finally {
      standIn.resets.delete('chat.postMessage');
    }
  });

  it('no, when the connection was refused: the request never left', async () => {
    await standIn.down();
    try {
      expect(mayHaveReachedSlack(await failedPost())).toBe(false);
    } finally {
      await standIn.up();
    }
  });

  it('yes, for anything it cannot tell', () => {
    expect(mayHaveReachedSlack(new Error('something else'))).toBe(true);
  });
});
