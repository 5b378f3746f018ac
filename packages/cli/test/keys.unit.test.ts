import { createHash } from 'node:crypto';
import { ApiKeyConfig, parseConfig } from '@harombe/core';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createApiKey, generateApiKey, keySha256 } from '../src/commands/keys.js';
import { harombe } from './harombe-cli.js';

describe('harombe keys hash', () => {
  it('prints the SHA-256 of the key', () => {
    // sha256("abc"), FIPS 180-2 test vector.
    const run = harombe(['keys', 'hash', 'abc']);
    expect(run.stdout).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n');
    expect(run.status).toBe(0);
    expect(keySha256('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('reads the key from stdin with "-", without its trailing newline', () => {
    const run = harombe(['keys', 'hash', '-'], { input: 'abc\n' });
    expect(run.stdout).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n');
  });
});

describe('harombe keys create', () => {
  it('prints a new key once, then the api.keys entry holding its hash', () => {
    const run = harombe(['keys', 'create', '--name', 'ci', '--tenant', 'acme', '--scopes', 'submit,approve']);
    expect(run.status).toBe(0);
    const [key, ...rest] = run.stdout.split('\n');
    expect(key).toMatch(/^hk_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from((key as string).slice(3), 'base64url')).toHaveLength(32);
    const snippet = parseYaml(rest.join('\n')) as { api: { keys: unknown[] } };
    const config = parseConfig(snippet);
    expect(config.api.keys).toEqual([
      {
        name: 'ci',
        tenant: 'acme',
        scopes: ['submit', 'approve'],
        key_sha256: createHash('sha256')
          .update(key as string)
          .digest('hex'),
      },
    ]);
    expect(run.stderr).toMatch(/shown only this once/);
  });

  it('--json prints the key and the entry', () => {
    const run = harombe([
      'keys',
      'create',
      '--name',
      'bob',
      '--tenant',
      'acme',
      '--scopes',
      'approve',
      '--slack-user-id',
      'U1',
      '--json',
    ]);
    const { key, entry } = JSON.parse(run.stdout) as { key: string; entry: unknown };
    expect(ApiKeyConfig.parse(entry)).toEqual({
      name: 'bob',
      tenant: 'acme',
      scopes: ['approve'],
      key_sha256: keySha256(key),
      slack_user_id: 'U1',
    });
  });

  it('refuses a bad tenant or scope, naming the field, and prints no key', () => {
    const run = harombe(['keys', 'create', '--name', 'ci', '--tenant', 'a b', '--scopes', 'submit,root']);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^harombe: InvalidArgument: tenant: .*scopes\.1: /);
    expect(harombe(['keys', 'create', '--name', 'ci', '--tenant', 't']).stderr).toMatch(/--scopes/);
  });

  it('makes a different key every time', () => {
    expect(generateApiKey()).not.toBe(generateApiKey());
    const made = createApiKey({ name: 'n', tenant: 't', scopes: ['submit', 'submit'] }, 'hk_fixed');
    expect(made).toEqual({
      key: 'hk_fixed',
      entry: { name: 'n', tenant: 't', scopes: ['submit'], key_sha256: keySha256('hk_fixed') },
    });
  });
});
