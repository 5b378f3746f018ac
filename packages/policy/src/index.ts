export { DANGEROUS_PATTERNS, findDangerousPattern } from './dangerous-patterns.js';
export type { DangerousMatch, DangerousPattern } from './dangerous-patterns.js';
export { DEFAULT_RULES } from './default-rules.js';
export {
  BUILTIN_PREDICATES,
  DEFAULT_TIMEOUTS,
  MAX_MATCHED_CHARS,
  STANDARD_REGISTRIES,
  type BuiltinPredicate,
  type PolicyRule,
} from './policy-rule.js';
export { RiskPolicy, type PolicyConfigInput, type RiskPolicyOptions, type RuleSummary } from './risk-policy.js';
