import { randomUUID } from 'node:crypto';
import { HarombeError, ManualClock, parseConfig } from '@harombe/core';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalService } from '../src/index.js';
import { APPROVERS, BOT_TOKEN, CHANNEL, eventually, silentLogger, SLACK_ENV } from './approval-fixture.js';
import { SlackStandIn } from './slack-stand-in.js';

let redis: RedisContainer;
let standIn: SlackStandIn;

beforeAll(async () => {
  redis = await startRedis();
  standIn = await SlackStandIn.start();
});

afterAll(async () => {
  await standIn?.stop();
  await redis?.stop();
});

function config(slack: Record<string, unknown>) {
  return parseConfig({
    redis: { url: redis.url, prefix: `t${randomUUID().slice(0, 8)}` },
    slack: {
      enabled: true,
      channel: CHANNEL,
      approvers: { users: APPROVERS },
      api_url: standIn.apiUrl,
      http: { port: 0 },
      ...slack,
    },
  });
}

function refusal(run: () => unknown): HarombeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(HarombeError);
    return error as HarombeError;
  }
  throw new Error('expected the service to refuse its configuration');
}

describe('Slack transports', () => {
  it('refuses to start without the secret its transport needs, naming the configuration key', () => {
    const socket = refusal(
      () => new ApprovalService({ config: config({ transport: 'socket' }), logger: silentLogger, env: SLACK_ENV }),
    );
    expect(socket.code).toBe('InvalidArgument');
    expect(socket.message).toMatch(/slack\.app_token_env: the environment variable HAROMBE_SLACK_APP_TOKEN is not set/);
    const http = refusal(
      () =>
        new ApprovalService({
          config: config({ transport: 'http' }),
          logger: silentLogger,
          env: { HAROMBE_SLACK_BOT_TOKEN: BOT_TOKEN },
        }),
    );
    expect(http.message).toMatch(
      /slack\.signing_secret_env: the environment variable HAROMBE_SLACK_SIGNING_SECRET is not set/,
    );
  });

  it('socket mode: connects with the app-level token, keeps trying while Slack refuses, and holds approvals meanwhile', async () => {
    const clock = new ManualClock();
    // Slack refuses the app token (as a revoked one) until the test lifts it.
    standIn.failures.set('apps.connections.open', 'invalid_auth');
    const service = new ApprovalService({
      config: config({ transport: 'socket' }),
      logger: silentLogger,
      clock,
      intervalMs: 20,
      opsPort: 0,
      env: { HAROMBE_SLACK_BOT_TOKEN: BOT_TOKEN, HAROMBE_SLACK_APP_TOKEN: 'xapp-1-test' },
      slack: { pollIntervalMs: 20 },
    });
    await service.start();
    try {
      expect(service.slack?.eventsUrl).toBeUndefined();
      // The service tries again.
      const attempts = await eventually(
        () =>
          standIn.called('apps.connections.open').length >= 2 ? standIn.called('apps.connections.open') : undefined,
        'a second connection attempt',
      );
      expect(attempts.every((call) => call.token === 'xapp-1-test')).toBe(true);
      expect(standIn.socketConnections).toBe(0);
      const job = await service.pipeline.jobs.submit(
        { tenant: 'acme', name: 'alice-key', scopes: ['submit'] },
        { tool: 'code_execute', params: { language: 'python', code: 'print(1)' } },
      );
      await eventually(
        () => standIn.called('chat.postMessage').find((call) => JSON.stringify(call.body).includes(job.job_id)),
        'the request, posted through the Web API',
      );
      // Slack takes the token again: a later attempt opens the WebSocket.
      standIn.failures.delete('apps.connections.open');
      await eventually(() => standIn.socketConnections === 1, 'the Socket Mode connection');
      clock.advance(60_000);
      await eventually(async () => (await service.pipeline.store.get(job.job_id))?.status === 'expired', 'the expiry');
    } finally {
      standIn.failures.delete('apps.connections.open');
      await service.stop();
    }
    await eventually(() => standIn.socketConnections === 0, 'the connection to be closed on stop');
  });

  it('without slack.enabled, holds and expires approvals with no Slack at all', async () => {
    const clock = new ManualClock();
    const service = new ApprovalService({
      config: config({ enabled: false }),
      logger: silentLogger,
      clock,
      intervalMs: 20,
      opsPort: 0,
      env: {},
    });
    await service.start();
    try {
      expect(service.slack).toBeUndefined();
      const job = await service.pipeline.jobs.submit(
        { tenant: 'acme', name: 'alice-key', scopes: ['submit'] },
        { tool: 'code_execute', params: { language: 'python', code: 'print(1)' } },
      );
      clock.advance(60_000);
      await eventually(async () => (await service.pipeline.store.get(job.job_id))?.status === 'expired', 'the expiry');
    } finally {
      await service.stop();
    }
  });
});
