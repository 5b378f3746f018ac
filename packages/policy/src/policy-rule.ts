import type { RiskLevel, RiskRule } from '@harombe/core';

/**
 * Checks the condition language of RiskRule cannot express (a pattern list, a configured
 * registry list). Only the built-in rules use them; operator rules stay plain RiskRules so
 * the configuration schema does not grow a policy-internal vocabulary.
 *
 * - `dangerous_code`: the `code` parameter contains a dangerous pattern (see dangerous-patterns.ts).
 * - `dangerous_content`: the `content` parameter (what a file write puts in place) does.
 * - `allowed_registry`: the `registry` parameter is one of the allowed registries.
 * - `other_registry`: the complement of `allowed_registry` (also holds for a non-string registry).
 */
export const BUILTIN_PREDICATES = [
  'dangerous_code',
  'dangerous_content',
  'allowed_registry',
  'other_registry',
] as const;
export type BuiltinPredicate = (typeof BUILTIN_PREDICATES)[number];

/** A rule as the policy evaluates it: core's RiskRule plus, for built-in rules only, a predicate. */
export interface PolicyRule extends RiskRule {
  /** Must hold in addition to `conditions`. Never set on operator rules. */
  readonly predicate?: BuiltinPredicate;
}

/** Seconds an approver has when a rule gives no timeout (the reference design's per-level values). */
export const DEFAULT_TIMEOUTS: Readonly<Record<RiskLevel, number>> = Object.freeze({
  CRITICAL: 30,
  HIGH: 60,
  MEDIUM: 120,
  LOW: 120,
});

/**
 * Registries treated as allowed when none are configured: the reference design calls
 * installation "from PyPI/npm" HIGH and "non-standard registries" CRITICAL.
 */
export const STANDARD_REGISTRIES: readonly string[] = Object.freeze(['pypi', 'npm']);

/** Longest `matched` text an assessment carries; approvers need a hint, not the whole program. */
export const MAX_MATCHED_CHARS = 200;

/** Trims and caps a text for RiskAssessment.matched. */
export function clipMatched(text: string): string {
  return text.trim().slice(0, MAX_MATCHED_CHARS);
}

/** Rules are shared by every policy; freezing them keeps one caller from changing another's. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
