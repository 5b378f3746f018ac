import { findDangerousPattern } from './dangerous-patterns.js';
import type { BuiltinPredicate } from './policy-rule.js';

/** What a built-in predicate sees besides the parameters. */
export interface PredicateContext {
  /** Lower-case registry names installation may use without being CRITICAL. */
  readonly allowedRegistries: ReadonlySet<string>;
}

/** Holds (with the text that made it hold, if any) or does not (null). */
export type PredicateResult = { matched: string | null } | null;

/**
 * The registry a package comes from. A missing one is `pypi`, the default of
 * CodeInstallPackageParams, because that is where the install would go.
 */
function registryOf(params: Record<string, unknown>): unknown {
  return params['registry'] === undefined ? 'pypi' : params['registry'];
}

function isAllowedRegistry(registry: unknown, context: PredicateContext): registry is string {
  return typeof registry === 'string' && context.allowedRegistries.has(registry.toLowerCase());
}

export function evaluatePredicate(
  predicate: BuiltinPredicate,
  params: Record<string, unknown>,
  context: PredicateContext,
): PredicateResult {
  switch (predicate) {
    case 'dangerous_code':
    case 'dangerous_content': {
      const text = params[predicate === 'dangerous_code' ? 'code' : 'content'];
      if (typeof text !== 'string') return null;
      const found = findDangerousPattern(text);
      return found ? { matched: found.matched } : null;
    }
    case 'allowed_registry': {
      const registry = registryOf(params);
      return isAllowedRegistry(registry, context) ? { matched: registry } : null;
    }
    case 'other_registry': {
      // Fails closed: anything that is not an allowed registry name, a non-string included.
      const registry = registryOf(params);
      if (isAllowedRegistry(registry, context)) return null;
      return { matched: typeof registry === 'string' ? registry.slice(0, 200) : null };
    }
  }
}
