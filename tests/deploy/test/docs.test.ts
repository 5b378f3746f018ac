import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokenLinks, headingAnchors, markdownFiles } from '../src/markdown-links.js';
import { REPO } from '../src/tools.js';

/** Pages the README links to that arrive with other work (the threat model comes with the security review). */
const ARRIVING = new Set(['docs/threat-model.md']);

/** Every page of docs/ the README must lead to. */
const PAGES = ['api', 'cli', 'mcp', 'webhooks', 'sandboxes', 'approvals', 'configuration', 'operations', 'benchmarks'];

describe('the documentation', () => {
  it('keeps the README short: the pitch, the quick start, a job’s path, the layout and links', () => {
    expect(statSync(join(REPO, 'README.md')).size).toBeLessThanOrEqual(8 * 1024);
  });

  it('links every docs page and deploy/README.md from the README', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const files = markdownFiles(REPO);
    for (const page of PAGES) {
      expect(files, page).toContain(`docs/${page}.md`);
      expect(readme, page).toContain(`](docs/${page}.md)`);
    }
    for (const target of ['deploy/README.md', ...ARRIVING]) expect(readme, target).toContain(`](${target})`);
  });

  it('has no relative link leading to a missing file or heading', () => {
    const problems = markdownFiles(REPO).flatMap((file) => brokenLinks(REPO, file, ARRIVING));
    expect(problems).toEqual([]);
  });

  it('finds a link to a missing file or heading, and none inside code', () => {
    const root = mkdtempSync(join(tmpdir(), 'harombe-docs-'));
    try {
      mkdirSync(join(root, 'docs'));
      writeFileSync(join(root, 'docs', 'a.md'), '# Page A\n\n## The `harombe` command\n\n## A job’s life\n');
      writeFileSync(
        join(root, 'README.md'),
        [
          '[ok](docs/a.md) [ok](docs/a.md#the-harombe-command) [ok](docs/a.md#a-jobs-life) [ok](#readme)',
          '[web](https://example.com/x.md) [mail](mailto:x@example.com)',
          '[gone](docs/b.md) [no heading](docs/a.md#nothing) [no heading here](#nowhere)',
          '`[in code](docs/c.md)`',
          '```',
          '[in a block](docs/d.md)',
          '```',
          '# Readme',
        ].join('\n'),
      );
      expect(brokenLinks(root, 'README.md')).toEqual([
        'README.md: docs/b.md: no such file docs/b.md',
        'README.md: docs/a.md#nothing: docs/a.md has no heading #nothing',
        'README.md: #nowhere: README.md has no heading #nowhere',
      ]);
      expect(brokenLinks(root, 'README.md', new Set(['docs/b.md']))).toHaveLength(2);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('names headings as GitHub does, repeated ones numbered', () => {
    expect([...headingAnchors('# harombe.yaml\n## Limits\n### Limits\n## What to scale when a graph rises\n')]).toEqual(
      ['harombeyaml', 'limits', 'limits-1', 'what-to-scale-when-a-graph-rises'],
    );
  });
});
