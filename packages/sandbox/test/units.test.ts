import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '@harombe/core';
import { buildContainerSpec, CappedOutput, normalizeWorkspacePath, RUNTIME_MEMORY_OVERHEAD_MB, TRUNCATION_MARKER } from '../src/index.js';

describe('normalizeWorkspacePath', () => {
  it.each([
    ['a.txt', 'a.txt'],
    ['a..txt', 'a..txt'],
    ['./data//x.csv', 'data/x.csv'],
    ['data/../x', 'x'],
    ['dir/', 'dir'],
    ['.', '.'],
  ])('accepts %j as %j', (input, expected) => {
    expect(normalizeWorkspacePath(input)).toBe(expected);
  });

  it.each(['', '/etc/passwd', '..', '../x', 'a/../../x', 'a\0b', 'a\nb', 'x'.repeat(4097)])('refuses %j', (input) => {
    expect(() => normalizeWorkspacePath(input)).toThrow(expect.objectContaining({ code: 'InvalidPath' }));
  });
});

describe('CappedOutput', () => {
  it('keeps the first bytes, counts the rest and marks the truncation', async () => {
    const out = new CappedOutput(5);
    for (const part of ['abc', 'defg', 'hij']) await new Promise<void>((resolve) => out.write(Buffer.from(part), () => resolve()));
    expect(out.received).toBe(10);
    expect(out.truncated).toBe(true);
    expect(out.text()).toBe('abcde' + TRUNCATION_MARKER);
  });

  it('is not truncated at exactly the limit, and decodes bad UTF-8 without throwing', async () => {
    const out = new CappedOutput(3);
    await new Promise<void>((resolve) => out.write(Buffer.from([0x61, 0xff, 0x62]), () => resolve()));
    expect(out.truncated).toBe(false);
    expect(out.text()).toBe('a\uFFFDb');
  });
});

describe('buildContainerSpec', () => {
  const spec = buildContainerSpec({
    sandboxId: 'sandbox-0123456789abcdef',
    managerId: 'm',
    language: 'python',
    image: 'harombe/sandbox-python',
    runtime: 'runsc',
    owner: 'tenant',
    limits: DEFAULT_LIMITS,
    maxProcesses: 128,
    createdAt: '2030-01-01T00:00:00.000Z',
    pooled: false,
  });

  it('hardens the container', () => {
    expect(spec.HostConfig).toMatchObject({
      Runtime: 'runsc',
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Privileged: false,
      Binds: [],
      Mounts: [],
      NanoCpus: 500_000_000,
    });
    expect(spec.NetworkDisabled).toBe(true);
    expect(spec.User).toBe('1000:1000');
    expect(spec.HostConfig?.Tmpfs?.['/workspace']).toMatch(/size=1024m/);
    expect(spec.HostConfig?.Ulimits).toContainEqual({ Name: 'nproc', Soft: 128, Hard: 128 });
  });

  it('sizes memory for the program, the workspace and the runtime', () => {
    expect(spec.HostConfig?.Memory).toBe((512 + 1024 + RUNTIME_MEMORY_OVERHEAD_MB) * 1024 * 1024);
    expect(spec.HostConfig?.MemorySwap).toBe(spec.HostConfig?.Memory);
  });
});
