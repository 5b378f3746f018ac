import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../src/tools.js';

/**
 * docs/threat-model.md names, next to each defence, the test that proves it (`file › test name`,
 * `… ›` for the file named before). A renamed or removed test would leave a defence unproven
 * without anyone noticing: every name must still be a test (or describe) title in that file.
 */
describe('docs/threat-model.md', () => {
  const text = readFileSync(join(REPO, 'docs/threat-model.md'), 'utf8');
  const references: { file: string; title: string }[] = [];
  let last = '';
  for (const [, file = '', title = ''] of text.matchAll(/`([^`\s]+\.test\.ts|…) › ([^`]+)`/g)) {
    last = file === '…' ? last : file;
    references.push({ file: last, title });
  }

  it('names tests, and is linked from the README', () => {
    expect(references.length).toBeGreaterThan(50);
    expect(readFileSync(join(REPO, 'README.md'), 'utf8')).toContain('(docs/threat-model.md)');
  });

  it.each(references)('$file › $title exists', ({ file, title }) => {
    const source = readFileSync(join(REPO, file), 'utf8').replaceAll("\\'", "'");
    expect(source, `${file} has no test "${title}"`).toContain(title);
  });
});
