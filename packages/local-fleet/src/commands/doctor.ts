import type { EventEmitter } from 'node:events';
import { connectionFlags, EXIT, resolveApiKey, resolveApiUrl, type ConnectionInput } from '@harombe/cli';
import { HarombeClient } from '@harombe/client';
import { loadConfig, parseConfig, type HarombeConfig } from '@harombe/core';
import type { Command } from 'commander';
import type Docker from 'dockerode';
import { configPathOf } from '@harombe/cli';

/** One line of `harombe doctor`. */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** What was found: shown after the name (why it failed, or a detail worth knowing). */
  detail?: string;
  /** How to fix a failure. */
  fix?: string;
}

const SETUP = 'sudo bash deploy/host/setup.sh';
const START_FLEET = 'start a local fleet with `harombe up`, or point at yours with --api-url or HAROMBE_API_URL';

/** `ok    name: detail` or `FAIL  name: detail` and, indented below, `fix: …`. */
export function formatCheck(check: CheckResult): string {
  const head = `${check.ok ? 'ok  ' : 'FAIL'}  ${check.name}${check.detail ? `: ${check.detail}` : ''}`;
  return check.ok || !check.fix ? `${head}\n` : `${head}\n      fix: ${check.fix}\n`;
}

/** A URL with its password hidden, for printing. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return url;
  }
}

/**
 * The first error a Redis client reports, as a getter. A connection's own error (ECONNREFUSED,
 * NOAUTH, ...) comes only as an event; connect() then says no more than "Connection is closed".
 */
export function firstErrorOf(redis: Pick<EventEmitter, 'on'>): () => unknown {
  let first: unknown;
  redis.on('error', (error: unknown) => {
    first ??= error;
  });
  return () => first;
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(messageOf).join('; ');
  return error instanceof Error ? error.message || error.name : String(error);
}

/** The configuration check, and the configuration the other checks use (the defaults when invalid). */
export function checkConfig(path: string | undefined): { check: CheckResult; config: HarombeConfig } {
  const name = 'configuration valid';
  if (path === undefined)
    return { check: { name, ok: true, detail: 'no harombe.yaml: the defaults' }, config: parseConfig({}) };
  try {
    return { check: { name, ok: true, detail: path }, config: loadConfig(path) };
  } catch (error) {
    return {
      check: {
        name,
        ok: false,
        detail: messageOf(error),
        fix: `correct ${path} as the message says (the checks below use the defaults)`,
      },
      config: parseConfig({}),
    };
  }
}

/** The Docker checks: engine, runtimes, sandbox images. Later ones fail as unchecked when the engine is unreachable. */
export async function checkDocker(docker: Docker, config: HarombeConfig): Promise<CheckResult[]> {
  const sandbox = config.security.sandbox;
  const runtimes = [...new Set([sandbox.runtime, sandbox.network_runtime])];
  const images = Object.values(sandbox.languages).map((language) => language.image);
  const dependents = (detail: string): CheckResult[] => [
    ...runtimes.map((runtime) => ({ name: `Docker runtime ${runtime} registered`, ok: false, detail, fix: SETUP })),
    ...images.map((image) => ({ name: `sandbox image ${image} present`, ok: false, detail, fix: SETUP })),
  ];
  const results: CheckResult[] = [];
  try {
    await docker.ping();
    results.push({ name: 'Docker engine reachable', ok: true });
  } catch (error) {
    const denied = (error as NodeJS.ErrnoException).code === 'EACCES';
    results.push({
      name: 'Docker engine reachable',
      ok: false,
      detail: messageOf(error),
      fix: denied
        ? 'let your user use Docker (add it to the docker group, then log in again), or run as root'
        : `install and start it with: ${SETUP}`,
    });
    return [...results, ...dependents('not checked: the Docker engine is unreachable')];
  }
  let registered: Record<string, unknown> | undefined;
  try {
    registered = ((await docker.info()) as { Runtimes?: Record<string, unknown> }).Runtimes ?? {};
  } catch (error) {
    results.push(...dependents(`docker info failed: ${messageOf(error)}`).slice(0, runtimes.length));
  }
  if (registered) {
    for (const runtime of runtimes) {
      const ok = runtime in registered;
      results.push({
        name: `Docker runtime ${runtime} registered`,
        ok,
        ...(ok
          ? {}
          : {
              detail: `the engine knows ${Object.keys(registered).join(', ') || 'no runtimes'}`,
              fix: `register gVisor with: ${SETUP}`,
            }),
      });
    }
  }
  for (const image of images) {
    try {
      await docker.getImage(image).inspect();
      results.push({ name: `sandbox image ${image} present`, ok: true });
    } catch (error) {
      const missing = (error as { statusCode?: number }).statusCode === 404;
      results.push({
        name: `sandbox image ${image} present`,
        ok: false,
        detail: missing ? 'not built' : messageOf(error),
        fix: `build it with: ${SETUP}`,
      });
    }
  }
  return results;
}

/** PING with a 2 s connect timeout and no retry. */
export async function checkRedis(url: string, timeoutMs = 2000): Promise<CheckResult> {
  const name = `Redis reachable at ${redactUrl(url)}`;
  const fix =
    'start Redis (`harombe up` runs one for a local fleet), or set redis.url in harombe.yaml or HAROMBE_REDIS_URL to where it runs';
  // Loaded here, not at the CLI's start: only doctor talks to Redis.
  const { Redis } = await import('ioredis');
  let redis: InstanceType<typeof Redis>;
  try {
    redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
      reconnectOnError: () => false,
    });
  } catch (error) {
    return { name, ok: false, detail: messageOf(error), fix };
  }
  const connectionError = firstErrorOf(redis);
  try {
    await redis.connect();
    const answer = await redis.ping();
    return answer === 'PONG'
      ? { name, ok: true }
      : { name, ok: false, detail: `PING answered ${answer as string}`, fix };
  } catch (error) {
    const detail = messageOf(connectionError() ?? error);
    const auth = /NOAUTH|WRONGPASS|invalid password/i.test(detail);
    return { name, ok: false, detail, fix: auth ? 'put the password in the URL: redis://:<password>@host:port' : fix };
  } finally {
    // A connection that failed has ended: disconnect() would only hold the process for its 2 s
    // disconnectTimeout, waiting for a close that came already.
    if (redis.status !== 'end') redis.disconnect();
  }
}

/** GET /readyz at the resolved API URL: reachable, and every dependency of the API ready. */
export async function checkApi(input: ConnectionInput, timeoutMs = 5000): Promise<CheckResult> {
  const url = resolveApiUrl(input);
  const name = `API ready at ${url.value}${url.source === 'default' ? '' : ` (from ${url.source})`}`;
  let client: HarombeClient;
  try {
    // /readyz needs no key; any will do when none is set.
    const key = resolveApiKey('submit', input) ?? resolveApiKey('approve', input);
    client = new HarombeClient({ baseUrl: url.value, apiKey: key?.value ?? 'none', timeoutMs });
  } catch (error) {
    return { name, ok: false, detail: messageOf(error), fix: 'pass an http(s) URL with --api-url or HAROMBE_API_URL' };
  }
  try {
    const health = await client.ready({ signal: AbortSignal.timeout(timeoutMs) });
    if (health.ok) return { name, ok: true };
    const failing = Object.entries(health.checks)
      .filter(
        ([, value]) =>
          value !== true &&
          value !== 'ok' &&
          !(typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === true),
      )
      .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
    return {
      name,
      ok: false,
      detail: `not ready (${health.status}${failing.length ? `; ${failing.join(', ')}` : ''})`,
      fix: "the API runs but a dependency does not answer (see the checks above, and the API's log)",
    };
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
    return {
      name,
      ok: false,
      detail: timedOut ? `no answer within ${timeoutMs} ms` : messageOf(error),
      fix: START_FLEET,
    };
  }
}

/** A Slack secret's variable, as the approval service reads it: set, and of the right kind. */
function checkSlackSecret(
  label: string,
  variable: string,
  env: NodeJS.ProcessEnv,
  kind: { prefix?: string; what: string; where: string },
): { check: CheckResult; value?: string } {
  const name = `Slack ${label} set (${variable})`;
  const value = env[variable]?.trim();
  if (!value)
    return { check: { name, ok: false, detail: 'not set', fix: `export ${variable}=<${kind.what}> (${kind.where})` } };
  if (kind.prefix && !value.startsWith(kind.prefix)) {
    return {
      check: {
        name,
        ok: false,
        detail: `does not hold ${kind.what} (${kind.prefix}…)`,
        fix: `set ${variable} to ${kind.what} (${kind.where})`,
      },
    };
  }
  return { check: { name, ok: true }, value };
}

/** A field of Slack's answer as text: a string as it is, anything else (or nothing) as JSON or `fallback`. */
function said(value: unknown, fallback = '?'): string {
  if (typeof value === 'string') return value;
  return value === undefined || value === null ? fallback : JSON.stringify(value);
}

/** POSTs one Web API method with a token: Slack's answer, or why there is none. */
async function callSlack(
  apiUrl: string,
  method: string,
  token: string,
  timeoutMs: number,
): Promise<{ answer: Record<string, unknown> } | { failure: string }> {
  try {
    const response = await fetch(`${apiUrl}${method}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.status !== 200) return { failure: `HTTP ${response.status} ${response.statusText}`.trim() };
    return { answer: (await response.json()) as Record<string, unknown> };
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
    const cause = (error as { cause?: unknown }).cause;
    return {
      failure: timedOut
        ? `no answer within ${timeoutMs} ms`
        : `${messageOf(error)}${cause ? ` (${messageOf(cause)})` : ''}`,
    };
  }
}

/**
 * With `slack.enabled`: the secrets' variables the transport needs are set, Slack takes the bot
 * token (auth.test) and, for Socket Mode, opens a connection for the app-level token
 * (apps.connections.open: the URL it hands out is left unused). Nothing when Slack is off.
 */
export async function checkSlack(
  config: HarombeConfig,
  env: NodeJS.ProcessEnv,
  timeoutMs = 5000,
): Promise<CheckResult[]> {
  const slack = config.slack;
  if (!slack.enabled) return [];
  const configured = slack.api_url ?? 'https://slack.com/api/';
  const apiUrl = configured.endsWith('/') ? configured : `${configured}/`;
  const unreachable = `check slack.api_url (${apiUrl}) and that this host reaches it (proxy, firewall)`;
  const results: CheckResult[] = [];

  const bot = checkSlackSecret('bot token', slack.bot_token_env, env, {
    prefix: 'xoxb-',
    what: 'the bot token, xoxb-…',
    where: "the app's OAuth & Permissions page",
  });
  results.push(bot.check);
  const authName = `Slack accepts the bot token (auth.test at ${apiUrl})`;
  if (!bot.value) {
    results.push({ name: authName, ok: false, detail: 'not checked: no bot token', fix: bot.check.fix });
  } else {
    const reply = await callSlack(apiUrl, 'auth.test', bot.value, timeoutMs);
    if ('failure' in reply) results.push({ name: authName, ok: false, detail: reply.failure, fix: unreachable });
    else if (reply.answer.ok !== true) {
      results.push({
        name: authName,
        ok: false,
        detail: `Slack answered ${said(reply.answer.error, 'not ok')}`,
        fix: `the token is revoked or mistyped: copy the Bot User OAuth Token into ${slack.bot_token_env} again`,
      });
    } else {
      results.push({
        name: authName,
        ok: true,
        detail: `bot ${said(reply.answer.user)} (${said(reply.answer.user_id)}) in ${said(reply.answer.team ?? reply.answer.team_id)}`,
      });
    }
  }

  if (slack.transport === 'http') {
    results.push(
      checkSlackSecret('signing secret', slack.signing_secret_env, env, {
        what: 'the signing secret',
        where: "the app's Basic Information page",
      }).check,
    );
    return results;
  }
  const app = checkSlackSecret('app-level token', slack.app_token_env, env, {
    prefix: 'xapp-',
    what: 'an app-level token, xapp-…, with connections:write',
    where: "the app's Basic Information page, App-Level Tokens",
  });
  results.push(app.check);
  const socketName = `Slack opens a Socket Mode connection (apps.connections.open at ${apiUrl})`;
  if (!app.value) {
    results.push({
      name: socketName,
      ok: false,
      detail: 'not checked: no app-level token',
      fix: app.check.fix,
    });
    return results;
  }
  const reply = await callSlack(apiUrl, 'apps.connections.open', app.value, timeoutMs);
  if ('failure' in reply) results.push({ name: socketName, ok: false, detail: reply.failure, fix: unreachable });
  else if (reply.answer.ok !== true || typeof reply.answer.url !== 'string') {
    results.push({
      name: socketName,
      ok: false,
      detail: `Slack answered ${said(reply.answer.error, 'no URL')}`,
      fix: `turn Socket Mode on for the app, and put an app-level token with connections:write in ${slack.app_token_env}`,
    });
  } else {
    results.push({ name: socketName, ok: true });
  }
  return results;
}

export interface DoctorOptions {
  configPath?: string | undefined;
  env?: NodeJS.ProcessEnv;
  connection?: ConnectionInput;
  docker?: Docker;
  /** Called with each check as it finishes. */
  onCheck?: (check: CheckResult) => void;
}

/** Every check, in order; the fleet can run when all are ok. */
export async function runDoctor(options: DoctorOptions = {}): Promise<CheckResult[]> {
  const env = options.env ?? process.env;
  const results: CheckResult[] = [];
  const report = (...checks: CheckResult[]): void => {
    for (const check of checks) {
      results.push(check);
      options.onCheck?.(check);
    }
  };
  const { check, config } = checkConfig(configPathOf(options.configPath, env));
  report(check);
  const docker = options.docker ?? new (await import('dockerode')).default({ timeout: 5000 });
  report(...(await checkDocker(docker, config)));
  report(await checkRedis(env.HAROMBE_REDIS_URL || config.redis.url));
  report(await checkApi({ env, ...options.connection }));
  report(...(await checkSlack(config, env)));
  return results;
}

/** `harombe doctor` once its arguments are parsed (doctor-command.ts defines them). */
export async function runDoctorCommand(_options: unknown, command: Command): Promise<void> {
  const results = await runDoctor({
    configPath: command.optsWithGlobals<{ config?: string }>().config,
    connection: { flags: connectionFlags(command) },
    onCheck: (check) => process.stdout.write(formatCheck(check)),
  });
  const failed = results.filter((result) => !result.ok).length;
  if (failed > 0) process.stderr.write(`${failed} check${failed === 1 ? '' : 's'} failed\n`);
  process.exitCode = failed > 0 ? EXIT.failed : EXIT.ok;
}
