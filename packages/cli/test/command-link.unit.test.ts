import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MAIN } from './harombe-cli.js';

const linked = fileURLToPath(new URL('../../../node_modules/.bin/harombe', import.meta.url));

describe('the harombe command in a clone', () => {
  it('is linked at the repository root and runs, so `npx harombe` downloads nothing', () => {
    expect(existsSync(linked), `${linked} is missing: npx would look for harombe in a registry`).toBe(true);
    expect(realpathSync(linked)).toBe(realpathSync(MAIN));
    // Run as npx runs it: the file itself, by its #! line (it must be executable).
    expect(execFileSync(linked, ['--help'], { encoding: 'utf8' })).toContain('exec');
  });
});
