import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CodeExecuteParams,
  DEFAULT_LIMITS,
  keyQuotasFor,
  loadConfig,
  mcpApiUrl,
  parseConfig,
  quotasFor,
  redactSecrets,
  redactText,
  resolveSlackSecrets,
  SandboxId,
  TOOLS,
} from '../src/index.js';

function yamlFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'harombe-config-')), 'harombe.yaml');
  writeFileSync(file, text);
  return file;
}

describe('configuration', () => {
  it('defaults to the reference design', () => {
    const { sandbox } = parseConfig({}).security;
    expect(sandbox.limits).toEqual({
      max_memory_mb: 512,
      max_cpu_cores: 0.5,
      max_disk_mb: 1024,
      max_execution_time: 30,
      max_output_bytes: 1_048_576,
    });
    expect(sandbox.runtime).toBe('runsc');
    expect(sandbox.network.enabled_by_default).toBe(false);
    expect(sandbox.idle_timeout).toBe(900);
    expect(sandbox.kill_grace_period).toBe(2);
    expect(sandbox.languages.python.image).toBe('harombe/sandbox-python');
  });

  it('cuts sandbox networks from a pool and allows no private range unless listed', () => {
    const { network } = parseConfig({}).security.sandbox;
    expect(network.subnet_pool).toBe('10.213.0.0/16');
    expect(network.allowed_private_ranges).toEqual([]);
    expect(network.denied_ranges).toEqual([]);
    expect(
      parseConfig({ security: { sandbox: { network: { denied_ranges: ['203.0.113.7/32', '2001:db8::/32'] } } } })
        .security.sandbox.network.denied_ranges,
    ).toHaveLength(2);
    expect(() => parseConfig({ security: { sandbox: { network: { denied_ranges: ['203.0.113.7'] } } } })).toThrow(
      /denied_ranges/,
    );
    const custom = parseConfig({
      security: {
        sandbox: { network: { subnet_pool: '172.30.0.0/20', allowed_private_ranges: ['10.20.0.0/16', 'fd00::/8'] } },
      },
    });
    expect(custom.security.sandbox.network.allowed_private_ranges).toEqual(['10.20.0.0/16', 'fd00::/8']);
    for (const pool of ['10.0.0.0/30', '10.0.0.0/8', 'nonsense', '10.0.0.0', '300.0.0.0/16', '10.0.0.0/16/2']) {
      expect(() => parseConfig({ security: { sandbox: { network: { subnet_pool: pool } } } }), pool).toThrow(
        /security\.sandbox\.network\.subnet_pool/,
      );
    }
    for (const range of [
      '10.0.0.0/33',
      'example.com/8',
      '10.0.0.0',
      'fd00::/129',
      '10.0.0.0/8/1',
      '::/0',
      '::ffff:0:0/96',
      'fd00::/6',
    ]) {
      expect(
        () => parseConfig({ security: { sandbox: { network: { allowed_private_ranges: [range] } } } }),
        range,
      ).toThrow(/allowed_private_ranges/);
    }
  });

  it('reads harombe.yaml and merges partial limits over the defaults', () => {
    const config = loadConfig(
      yamlFile('security:\n  sandbox:\n    limits:\n      max_memory_mb: 1024\n    warm_pool:\n      python: 3\n'),
    );
    expect(config.security.sandbox.limits).toEqual({ ...DEFAULT_LIMITS, max_memory_mb: 1024 });
    expect(config.security.sandbox.warm_pool.python).toBe(3);
  });

  it('limits bodies to 2 MiB and submissions per tenant by default; tenants and keys override', () => {
    const config = parseConfig({
      quotas: {
        tenants: { acme: { submissions_per_second: 5 } },
        keys: { 'ci-bot': { max_waiting_jobs: 10 } },
      },
    });
    expect(config.api.max_body_bytes).toBe(2 * 1_048_576);
    expect(config.security.sandbox.max_files).toBe(32_768);
    expect(quotasFor(config.quotas, 'globex')).toEqual({
      submissions_per_second: 100,
      submission_burst: 10_000,
      max_waiting_jobs: 20_000,
      max_stored_bytes: 256 * 1_048_576,
      max_sandboxes_per_tenant: 20,
    });
    expect(quotasFor(config.quotas, 'acme').submissions_per_second).toBe(5);
    // An override sets what it names, and nothing else: the fleet's own limits hold for the rest.
    const strict = parseConfig({ quotas: { max_sandboxes_per_tenant: 1, tenants: { acme: { max_waiting_jobs: 5 } } } });
    expect(quotasFor(strict.quotas, 'acme')).toMatchObject({ max_sandboxes_per_tenant: 1, max_waiting_jobs: 5 });
    expect(keyQuotasFor(config.quotas, 'ci-bot')).toEqual({ max_waiting_jobs: 10 });
    expect(keyQuotasFor(config.quotas, 'other-key')).toBeUndefined();
    expect(() => parseConfig({ quotas: { keys: { k: { max_sandboxes_per_tenant: 1 } } } })).toThrow(/quotas\.keys\.k/);
  });

  it('names the offending key', () => {
    expect(() => loadConfig(yamlFile('security:\n  sandbox:\n    limits:\n      max_memory_mb: lots\n'))).toThrow(
      /security\.sandbox\.limits\.max_memory_mb/,
    );
    expect(() => parseConfig({ security: { sandbox: { runtime_typo: 'x' } } })).toThrow(/security\.sandbox/);
    expect(() => loadConfig(yamlFile('security: [unclosed'))).toThrow(/not valid YAML/);
    expect(() => loadConfig('/nonexistent/harombe.yaml')).toThrow(/cannot read configuration file/);
  });
});

describe('mcp configuration', () => {
  it('listens on loopback by default and calls the API of the same configuration', () => {
    const config = parseConfig({});
    expect(config.mcp).toEqual({
      host: '127.0.0.1',
      port: 8090,
      path: '/mcp',
      session_idle_seconds: 1800,
      max_sessions: 1000,
    });
    expect(mcpApiUrl(config)).toBe('http://127.0.0.1:8080');
    expect(mcpApiUrl(parseConfig({ api: { host: '0.0.0.0', port: 9000 } }))).toBe('http://127.0.0.1:9000');
    expect(mcpApiUrl(parseConfig({ api: { host: '::1' } }))).toBe('http://[::1]:8080');
    expect(mcpApiUrl(parseConfig({ mcp: { api_url: 'http://api:8080' } }))).toBe('http://api:8080');
  });

  it('names the offending key', () => {
    expect(() => parseConfig({ mcp: { api_url: 'ftp://api' } })).toThrow(/mcp\.api_url: an http\(s\) URL/);
    expect(() => parseConfig({ mcp: { path: 'mcp' } })).toThrow(/mcp\.path: a URL path/);
    expect(() => parseConfig({ mcp: { max_sessions: 0 } })).toThrow(/mcp\.max_sessions/);
  });
});

describe('tool contracts', () => {
  it('has the six tools of the reference design, and code_create_sandbox', () => {
    expect(Object.keys(TOOLS).sort()).toEqual(
      [
        'code_create_sandbox',
        'code_destroy_sandbox',
        'code_execute',
        'code_install_package',
        'code_list_files',
        'code_read_file',
        'code_write_file',
      ].sort(),
    );
  });

  it('applies the reference defaults and refuses unknown fields and languages', () => {
    expect(CodeExecuteParams.parse({ language: 'python', code: 'x' })).toEqual({
      language: 'python',
      code: 'x',
      keep_sandbox: false,
      keep_background: false,
      network_enabled: false,
      allowed_domains: [],
    });
    expect(CodeExecuteParams.safeParse({ language: 'ruby', code: 'x' }).success).toBe(false);
    expect(CodeExecuteParams.safeParse({ language: 'python', code: 'x', extra: 1 }).success).toBe(false);
    expect(
      CodeExecuteParams.safeParse({ language: 'python', code: 'x', allowed_domains: ['not a domain'] }).success,
    ).toBe(false);
    expect(SandboxId.safeParse('sandbox-0123456789abcdef').success).toBe(true);
    expect(SandboxId.safeParse('../../etc').success).toBe(false);
  });
});

describe('slack configuration', () => {
  const enabled = { enabled: true, channel: 'C0123ABCD', approvers: { users: ['U0123ABCD'] } };

  it('is off by default, and needs a channel and approvers when on', () => {
    expect(parseConfig({}).slack).toMatchObject({
      enabled: false,
      transport: 'http',
      reminder: true,
      bot_token_env: 'HAROMBE_SLACK_BOT_TOKEN',
    });
    expect(() => parseConfig({ slack: { enabled: true } })).toThrow(
      /slack\.channel: required when slack is enabled.*slack\.approvers: required/,
    );
    expect(parseConfig({ slack: { ...enabled, approvers: { usergroup: 'S0123ABCD' } } }).slack.approvers).toEqual({
      users: [],
      usergroup: 'S0123ABCD',
    });
  });

  it('names the offending key', () => {
    expect(() => parseConfig({ slack: { ...enabled, transport: 'smoke-signals' } })).toThrow(/slack\.transport/);
    expect(() => parseConfig({ slack: { ...enabled, channel: '#approvals' } })).toThrow(
      /slack\.channel: a Slack channel id/,
    );
    expect(() => parseConfig({ slack: { ...enabled, approvers: { users: ['bob'] } } })).toThrow(
      /slack\.approvers\.users\.0: a Slack user id/,
    );
    expect(() => parseConfig({ slack: { ...enabled, api_url: 'ftp://slack' } })).toThrow(/slack\.api_url/);
    expect(() => parseConfig({ slack: { ...enabled, bot_token_env: 'not a name' } })).toThrow(
      /slack\.bot_token_env: the name of an environment variable/,
    );
  });

  it('refuses secrets written in the file, saying where they belong', () => {
    expect(() => parseConfig({ slack: { ...enabled, bot_token: 'xoxb-1', signing_secret: 's' } })).toThrow(
      /slack: secrets do not belong in the file: remove bot_token, signing_secret and name the environment variable holding each in bot_token_env, signing_secret_env/,
    );
  });

  it('reads the secrets each transport needs from the environment, naming the key of a missing one', () => {
    const http = parseConfig({ slack: enabled }).slack;
    expect(
      resolveSlackSecrets(http, { HAROMBE_SLACK_BOT_TOKEN: 'xoxb-1', HAROMBE_SLACK_SIGNING_SECRET: 's3cret' }),
    ).toEqual({ botToken: 'xoxb-1', signingSecret: 's3cret' });
    expect(() => resolveSlackSecrets(http, { HAROMBE_SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(
      /slack\.signing_secret_env: the environment variable HAROMBE_SLACK_SIGNING_SECRET is not set/,
    );
    expect(() =>
      resolveSlackSecrets(http, { HAROMBE_SLACK_BOT_TOKEN: 'xapp-1', HAROMBE_SLACK_SIGNING_SECRET: 's' }),
    ).toThrow(/slack\.bot_token_env: .* does not hold a bot token/);

    const socket = parseConfig({ slack: { ...enabled, transport: 'socket', app_token_env: 'MY_APP_TOKEN' } }).slack;
    expect(() => resolveSlackSecrets(socket, { HAROMBE_SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(
      /slack\.app_token_env: the environment variable MY_APP_TOKEN is not set/,
    );
    expect(resolveSlackSecrets(socket, { HAROMBE_SLACK_BOT_TOKEN: 'xoxb-1', MY_APP_TOKEN: 'xapp-1' })).toEqual({
      botToken: 'xoxb-1',
      appToken: 'xapp-1',
    });
  });
});

describe('redaction', () => {
  it('redacts secret keys and secret-shaped text, and leaves the rest', () => {
    const value = {
      reason: 'uses xoxb-1234567890-abcdef and Bearer hk_abcdefghijklmnopqrstuvwxyz0123456789',
      nested: { api_key: 'k', signing_secret: 's', token: 't', keep: 'redis://user:pw@host:6379/0' },
      payload_sha256: 'a'.repeat(64),
      list: ['xapp-1-A111-222-abc'],
    };
    expect(redactSecrets(value)).toEqual({
      reason: 'uses [REDACTED] and Bearer [REDACTED]',
      nested: {
        api_key: '[REDACTED]',
        signing_secret: '[REDACTED]',
        token: '[REDACTED]',
        keep: 'redis://[REDACTED]@host:6379/0',
      },
      payload_sha256: 'a'.repeat(64),
      list: ['[REDACTED]'],
    });
    expect(redactText('job-0123456789abcdef01234567 by slack:U0123')).toBe(
      'job-0123456789abcdef01234567 by slack:U0123',
    );
  });
});
