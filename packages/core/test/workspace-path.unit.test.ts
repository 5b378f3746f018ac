import { describe, expect, it } from 'vitest';
import { MAX_WORKSPACE_PATH_BYTES, normalizeWorkspacePath } from '../src/index.js';

function refusal(input: string): { code: string; message: string } {
  try {
    normalizeWorkspacePath(input);
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error(`${JSON.stringify(input.slice(0, 50))} was accepted`);
}

describe('normalizeWorkspacePath', () => {
  it.each([
    ['a.txt', 'a.txt'],
    ['a..txt', 'a..txt'],
    ['./data//x.csv', 'data/x.csv'],
    ['data/../x', 'x'],
    ['dir/', 'dir'],
    ['evil.py/', 'evil.py'],
    ['.', '.'],
  ])('accepts %j as %j', (input, expected) => {
    expect(normalizeWorkspacePath(input)).toBe(expected);
  });

  it.each(['', '/etc/passwd', '..', '../x', 'a/../../x', 'a\0b', 'a\nb', 'x'.repeat(4097)])('refuses %j', (input) => {
    expect(() => normalizeWorkspacePath(input)).toThrow(expect.objectContaining({ code: 'InvalidPath' }));
  });

  it('refuses a component longer than 255 bytes (NAME_MAX), counting UTF-8 bytes', () => {
    expect(normalizeWorkspacePath(`d/${'a'.repeat(255)}`)).toBe(`d/${'a'.repeat(255)}`);
    for (const input of [`d/${'a'.repeat(256)}/x`, 'é'.repeat(128)]) {
      const error = refusal(input);
      expect(error.code).toBe('InvalidPath');
      expect(error.message).toMatch(/longer than 255 bytes/);
    }
  });

  it('refuses a path that /workspace/ plus the path would push past PATH_MAX', () => {
    // 20 directories of 200 characters: 4 KiB of nesting, each component within NAME_MAX.
    const nested = `${'a'.repeat(200)}/`.repeat(20);
    const longest = nested + 'x'.repeat(MAX_WORKSPACE_PATH_BYTES - nested.length);
    expect(MAX_WORKSPACE_PATH_BYTES).toBe(4096 - '/workspace/'.length - 1);
    expect(normalizeWorkspacePath(longest)).toBe(longest);
    for (const input of [`${longest}x`, `${'é'.repeat(100)}/`.repeat(21)]) {
      const error = refusal(input);
      expect(error.code).toBe('InvalidPath');
      expect(error.message).toMatch(/longer than 4084 bytes/);
    }
  });

  it('judges the length after normalizing: redundant ./ segments do not count', () => {
    expect(normalizeWorkspacePath(`${'./'.repeat(2000)}x`)).toBe('x');
  });
});
