import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Directories that hold no documentation of ours (dependencies, build output, local state). */
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.git', '.turbo', 'bench-results', '.harombe', 'coverage']);

/** Every Markdown file under `root`, as paths relative to it, sorted. */
export function markdownFiles(root: string, dir = root): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) found.push(...markdownFiles(root, join(dir, entry.name)));
    } else if (entry.name.endsWith('.md')) {
      found.push(relative(root, join(dir, entry.name)));
    }
  }
  return found.sort();
}

/** The text of a Markdown document without its fenced code blocks and inline code spans. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/**
 * The anchors GitHub gives a document's headings: the heading's text without its Markdown,
 * lower-cased, punctuation dropped, spaces as dashes; a repeated one gets -1, -2, ….
 */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutCode = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const [, heading = ''] of withoutCode.matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*_~]/g, '');
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Relative link targets of a document (`[text](target)`), outside code; web and mail links left out. */
export function relativeLinks(markdown: string): string[] {
  const links: string[] = [];
  for (const [, target = ''] of prose(markdown).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) links.push(target);
  }
  return links;
}

/**
 * The relative links of `file` (relative to `root`) that lead nowhere: a missing file, or an
 * anchor no heading of the target document has. Each problem names the file and the link.
 */
export function brokenLinks(root: string, file: string, allowedMissing: ReadonlySet<string> = new Set()): string[] {
  const problems: string[] = [];
  const source = join(root, file);
  const markdown = readFileSync(source, 'utf8');
  for (const link of relativeLinks(markdown)) {
    const [path = '', anchor] = link.split('#', 2);
    const target = path === '' ? source : resolve(dirname(source), decodeURIComponent(path));
    const fromRoot = relative(root, target);
    if (!existsSync(target)) {
      if (!allowedMissing.has(fromRoot)) problems.push(`${file}: ${link}: no such file ${fromRoot}`);
      continue;
    }
    if (anchor !== undefined && target.endsWith('.md') && statSync(target).isFile()) {
      const anchors = headingAnchors(readFileSync(target, 'utf8'));
      if (!anchors.has(anchor)) problems.push(`${file}: ${link}: ${fromRoot} has no heading #${anchor}`);
    }
  }
  return problems;
}
