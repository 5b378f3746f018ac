import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAIN as cli } from './harombe-cli.js';

describe('harombe policy', () => {
  it('lists operator rules first, then the defaults, in the order they are checked', () => {
    const config = join(mkdtempSync(join(tmpdir(), 'harombe-policy-')), 'harombe.yaml');
    writeFileSync(
      config,
      'security:\n  policy:\n    rules:\n      - { tools: [code_execute], risk: CRITICAL, timeout: 15, conditions: [{ param: code, matches: wallet }], description: Wallet code }\n',
    );
    const rules = JSON.parse(
      execFileSync(process.execPath, [cli, '--config', config, 'policy', '--json'], { encoding: 'utf8' }),
    ) as { index: number; source: string; description: string; timeout: number | null }[];
    expect(rules[0]).toMatchObject({ index: 0, source: 'operator', description: 'Wallet code', timeout: 15 });
    expect(rules.slice(1).every((rule) => rule.source === 'default')).toBe(true);
    expect(rules.find((rule) => /destroy/i.test(rule.description))).toMatchObject({ timeout: null });
    expect(rules.at(-1)).toMatchObject({ description: 'Creating a sandbox', timeout: null });
    const text = execFileSync(process.execPath, [cli, '--config', config, 'policy'], { encoding: 'utf8' });
    expect(text.indexOf('Wallet code')).toBeLessThan(text.indexOf('Code execution with network access'));
  });
});
