import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CodeExecuteParams, DEFAULT_LIMITS, loadConfig, parseConfig, SandboxId, TOOLS } from '../src/index.js';

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

  it('reads harombe.yaml and merges partial limits over the defaults', () => {
    const config = loadConfig(yamlFile('security:\n  sandbox:\n    limits:\n      max_memory_mb: 1024\n    warm_pool:\n      python: 3\n'));
    expect(config.security.sandbox.limits).toEqual({ ...DEFAULT_LIMITS, max_memory_mb: 1024 });
    expect(config.security.sandbox.warm_pool.python).toBe(3);
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

describe('tool contracts', () => {
  it('has the six tools', () => {
    expect(Object.keys(TOOLS).sort()).toEqual(
      ['code_destroy_sandbox', 'code_execute', 'code_install_package', 'code_list_files', 'code_read_file', 'code_write_file'].sort(),
    );
  });

  it('applies the reference defaults and refuses unknown fields and languages', () => {
    expect(CodeExecuteParams.parse({ language: 'python', code: 'x' })).toEqual({ language: 'python', code: 'x', network_enabled: false, allowed_domains: [] });
    expect(CodeExecuteParams.safeParse({ language: 'ruby', code: 'x' }).success).toBe(false);
    expect(CodeExecuteParams.safeParse({ language: 'python', code: 'x', extra: 1 }).success).toBe(false);
    expect(CodeExecuteParams.safeParse({ language: 'python', code: 'x', allowed_domains: ['not a domain'] }).success).toBe(false);
    expect(SandboxId.safeParse('sandbox-0123456789abcdef').success).toBe(true);
    expect(SandboxId.safeParse('../../etc').success).toBe(false);
  });
});
