import {
  HarombeError,
  PolicyConfig,
  RISK_LEVELS,
  TOOL_NAMES,
  toolDescriptor,
  type ClassificationContext,
  type HarombeConfig,
  type RiskAssessment,
  type RiskLevel,
  type ToolName,
} from '@harombe/core';
import type { z } from 'zod';
import {
  compileCondition,
  deepEqual,
  evaluateCondition,
  withNormalizedPaths,
  type CompiledCondition,
} from './conditions.js';
import { DEFAULT_RULES } from './default-rules.js';
import { evaluatePredicate, type PredicateContext } from './predicates.js';
import {
  clipMatched,
  deepFreeze,
  DEFAULT_TIMEOUTS,
  STANDARD_REGISTRIES,
  type BuiltinPredicate,
  type PolicyRule,
} from './policy-rule.js';

/** The `security.policy` section as written in harombe.yaml (defaults not yet applied). */
export type PolicyConfigInput = z.input<typeof PolicyConfig>;

export interface RiskPolicyOptions {
  /**
   * The `security.policy` section: `rules` (default none), `replace_default_rules` (default
   * false: operator rules are checked first, then DEFAULT_RULES), `auto_approve` (default
   * ['LOW']). Validated with core's PolicyConfig; a bad one throws InvalidArgument.
   */
  config?: PolicyConfigInput;
  /**
   * Registries package installation may use at HIGH instead of CRITICAL, compared
   * case-insensitively; normally the keys of `security.sandbox.network.allowed_registries`.
   * Default, and also when empty: ['pypi', 'npm'], the reference design's standard
   * registries. (To make every install CRITICAL, write an operator rule.)
   */
  allowedRegistries?: readonly string[];
}

/** One rule as operators see it in `harombe policy` style listings. */
export interface RuleSummary {
  /** Position in evaluation order, from 0. */
  index: number;
  source: 'operator' | 'default';
  /** Empty: every tool. */
  tools: readonly ToolName[];
  risk: RiskLevel;
  /** Whether a job this rule matches waits for a person. */
  require_approval: boolean;
  /** Seconds the approver has; null when no approval is needed. */
  timeout: number | null;
  /** The built-in check the rule makes besides its conditions, if any. */
  predicate: BuiltinPredicate | null;
  description: string;
}

interface CompiledRule {
  readonly rule: PolicyRule;
  readonly source: 'operator' | 'default';
  readonly conditions: readonly CompiledCondition[];
}

/** Applies when no rule names the tool: the reference design's middle ground. */
const FALLBACK_RISK: RiskLevel = 'MEDIUM';

/**
 * Classifies each job: the first rule (operator rules, then the defaults) whose tools,
 * conditions and built-in predicate all match decides the risk level, whether a person must
 * approve, and how long they have. Pure and synchronous, so it runs on the submit path.
 */
export class RiskPolicy {
  private readonly compiled: readonly CompiledRule[];
  private readonly effectiveRules: readonly PolicyRule[];
  private readonly autoApproveLevels: ReadonlySet<RiskLevel>;
  private readonly context: PredicateContext;

  /**
   * The policy a whole harombe.yaml describes, with the reference design's hitl switches:
   * `hitl.enabled: false` approves every level without a person (never in production);
   * `hitl.auto_approve_low_risk: false` makes LOW wait for a person too.
   */
  static fromConfig(config: HarombeConfig): RiskPolicy {
    const { hitl, network } = config.security.sandbox;
    const autoApprove = hitl.enabled
      ? config.security.policy.auto_approve.filter((level) => level !== 'LOW' || hitl.auto_approve_low_risk)
      : [...RISK_LEVELS];
    return new RiskPolicy({
      config: { ...config.security.policy, auto_approve: autoApprove },
      allowedRegistries: Object.keys(network.allowed_registries),
    });
  }

  constructor(options: RiskPolicyOptions = {}) {
    const config = parsePolicyConfig(options.config);
    const operatorRules: CompiledRule[] = config.rules.map((rule, index) => ({
      rule,
      source: 'operator',
      conditions: rule.conditions.map((condition, c) => {
        try {
          return compileCondition(condition);
        } catch (error) {
          const field = `security.policy.rules[${index}].conditions[${c}].matches`;
          throw new HarombeError(
            'InvalidArgument',
            `${field}: invalid regular expression ${JSON.stringify(condition.matches)} in rule ${index} ` +
              `(${rule.description}): ${(error as Error).message}`,
            { rule: index, condition: c, field },
          );
        }
      }),
    }));
    const defaultRules: CompiledRule[] = config.replace_default_rules
      ? []
      : DEFAULT_RULES.map((rule) => ({ rule, source: 'default', conditions: rule.conditions.map(compileCondition) }));
    this.compiled = Object.freeze([...operatorRules, ...defaultRules]);
    this.effectiveRules = deepFreeze(this.compiled.map((c) => c.rule));
    this.autoApproveLevels = new Set(config.auto_approve);
    const registries = (options.allowedRegistries ?? []).map((r) => r.toLowerCase());
    this.context = { allowedRegistries: new Set(registries.length > 0 ? registries : STANDARD_REGISTRIES) };
  }

  /**
   * Decides one job. Never throws; a tool no rule matches is MEDIUM. `context`: what the job will
   * be able to do beyond its parameters (the network of the sandbox it names), which rules judge
   * as if the parameters said it.
   */
  classify(tool: string, params: Record<string, unknown>, context: ClassificationContext = {}): RiskAssessment {
    const safeParams = withNormalizedPaths(params !== null && typeof params === 'object' ? params : {});
    const { facts, network } = withSandboxNetwork(tool, safeParams, context);
    for (const { rule, conditions } of this.compiled) {
      if (rule.tools.length > 0 && !(rule.tools as readonly string[]).includes(tool)) continue;
      let matched = this.match(rule, conditions, facts);
      if (matched === undefined) continue;
      // The approver is told where the network comes from when the job's parameters do not say it.
      if (network && rule.conditions.some((c) => NETWORK_PARAMS.includes(c.param))) matched = network;
      return this.assess(rule.risk, rule.require_approval, rule.timeout, rule.description, matched);
    }
    const name = JSON.stringify(String(tool).slice(0, 100));
    return this.assess(
      FALLBACK_RISK,
      undefined,
      undefined,
      `No rule matched tool ${name}; default ${FALLBACK_RISK}`,
      null,
    );
  }

  /** The effective rules in evaluation order (operator rules first). Frozen. */
  rules(): readonly PolicyRule[] {
    return this.effectiveRules;
  }

  /** The effective rules with their resolved approval and timeout, for operators to read. */
  describe(): RuleSummary[] {
    return this.compiled.map(({ rule, source }, index) => {
      const requireApproval = this.requiresApproval(rule.risk, rule.require_approval);
      return {
        index,
        source,
        tools: rule.tools,
        risk: rule.risk,
        require_approval: requireApproval,
        timeout: requireApproval ? (rule.timeout ?? DEFAULT_TIMEOUTS[rule.risk]) : null,
        predicate: rule.predicate ?? null,
        description: rule.description,
      };
    });
  }

  /** Levels approved without a person. */
  get autoApprove(): readonly RiskLevel[] {
    return [...this.autoApproveLevels];
  }

  /** Registry names (lower case) installation may use at HIGH. */
  get allowedRegistries(): readonly string[] {
    return [...this.context.allowedRegistries];
  }

  /** undefined: the rule does not match; otherwise the text that triggered it (or null). */
  private match(
    rule: PolicyRule,
    conditions: readonly CompiledCondition[],
    params: Record<string, unknown>,
  ): string | null | undefined {
    let matched: string | null = null;
    // Conditions first: they are cheap, the dangerous-pattern predicate scans the whole program.
    for (const condition of conditions) {
      const result = evaluateCondition(condition, params);
      if (!result.holds) return undefined;
      matched ??= result.matched;
    }
    if (rule.predicate !== undefined) {
      const result = evaluatePredicate(rule.predicate, params, this.context);
      if (result === null) return undefined;
      if (result.matched !== null) matched = result.matched;
    }
    return matched;
  }

  private requiresApproval(risk: RiskLevel, explicit: boolean | undefined): boolean {
    return explicit ?? !this.autoApproveLevels.has(risk);
  }

  private assess(
    risk: RiskLevel,
    requireApproval: boolean | undefined,
    timeout: number | undefined,
    reason: string,
    matched: string | null,
  ): RiskAssessment {
    const require_approval = this.requiresApproval(risk, requireApproval);
    return {
      risk,
      require_approval,
      approval_timeout: require_approval ? (timeout ?? DEFAULT_TIMEOUTS[risk]) : null,
      reason,
      matched,
    };
  }
}

/** The parameters a sandbox's network stands for. */
const NETWORK_PARAMS = ['network_enabled', 'allowed_domains'];
/** Tools whose effect depends on the network of the sandbox they name: what runs there has it. */
const NETWORK_TOOLS: readonly string[] = TOOL_NAMES.filter((tool) => toolDescriptor(tool).usesSandboxNetwork);

/**
 * The parameters as the rules judge them: for a tool running code in a network-enabled sandbox,
 * with that sandbox's network_enabled and allowed_domains, whatever the job said. `network`
 * describes it for the approver when the parameters did not say so.
 */
function withSandboxNetwork(
  tool: string,
  params: Record<string, unknown>,
  context: ClassificationContext,
): { facts: Record<string, unknown>; network: string | null } {
  const sandbox = context.sandbox;
  if (!sandbox?.network_enabled || !NETWORK_TOOLS.includes(tool)) return { facts: params, network: null };
  const domains = sandbox.allowed_domains;
  const facts = { ...params, network_enabled: true, allowed_domains: [...domains] };
  const said = params.network_enabled === true && deepEqual(params.allowed_domains, facts.allowed_domains);
  const reach = domains.length > 0 ? `allowed_domains ${domains.join(', ')}` : 'no domains allowed';
  return { facts, network: said ? null : clipMatched(`the network of ${sandbox.sandbox_id}: ${reach}`) };
}

/** Validates the policy section; copies it first so freezing rules never touches the caller's objects. */
function parsePolicyConfig(input: PolicyConfigInput | undefined): PolicyConfig {
  let raw: unknown;
  try {
    raw = structuredClone(input ?? {});
  } catch (error) {
    throw new HarombeError('InvalidArgument', `security.policy: not plain data: ${(error as Error).message}`);
  }
  const parsed = PolicyConfig.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const path = issue.path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('');
    return `security.policy${path}: ${issue.message}`;
  });
  throw new HarombeError('InvalidArgument', `invalid policy configuration: ${problems.join('; ')}`, { problems });
}
