import { normalizeWorkspacePath, type RiskCondition } from '@harombe/core';
import { clipMatched } from './policy-rule.js';

/** A condition with its `matches` regex compiled once, at policy construction. */
export interface CompiledCondition {
  readonly condition: RiskCondition;
  readonly regex: RegExp | null;
}

/** What a condition found: whether it holds, and the text that made it hold (for `matches`). */
export interface ConditionResult {
  holds: boolean;
  matched: string | null;
}

/**
 * Compiles `matches` as a case-insensitive JavaScript regular expression. A leading `(?i)`
 * (Python's inline flag, as in the reference design's example rule) is dropped: matching is
 * case-insensitive anyway, and JavaScript would reject it. Throws the RegExp SyntaxError.
 */
export function compileCondition(condition: RiskCondition): CompiledCondition {
  if (condition.matches === undefined) return { condition, regex: null };
  const source = condition.matches.replace(/^\(\?i\)/, '');
  return { condition, regex: new RegExp(source, 'i') };
}

export function evaluateCondition(compiled: CompiledCondition, params: Record<string, unknown>): ConditionResult {
  const { condition, regex } = compiled;
  const value = resolveParam(params, condition.param);
  let holds: boolean;
  let matched: string | null = null;
  if (regex !== null) {
    // A missing parameter matches nothing (so a negated `matches` holds for it).
    const m = value === undefined ? null : regex.exec(stringify(value));
    holds = m !== null;
    if (m !== null && !condition.negate) matched = clipMatched(widenToToken(m.input, m.index, m.index + m[0].length));
  } else if (condition.in !== undefined) {
    holds = condition.in.some((candidate) => deepEqual(value, candidate));
  } else {
    holds = deepEqual(value, condition.equals);
  }
  if (condition.negate) holds = !holds;
  return { holds, matched: holds ? matched : null };
}

/** The tools' workspace paths: file_path (write, read) and path (list). */
const PATH_PARAMS = ['file_path', 'path'] as const;

/**
 * The parameters with their workspace paths as the worker will touch them (`evil.py/` is
 * `evil.py`, `./x/../.bashrc` is `.bashrc`), so conditions judge that path, whoever calls the
 * policy. The API stores them normalized already; a path the sandbox refuses is left as sent.
 */
export function withNormalizedPaths(params: Record<string, unknown>): Record<string, unknown> {
  let out = params;
  for (const key of PATH_PARAMS) {
    const value = params[key];
    if (typeof value !== 'string') continue;
    let normalized: string;
    try {
      normalized = normalizeWorkspacePath(value);
    } catch {
      continue;
    }
    if (normalized !== value) out = { ...out, [key]: normalized };
  }
  return out;
}

/** Follows a dotted name (`a.b.0`) through own properties only, so `__proto__` resolves to nothing. */
export function resolveParam(params: Record<string, unknown>, path: string): unknown {
  let current: unknown = params;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.prototype.hasOwnProperty.call(current, key)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** The text `matches` searches: strings as they are, everything else as JSON. */
export function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Strict equality, structural for arrays and plain objects (JSON-shaped parameters). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return Number.isNaN(a) && Number.isNaN(b);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = Object.keys(ra);
  if (keys.length !== Object.keys(rb).length) return false;
  return keys.every((key) => Object.prototype.hasOwnProperty.call(rb, key) && deepEqual(ra[key], rb[key]));
}

/**
 * Widens a regex match to the whitespace-delimited text around it (at most 100 characters
 * each way), so a match of `\.py$` reports the file name `dir/run.py`, not `.py`.
 */
function widenToToken(text: string, start: number, end: number): string {
  const reach = 100;
  let s = start;
  while (s > 0 && start - s < reach && !/\s/.test(text.charAt(s - 1))) s--;
  let e = end;
  while (e < text.length && e - end < reach && !/\s/.test(text.charAt(e))) e++;
  return text.slice(s, e);
}
