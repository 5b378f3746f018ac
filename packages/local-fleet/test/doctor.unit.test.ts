import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '@harombe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkApi,
  checkConfig,
  checkRedis,
  checkSlack,
  formatCheck,
  redactUrl,
  type CheckResult,
} from '../src/commands/doctor.js';
import { closedPort, harombe, harombeAsync, tempDir } from './harombe-cli.js';
import { SlackWebApiStandIn } from './slack-web-api.js';

describe('harombe doctor', () => {
  it('reports an unreachable Redis and API as FAIL with the fix, and exits 1', async () => {
    const port = await closedPort();
    const run = harombe(['doctor', '--api-url', `http://127.0.0.1:${port}`], {
      env: { HAROMBE_REDIS_URL: 'redis://127.0.0.1:1' },
    });
    expect(run.stdout).toMatch(
      /^FAIL {2}Redis reachable at redis:\/\/127\.0\.0\.1:1: .*ECONNREFUSED.*\n {6}fix: start Redis .*HAROMBE_REDIS_URL/m,
    );
    expect(run.stdout).toMatch(
      new RegExp(
        `^FAIL  API ready at http://127\\.0\\.0\\.1:${port} \\(from --api-url\\): .*ECONNREFUSED.*\\n      fix: start a local fleet with \`harombe up\``,
        'm',
      ),
    );
    expect(run.stdout).toMatch(/^ok {4}configuration valid: no harombe\.yaml: the defaults$/m);
    // One line per check (Docker ones included, whatever this host has), each ok or FAIL.
    for (const line of run.stdout.split('\n').filter((l) => l && !l.startsWith('      fix: ')))
      expect(line).toMatch(/^(ok {4}|FAIL {2})\S/);
    expect(run.stdout).toMatch(/Docker engine reachable/);
    expect(run.stdout).toMatch(/sandbox image harombe\/sandbox-python present/);
    expect(run.stderr).toMatch(/checks? failed/);
    expect(run.status).toBe(1);
  });

  it('names the bad key of an invalid configuration, and goes on with the defaults', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'harombe.yaml'), 'api:\n  port: eighty\nredis:\n  url: redis://127.0.0.1:1\n');
    const run = harombe(['doctor', '--api-url', `http://127.0.0.1:${await closedPort()}`], { cwd });
    expect(run.stdout).toMatch(
      /^FAIL {2}configuration valid: invalid harombe\.yaml: api\.port: .*\n {6}fix: correct harombe\.yaml/m,
    );
    expect(run.stdout).toMatch(/Redis reachable at redis:\/\/127\.0\.0\.1:6379/);
    expect(run.status).toBe(1);
  });

  it('checks pure: config file, Redis, API', async () => {
    expect(checkConfig(undefined).check.ok).toBe(true);
    expect(checkConfig('/nonexistent/harombe.yaml').check).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/cannot read configuration file/),
    });
    const redis = await checkRedis('redis://127.0.0.1:1');
    expect(redis).toMatchObject({ ok: false, name: 'Redis reachable at redis://127.0.0.1:1' });
    const started = Date.now();
    const api = await checkApi({ flags: { apiUrl: `http://127.0.0.1:${await closedPort()}` }, env: {} });
    expect(api.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(formatCheck({ name: 'x', ok: false, detail: 'broken', fix: 'mend it' })).toBe(
      'FAIL  x: broken\n      fix: mend it\n',
    );
    expect(formatCheck({ name: 'x', ok: true })).toBe('ok    x\n');
    expect(redactUrl('redis://:secret@host:6379/0')).toBe('redis://:***@host:6379/0');
  });
});

describe('harombe doctor: Slack', () => {
  const BOT = 'xoxb-doctor-bot';
  const APP = 'xapp-1-doctor-app';
  let slack: SlackWebApiStandIn;

  beforeAll(async () => {
    slack = await SlackWebApiStandIn.start();
    slack.botTokens.add(BOT);
    slack.appTokens.add(APP);
  });

  afterAll(async () => {
    await slack?.stop();
  });

  const slackSection = (extra: Record<string, unknown> = {}) => ({
    enabled: true,
    channel: 'C0123ABCD',
    approvers: { users: ['U0123ABCD'] },
    api_url: slack.apiUrl,
    ...extra,
  });
  const withSlack = (extra: Record<string, unknown> = {}) => parseConfig({ slack: slackSection(extra) });
  const lines = (results: CheckResult[]) => results.map((result) => `${result.ok ? 'ok' : 'FAIL'} ${result.name}`);

  it('checks nothing of Slack when it is off', async () => {
    expect(await checkSlack(parseConfig({}), { HAROMBE_SLACK_BOT_TOKEN: BOT })).toEqual([]);
  });

  it('transport http: the bot token is set and Slack takes it (auth.test), the signing secret is set', async () => {
    const results = await checkSlack(withSlack({ transport: 'http' }), {
      HAROMBE_SLACK_BOT_TOKEN: BOT,
      HAROMBE_SLACK_SIGNING_SECRET: 'secret',
    });
    expect(lines(results)).toEqual([
      'ok Slack bot token set (HAROMBE_SLACK_BOT_TOKEN)',
      `ok Slack accepts the bot token (auth.test at ${slack.apiUrl})`,
      'ok Slack signing secret set (HAROMBE_SLACK_SIGNING_SECRET)',
    ]);
    expect(results[1]?.detail).toBe('bot harombe (UBOT) in Acme');
    expect(slack.calls.at(-1)).toEqual({ method: 'auth.test', token: BOT });
  });

  it('transport socket: the app-level token is set and Slack opens a connection for it (apps.connections.open)', async () => {
    const results = await checkSlack(withSlack({ transport: 'socket' }), {
      HAROMBE_SLACK_BOT_TOKEN: BOT,
      HAROMBE_SLACK_APP_TOKEN: APP,
    });
    expect(lines(results)).toEqual([
      'ok Slack bot token set (HAROMBE_SLACK_BOT_TOKEN)',
      `ok Slack accepts the bot token (auth.test at ${slack.apiUrl})`,
      'ok Slack app-level token set (HAROMBE_SLACK_APP_TOKEN)',
      `ok Slack opens a Socket Mode connection (apps.connections.open at ${slack.apiUrl})`,
    ]);
    expect(slack.calls.slice(-2)).toEqual([
      { method: 'auth.test', token: BOT },
      { method: 'apps.connections.open', token: APP },
    ]);
  });

  it('fails each check that fails, saying what was found and how to fix it', async () => {
    const calls = slack.calls.length;
    const unset = await checkSlack(withSlack({ transport: 'socket' }), {});
    expect(unset.map((result) => result.ok)).toEqual([false, false, false, false]);
    expect(unset[0]).toMatchObject({
      detail: 'not set',
      fix: expect.stringMatching(/^export HAROMBE_SLACK_BOT_TOKEN=/),
    });
    expect(unset[1]).toMatchObject({ detail: 'not checked: no bot token' });
    expect(unset[3]).toMatchObject({ detail: 'not checked: no app-level token' });
    // Nothing to ask Slack without tokens.
    expect(slack.calls.length).toBe(calls);

    const refused = await checkSlack(withSlack({ transport: 'socket' }), {
      HAROMBE_SLACK_BOT_TOKEN: 'xoxb-revoked',
      HAROMBE_SLACK_APP_TOKEN: 'xapp-1-revoked',
    });
    expect(lines(refused).filter((line) => line.startsWith('FAIL'))).toHaveLength(2);
    expect(refused[1]).toMatchObject({
      ok: false,
      detail: 'Slack answered invalid_auth',
      fix: expect.stringMatching(/revoked or mistyped/),
    });
    expect(refused[3]).toMatchObject({
      ok: false,
      detail: 'Slack answered invalid_auth',
      fix: expect.stringMatching(/connections:write/),
    });

    const wrongKind = await checkSlack(withSlack({ transport: 'socket' }), {
      HAROMBE_SLACK_BOT_TOKEN: BOT,
      HAROMBE_SLACK_APP_TOKEN: BOT,
    });
    expect(wrongKind[2]).toMatchObject({
      ok: false,
      detail: 'does not hold an app-level token, xapp-…, with connections:write (xapp-…)',
    });

    const unreachable = await checkSlack(
      withSlack({ transport: 'http', api_url: `http://127.0.0.1:${await closedPort()}/api/` }),
      { HAROMBE_SLACK_BOT_TOKEN: BOT, HAROMBE_SLACK_SIGNING_SECRET: 's' },
    );
    expect(unreachable[1]).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/ECONNREFUSED/),
      fix: expect.stringMatching(/check slack\.api_url/),
    });
  });

  it('through the CLI: a line per Slack check, and a failing one counts as a failed check', async () => {
    const cwd = tempDir();
    // YAML is a superset of JSON.
    writeFileSync(
      join(cwd, 'harombe.yaml'),
      JSON.stringify({ redis: { url: 'redis://127.0.0.1:1' }, slack: slackSection({ transport: 'socket' }) }),
    );
    const apiUrl = `http://127.0.0.1:${await closedPort()}`;
    const good = await harombeAsync(['doctor', '--api-url', apiUrl], {
      cwd,
      env: { HAROMBE_SLACK_BOT_TOKEN: BOT, HAROMBE_SLACK_APP_TOKEN: APP },
    });
    const url = slack.apiUrl.replace(/\./g, '\\.');
    expect(good.stdout).toMatch(/^ok {4}Slack bot token set \(HAROMBE_SLACK_BOT_TOKEN\)$/m);
    expect(good.stdout).toMatch(
      new RegExp(
        `^ok {4}Slack accepts the bot token \\(auth\\.test at ${url}\\): bot harombe \\(UBOT\\) in Acme$`,
        'm',
      ),
    );
    expect(good.stdout).toMatch(/^ok {4}Slack app-level token set \(HAROMBE_SLACK_APP_TOKEN\)$/m);
    expect(good.stdout).toMatch(
      new RegExp(`^ok {4}Slack opens a Socket Mode connection \\(apps\\.connections\\.open at ${url}\\)$`, 'm'),
    );

    const bad = await harombeAsync(['doctor', '--api-url', apiUrl], {
      cwd,
      env: { HAROMBE_SLACK_BOT_TOKEN: 'xoxb-revoked', HAROMBE_SLACK_APP_TOKEN: APP },
    });
    expect(bad.stdout).toMatch(
      /^FAIL {2}Slack accepts the bot token \(auth\.test at .*\): Slack answered invalid_auth\n {6}fix: the token is revoked or mistyped/m,
    );
    // Redis and the API are down in both runs: the revoked token is one failed check more.
    const failed = (stderr: string): number => Number(/(\d+) checks? failed/.exec(stderr)?.[1]);
    expect(failed(bad.stderr)).toBe(failed(good.stderr) + 1);
    expect(bad.status).toBe(1);
  });
});
