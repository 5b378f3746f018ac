import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_API_URL,
  missingKeyError,
  resolveApiKey,
  resolveApiUrl,
  resolveClientOptions,
} from '../src/api-client-options.js';
import { CliError } from '../src/cli-error.js';
import { harombe, tempDir } from './harombe-cli.js';

/** A HAROMBE_HOME holding local.json as `harombe up` writes it. */
function homeWith(credentials: unknown): string {
  const home = join(tempDir(), '.harombe');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'local.json'), typeof credentials === 'string' ? credentials : JSON.stringify(credentials));
  return home;
}

const LOCAL = { api_url: 'http://127.0.0.1:9999', keys: { submit: 'hk_local_submit', approve: 'hk_local_approve' } };

describe('API URL resolution', () => {
  it('takes --api-url over the environment, the local credentials and the default', () => {
    const env = { HAROMBE_HOME: homeWith(LOCAL), HAROMBE_API_URL: 'http://env:1' };
    expect(resolveApiUrl({ flags: { apiUrl: 'http://flag:1' }, env })).toEqual({
      value: 'http://flag:1',
      source: '--api-url',
    });
    expect(resolveApiUrl({ env })).toEqual({ value: 'http://env:1', source: 'HAROMBE_API_URL' });
    expect(resolveApiUrl({ env: { HAROMBE_HOME: env.HAROMBE_HOME } })).toEqual({
      value: 'http://127.0.0.1:9999',
      source: join(env.HAROMBE_HOME, 'local.json'),
    });
    expect(resolveApiUrl({ env: { HAROMBE_HOME: join(tempDir(), 'none') } })).toEqual({
      value: DEFAULT_API_URL,
      source: 'default',
    });
    expect(DEFAULT_API_URL).toBe('http://127.0.0.1:8080');
  });

  it('treats empty values as unset and survives a corrupt credentials file', () => {
    const env = { HAROMBE_HOME: homeWith('{not json'), HAROMBE_API_URL: '  ' };
    expect(resolveApiUrl({ flags: { apiUrl: '' }, env }).value).toBe(DEFAULT_API_URL);
    expect(resolveApiKey('submit', { env })).toBeUndefined();
    const odd = { HAROMBE_HOME: homeWith({ api_url: 42, keys: 'x' }) };
    expect(resolveApiUrl({ env: odd }).value).toBe(DEFAULT_API_URL);
    expect(resolveApiKey('approve', { env: odd })).toBeUndefined();
  });
});

describe('API key resolution', () => {
  it('submit: --api-key > HAROMBE_API_KEY > keys.submit', () => {
    const home = homeWith(LOCAL);
    const env = { HAROMBE_HOME: home, HAROMBE_API_KEY: 'hk_env', HAROMBE_APPROVER_KEY: 'hk_env_approver' };
    expect(resolveApiKey('submit', { flags: { apiKey: 'hk_flag' }, env })?.value).toBe('hk_flag');
    expect(resolveApiKey('submit', { env })).toEqual({ value: 'hk_env', source: 'HAROMBE_API_KEY' });
    expect(resolveApiKey('submit', { env: { HAROMBE_HOME: home } })?.value).toBe('hk_local_submit');
  });

  it('approve: --api-key > HAROMBE_APPROVER_KEY > keys.approve, never HAROMBE_API_KEY', () => {
    const home = homeWith(LOCAL);
    expect(
      resolveApiKey('approve', { flags: { apiKey: 'hk_flag' }, env: { HAROMBE_HOME: home, HAROMBE_APPROVER_KEY: 'a' } })
        ?.value,
    ).toBe('hk_flag');
    expect(
      resolveApiKey('approve', {
        env: { HAROMBE_HOME: home, HAROMBE_APPROVER_KEY: 'hk_env_approver', HAROMBE_API_KEY: 'hk_env' },
      })?.value,
    ).toBe('hk_env_approver');
    expect(resolveApiKey('approve', { env: { HAROMBE_HOME: home, HAROMBE_API_KEY: 'hk_env' } })?.value).toBe(
      'hk_local_approve',
    );
    expect(
      resolveApiKey('approve', { env: { HAROMBE_HOME: join(tempDir(), 'none'), HAROMBE_API_KEY: 'hk_env' } }),
    ).toBeUndefined();
  });

  it('accepts credentials passed in instead of read from HAROMBE_HOME', () => {
    const env = { HAROMBE_HOME: join(tempDir(), 'none') };
    expect(resolveApiKey('submit', { env, credentials: LOCAL })?.value).toBe('hk_local_submit');
    expect(resolveApiUrl({ env, credentials: undefined }).value).toBe(DEFAULT_API_URL);
  });

  it('a missing key says how to get one', () => {
    const env = { HAROMBE_HOME: '/somewhere/.harombe' };
    const error = missingKeyError('submit', env);
    expect(error).toBeInstanceOf(CliError);
    expect(error.message).toMatch(/--api-key/);
    expect(error.message).toMatch(/HAROMBE_API_KEY/);
    expect(error.message).toMatch(/harombe up/);
    expect(error.message).toMatch(/\/somewhere\/\.harombe\/local\.json/);
    expect(error.message).toMatch(/harombe keys create .*--scopes submit/);
    expect(missingKeyError('approve', env).message).toMatch(
      /HAROMBE_APPROVER_KEY.*harombe keys create .*--scopes approve/s,
    );
  });
});

describe('client options', () => {
  it('combines URL and key and names their sources', () => {
    const options = resolveClientOptions(
      'submit',
      { env: { HAROMBE_HOME: homeWith(LOCAL), HAROMBE_API_KEY: 'hk_env' } },
      { timeoutMs: 5000 },
    );
    expect(options).toMatchObject({
      baseUrl: 'http://127.0.0.1:9999',
      apiKey: 'hk_env',
      timeoutMs: 5000,
      sources: { apiKey: 'HAROMBE_API_KEY' },
    });
  });

  it('refuses a URL that is not http(s), naming where it came from', () => {
    const env = { HAROMBE_HOME: homeWith(LOCAL), HAROMBE_API_URL: 'ftp://x', HAROMBE_API_KEY: 'k' };
    expect(() => resolveClientOptions('submit', { env })).toThrow(/ftp:\/\/x.*HAROMBE_API_URL.*not http/);
    expect(() => resolveClientOptions('submit', { flags: { apiUrl: 'not a url' }, env })).toThrow(
      /--api-url.*not a URL/,
    );
  });

  it('the built CLI reads HAROMBE_HOME/local.json: its key and URL are used, so the error is the unreachable API', () => {
    const cwd = tempDir();
    const home = join(cwd, '.harombe');
    mkdirSync(home);
    writeFileSync(
      join(home, 'local.json'),
      JSON.stringify({ api_url: 'http://127.0.0.1:1', keys: { submit: 's', approve: 'a' } }),
    );
    const run = harombe(['jobs', 'get', 'job-000000000000000000000001'], { cwd });
    expect(run.stderr).toMatch(/^harombe: ServiceUnavailable: .*cannot reach http:\/\/127\.0\.0\.1:1/);
    expect(run.status).toBe(2);
  });
});
