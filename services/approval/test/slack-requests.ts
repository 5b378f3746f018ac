import { createHmac } from 'node:crypto';

/** A signed request as Slack sends one: form-encoded `payload=`, signed v0 over `v0:<ts>:<body>`. */
export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

export function signedRequest(
  signingSecret: string,
  payload: unknown,
  options: { timestampSeconds?: number; signature?: string } = {},
): SignedRequest {
  const timestamp = options.timestampSeconds ?? Math.floor(Date.now() / 1000);
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const signature =
    options.signature ?? `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': signature,
    },
  };
}

/** POSTs a signed request; resolves with the HTTP status. */
export async function send(url: string, request: SignedRequest): Promise<number> {
  const response = await fetch(url, { method: 'POST', headers: request.headers, body: request.body });
  await response.arrayBuffer();
  return response.status;
}

/** A click on a message button (block_actions), as Slack describes it. */
export function buttonClick(options: {
  user: string;
  actionId: string;
  value: string;
  channel: string;
  messageTs: string;
}): Record<string, unknown> {
  return {
    type: 'block_actions',
    user: { id: options.user, username: options.user.toLowerCase(), name: options.user.toLowerCase(), team_id: 'T1' },
    api_app_id: 'A1',
    token: 'verification-token-unused',
    container: { type: 'message', message_ts: options.messageTs, channel_id: options.channel, is_ephemeral: false },
    trigger_id: `trigger-${Math.random().toString(16).slice(2)}`,
    team: { id: 'T1', domain: 'acme' },
    channel: { id: options.channel, name: 'approvals' },
    message: { type: 'message', ts: options.messageTs, text: 'Approval needed' },
    response_url: 'https://hooks.slack.com/actions/T1/1/unused',
    actions: [
      {
        type: 'button',
        action_id: options.actionId,
        block_id: 'harombe_decision',
        value: options.value,
        action_ts: `${Date.now() / 1000}`,
      },
    ],
  };
}

/** The submission of the deny modal with a reason. */
export function denySubmission(options: {
  user: string;
  privateMetadata: string;
  reason: string;
}): Record<string, unknown> {
  return {
    type: 'view_submission',
    team: { id: 'T1', domain: 'acme' },
    user: { id: options.user, username: options.user.toLowerCase(), name: options.user.toLowerCase(), team_id: 'T1' },
    api_app_id: 'A1',
    token: 'verification-token-unused',
    trigger_id: `trigger-${Math.random().toString(16).slice(2)}`,
    view: {
      id: 'V1',
      team_id: 'T1',
      type: 'modal',
      callback_id: 'harombe_deny_reason',
      private_metadata: options.privateMetadata,
      state: { values: { reason: { reason_input: { type: 'plain_text_input', value: options.reason } } } },
      hash: 'h',
      title: { type: 'plain_text', text: 'Deny job' },
      blocks: [],
      app_id: 'A1',
      bot_id: 'BBOT',
    },
  };
}
