import { join } from 'node:path';
import { HarombeClient, type HarombeClientOptions } from '@harombe/client';
import type { Command } from 'commander';
import { CliError } from './cli-error.js';
import { harombeHome, readLocalCredentials, type LocalCredentials } from './local-credentials.js';

/** Where the API listens when nothing says otherwise: the address `harombe up` uses. */
export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

/**
 * Which key a command needs. `submit`: jobs, batches, results (HAROMBE_API_KEY, `keys.submit`);
 * `approve`: deciding approvals (HAROMBE_APPROVER_KEY, `keys.approve`). `harombe up` makes one
 * of each, because nobody may approve their own jobs.
 */
export type KeyRole = 'submit' | 'approve';

/** The global options `--api-url` and `--api-key`. */
export interface ConnectionFlags {
  apiUrl?: string | undefined;
  apiKey?: string | undefined;
}

/** The connection flags of a command's invocation (they are global options of `harombe`). */
export function connectionFlags(command: Command): ConnectionFlags {
  const options = command.optsWithGlobals<{ apiUrl?: string; apiKey?: string }>();
  return { apiUrl: options.apiUrl, apiKey: options.apiKey };
}

export interface ConnectionInput {
  flags?: ConnectionFlags;
  /** Default: process.env. HAROMBE_HOME in it locates the local credentials. */
  env?: NodeJS.ProcessEnv;
  /**
   * The local credentials `harombe up` wrote; default: read from $HAROMBE_HOME/local.json when
   * needed (never when flags and environment already decide).
   */
  credentials?: LocalCredentials | undefined;
}

/** A setting and where it came from, so messages can name the flag, variable or file to fix. */
export interface Resolved {
  value: string;
  /** `--api-url`, `HAROMBE_API_KEY`, `<home>/local.json`, or `default`. */
  source: string;
}

export const ENV_API_URL = 'HAROMBE_API_URL';
export const ENV_API_KEY = 'HAROMBE_API_KEY';
export const ENV_APPROVER_KEY = 'HAROMBE_APPROVER_KEY';

const KEY_ENV: Record<KeyRole, string> = { submit: ENV_API_KEY, approve: ENV_APPROVER_KEY };

/** An empty or blank value counts as unset. */
function given(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function credentialsOf(input: ConnectionInput): { credentials: Partial<LocalCredentials> | undefined; source: string } {
  const env = input.env ?? process.env;
  const source = join(harombeHome(env), 'local.json');
  if ('credentials' in input) return { credentials: input.credentials, source };
  const read = readLocalCredentials(env);
  // The file is ours, but may be from another version or hand-edited: trust only what has the right type.
  return { credentials: typeof read === 'object' && read !== null ? read : undefined, source };
}

/** The API URL: `--api-url` > $HAROMBE_API_URL > local credentials' `api_url` > http://127.0.0.1:8080. */
export function resolveApiUrl(input: ConnectionInput = {}): Resolved {
  const env = input.env ?? process.env;
  const flag = given(input.flags?.apiUrl);
  if (flag) return { value: flag, source: '--api-url' };
  const fromEnv = given(env[ENV_API_URL]);
  if (fromEnv) return { value: fromEnv, source: ENV_API_URL };
  const { credentials, source } = credentialsOf(input);
  const fromFile = typeof credentials?.api_url === 'string' ? given(credentials.api_url) : undefined;
  if (fromFile) return { value: fromFile, source };
  return { value: DEFAULT_API_URL, source: 'default' };
}

/**
 * The API key for a role: `--api-key` > $HAROMBE_API_KEY > local credentials' `keys.submit`
 * (submit), or `--api-key` > $HAROMBE_APPROVER_KEY > `keys.approve` (approve). Undefined when
 * none is set.
 */
export function resolveApiKey(role: KeyRole, input: ConnectionInput = {}): Resolved | undefined {
  const env = input.env ?? process.env;
  const flag = given(input.flags?.apiKey);
  if (flag) return { value: flag, source: '--api-key' };
  const fromEnv = given(env[KEY_ENV[role]]);
  if (fromEnv) return { value: fromEnv, source: KEY_ENV[role] };
  const { credentials, source } = credentialsOf(input);
  const keys: unknown = credentials?.keys;
  const fromFile = typeof keys === 'object' && keys !== null ? (keys as Record<string, unknown>)[role] : undefined;
  if (typeof fromFile === 'string' && given(fromFile))
    return { value: fromFile.trim(), source: `${source} (keys.${role})` };
  return undefined;
}

/** The error for a missing key, saying where keys come from. */
export function missingKeyError(role: KeyRole, env: NodeJS.ProcessEnv = process.env): CliError {
  const file = join(harombeHome(env), 'local.json');
  const what =
    role === 'submit'
      ? 'to submit jobs with'
      : 'to decide approvals with (an approver key: nobody approves their own jobs)';
  return new CliError(
    'Unauthorized',
    `no API key ${what}. Pass --api-key <key> or set ${KEY_ENV[role]}. ` +
      `For a local fleet, \`harombe up\` makes the keys and writes them to ${file}. ` +
      `For a deployment, ask its operator, or make one with \`harombe keys create --name <name> --tenant <tenant> --scopes ${role}\` ` +
      'and add the printed entry to api.keys in harombe.yaml.',
  );
}

export interface ResolvedClientOptions extends HarombeClientOptions {
  sources: { baseUrl: string; apiKey: string };
}

/**
 * Everything a HarombeClient needs for a role, checked: a missing key or a URL that is not
 * http(s) is a CliError naming what to fix. `extra` adds client options (timeoutMs, fetch, ...).
 */
export function resolveClientOptions(
  role: KeyRole,
  input: ConnectionInput = {},
  extra: Partial<Omit<HarombeClientOptions, 'baseUrl' | 'apiKey'>> = {},
): ResolvedClientOptions {
  const url = resolveApiUrl(input);
  checkApiUrl(url);
  const key = resolveApiKey(role, input);
  if (!key) throw missingKeyError(role, input.env ?? process.env);
  return { ...extra, baseUrl: url.value, apiKey: key.value, sources: { baseUrl: url.source, apiKey: key.source } };
}

/** A client for a role, from flags, environment and local credentials. */
export function createClient(
  role: KeyRole,
  input: ConnectionInput = {},
  extra: Partial<Omit<HarombeClientOptions, 'baseUrl' | 'apiKey'>> = {},
): HarombeClient {
  const { baseUrl, apiKey } = resolveClientOptions(role, input, extra);
  return new HarombeClient({ ...extra, baseUrl, apiKey });
}

/** Refuses an API URL that is not an absolute http(s) URL, naming where it came from. */
export function checkApiUrl(url: Resolved): void {
  let protocol: string;
  try {
    protocol = new URL(url.value).protocol;
  } catch {
    throw new CliError(
      'InvalidArgument',
      `the API URL "${url.value}" (from ${url.source}) is not a URL; expected e.g. ${DEFAULT_API_URL}`,
    );
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new CliError(
      'InvalidArgument',
      `the API URL "${url.value}" (from ${url.source}) is not http(s); expected e.g. ${DEFAULT_API_URL}`,
    );
  }
}
