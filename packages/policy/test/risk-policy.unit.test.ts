import { HarombeError, parseConfig, type RiskRuleInput } from '@harombe/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES, RiskPolicy, type PolicyRule } from '../src/index.js';

const SANDBOX = 'sandbox-0123456789abcdef';

/** The reference design's example custom rule, inline `(?i)` flag included. */
const CRYPTO_RULE: RiskRuleInput = {
  tools: ['code_execute'],
  risk: 'HIGH',
  conditions: [{ param: 'code', matches: '(?i)crypto|bitcoin|mining' }],
  timeout: 30,
  description: 'Code mentioning cryptocurrency (suspicious)',
};

function thrown(fn: () => unknown): HarombeError {
  try {
    fn();
  } catch (error) {
    if (error instanceof HarombeError) return error;
    throw error;
  }
  throw new Error('expected a HarombeError');
}

describe('operator rules', () => {
  it('are checked before the defaults: the first match wins', () => {
    const policy = new RiskPolicy({ config: { rules: [CRYPTO_RULE] } });
    expect(policy.classify('code_execute', { language: 'python', code: 'import BitcoinLib' })).toEqual({
      risk: 'HIGH',
      require_approval: true,
      approval_timeout: 30,
      reason: 'Code mentioning cryptocurrency (suspicious)',
      matched: 'BitcoinLib',
    });
    // Placed first, it wins even over the dangerous-pattern default.
    expect(policy.classify('code_execute', { code: 'import subprocess  # mining' }).reason).toBe(
      'Code mentioning cryptocurrency (suspicious)',
    );
    // When it does not match, the defaults still apply.
    expect(policy.classify('code_execute', { code: 'import subprocess' }).reason).toBe(
      'Code contains a dangerous pattern',
    );
    expect(policy.classify('code_execute', { code: 'print(1)' }).reason).toBe('Code execution');
  });

  it('can lower a level (operator rules are trusted)', () => {
    const policy = new RiskPolicy({
      config: {
        rules: [
          {
            tools: ['code_execute'],
            risk: 'LOW',
            conditions: [{ param: 'code', equals: 'print("health check")' }],
            description: 'Health check',
          },
        ],
      },
    });
    expect(policy.classify('code_execute', { code: 'print("health check")' })).toMatchObject({
      risk: 'LOW',
      require_approval: false,
      approval_timeout: null,
    });
    expect(policy.classify('code_execute', { code: 'print("health check") ' }).risk).toBe('HIGH');
  });

  it('a rule without tools applies to every tool, unknown ones included', () => {
    const policy = new RiskPolicy({
      config: {
        rules: [
          {
            risk: 'CRITICAL',
            conditions: [{ param: 'sandbox_id', in: [SANDBOX] }],
            description: 'Quarantined sandbox',
          },
        ],
      },
    });
    expect(policy.classify('code_read_file', { sandbox_id: SANDBOX, file_path: 'a' }).risk).toBe('CRITICAL');
    expect(policy.classify('something_else', { sandbox_id: SANDBOX }).risk).toBe('CRITICAL');
    expect(policy.classify('code_read_file', { sandbox_id: 'sandbox-ffffffffffffffff', file_path: 'a' }).risk).toBe(
      'MEDIUM',
    );
  });

  it('replace_default_rules keeps only the operator rules', () => {
    const policy = new RiskPolicy({
      config: {
        replace_default_rules: true,
        rules: [{ tools: ['code_execute'], risk: 'MEDIUM', description: 'Everything runs at MEDIUM' }],
      },
    });
    expect(policy.rules()).toHaveLength(1);
    expect(policy.classify('code_execute', { code: 'import subprocess', network_enabled: true })).toMatchObject({
      risk: 'MEDIUM',
      approval_timeout: 120,
      reason: 'Everything runs at MEDIUM',
    });
    expect(policy.classify('code_destroy_sandbox', { sandbox_id: SANDBOX })).toMatchObject({
      risk: 'MEDIUM',
      require_approval: true,
      reason: 'No rule matched tool "code_destroy_sandbox"; default MEDIUM',
    });
  });
});

describe('approval', () => {
  it('auto_approve decides which levels skip a person', () => {
    const policy = new RiskPolicy({ config: { auto_approve: ['LOW', 'MEDIUM'] } });
    expect(policy.classify('code_read_file', { sandbox_id: SANDBOX, file_path: 'a.txt' })).toMatchObject({
      risk: 'MEDIUM',
      require_approval: false,
      approval_timeout: null,
    });
    expect(policy.classify('unknown_tool', {})).toMatchObject({ risk: 'MEDIUM', require_approval: false });
    expect(policy.classify('code_execute', { code: 'print(1)' }).require_approval).toBe(true);
  });

  it('with nothing auto-approved, LOW waits 120 s', () => {
    const policy = new RiskPolicy({ config: { auto_approve: [] } });
    expect(policy.classify('code_destroy_sandbox', { sandbox_id: SANDBOX })).toMatchObject({
      risk: 'LOW',
      require_approval: true,
      approval_timeout: 120,
    });
  });

  it("a rule's require_approval wins over auto_approve; its timeout over the level's", () => {
    const policy = new RiskPolicy({
      config: {
        rules: [
          { tools: ['code_list_files'], risk: 'CRITICAL', require_approval: false, description: 'Listing is fine' },
          {
            tools: ['code_destroy_sandbox'],
            risk: 'LOW',
            require_approval: true,
            timeout: 5,
            description: 'Ask first',
          },
          { tools: ['code_read_file'], risk: 'HIGH', description: 'Reads are sensitive' },
        ],
      },
    });
    expect(policy.classify('code_list_files', {})).toMatchObject({
      risk: 'CRITICAL',
      require_approval: false,
      approval_timeout: null,
    });
    expect(policy.classify('code_destroy_sandbox', {})).toMatchObject({ require_approval: true, approval_timeout: 5 });
    expect(policy.classify('code_read_file', {})).toMatchObject({ risk: 'HIGH', approval_timeout: 60 });
  });
});

describe('conditions', () => {
  function only(rule: RiskRuleInput): RiskPolicy {
    return new RiskPolicy({ config: { replace_default_rules: true, rules: [rule] } });
  }

  it('matches searches anywhere, case-insensitively, in the stringified value', () => {
    const policy = only({ risk: 'HIGH', conditions: [{ param: 'timeout', matches: '^9\\d$' }], description: 'Long' });
    expect(policy.classify('code_execute', { timeout: 95 }).risk).toBe('HIGH');
    expect(policy.classify('code_execute', { timeout: 5 }).risk).toBe('MEDIUM');
    const domains = only({
      risk: 'HIGH',
      conditions: [{ param: 'allowed_domains', matches: 'EVIL' }],
      description: 'Evil',
    });
    expect(domains.classify('code_execute', { allowed_domains: ['ok.com', 'evil.com'] }).risk).toBe('HIGH');
  });

  it('a missing parameter matches nothing, so a negated condition holds', () => {
    const policy = only({
      risk: 'HIGH',
      conditions: [{ param: 'code', matches: 'x', negate: true }],
      description: 'No x',
    });
    expect(policy.classify('code_read_file', {}).risk).toBe('HIGH');
    expect(policy.classify('code_execute', { code: 'x = 1' }).risk).toBe('MEDIUM');
  });

  it('equals is strict and structural; in is membership; negate inverts', () => {
    const equals = only({
      risk: 'HIGH',
      conditions: [{ param: 'allowed_domains', equals: ['a.com', 'b.com'] }],
      description: 'Eq',
    });
    expect(equals.classify('code_execute', { allowed_domains: ['a.com', 'b.com'] }).risk).toBe('HIGH');
    expect(equals.classify('code_execute', { allowed_domains: ['b.com', 'a.com'] }).risk).toBe('MEDIUM');
    const strict = only({ risk: 'HIGH', conditions: [{ param: 'network_enabled', equals: true }], description: 'Net' });
    expect(strict.classify('code_execute', { network_enabled: 'true' }).risk).toBe('MEDIUM');
    const notPython = only({
      risk: 'HIGH',
      conditions: [{ param: 'language', in: ['python', 'javascript'], negate: true }],
      description: 'Shell',
    });
    expect(notPython.classify('code_execute', { language: 'shell' }).risk).toBe('HIGH');
    expect(notPython.classify('code_execute', { language: 'python' }).risk).toBe('MEDIUM');
  });

  it('all conditions of a rule must hold', () => {
    const policy = only({
      risk: 'CRITICAL',
      conditions: [
        { param: 'language', equals: 'shell' },
        { param: 'code', matches: 'sudo' },
      ],
      description: 'sudo in shell',
    });
    expect(policy.classify('code_execute', { language: 'shell', code: 'sudo ls' })).toMatchObject({
      risk: 'CRITICAL',
      matched: 'sudo',
    });
    expect(policy.classify('code_execute', { language: 'python', code: 'sudo ls' }).risk).toBe('MEDIUM');
  });

  it('param may be dotted, through own properties only', () => {
    const policy = only({
      risk: 'HIGH',
      conditions: [{ param: 'meta.owner.name', equals: 'mallory' }],
      description: 'Mallory',
    });
    expect(policy.classify('custom', { meta: { owner: { name: 'mallory' } } }).risk).toBe('HIGH');
    expect(policy.classify('custom', { meta: { owner: null } }).risk).toBe('MEDIUM');
    const index = only({
      risk: 'HIGH',
      conditions: [{ param: 'allowed_domains.0', equals: 'evil.com' }],
      description: 'First',
    });
    expect(index.classify('code_execute', { allowed_domains: ['evil.com'] }).risk).toBe('HIGH');
    const proto = only({
      risk: 'HIGH',
      conditions: [{ param: 'code.constructor', matches: 'Function' }],
      description: 'Proto',
    });
    expect(proto.classify('code_execute', { code: 'x' }).risk).toBe('MEDIUM');
  });
});

describe('construction', () => {
  it('rejects an invalid operator regex, naming the rule and field', () => {
    const error = thrown(
      () =>
        new RiskPolicy({
          config: {
            rules: [
              CRYPTO_RULE,
              { risk: 'HIGH', conditions: [{ param: 'code', matches: 'a(b' }], description: 'Broken' },
            ],
          },
        }),
    );
    expect(error.code).toBe('InvalidArgument');
    expect(error.message).toContain('rules[1].conditions[0].matches');
    expect(error.message).toContain('rule 1');
  });

  it('rejects an invalid policy section, naming the key', () => {
    const error = thrown(() => new RiskPolicy({ config: { rules: [{ risk: 'SEVERE' as 'HIGH', description: 'x' }] } }));
    expect(error.code).toBe('InvalidArgument');
    expect(error.message).toContain('security.policy.rules[0].risk');
  });

  it('rules() lists the effective order, frozen; the caller config is left alone', () => {
    const config = { rules: [CRYPTO_RULE] };
    const policy = new RiskPolicy({ config });
    const rules = policy.rules();
    expect(rules).toHaveLength(DEFAULT_RULES.length + 1);
    expect(rules[0]?.description).toBe(CRYPTO_RULE.description);
    expect(rules.slice(1)).toEqual(DEFAULT_RULES);
    expect(Object.isFrozen(rules)).toBe(true);
    expect(() => (rules as PolicyRule[]).push(rules[0] as PolicyRule)).toThrow(TypeError);
    expect(Object.isFrozen(config.rules[0])).toBe(false);
  });

  it('describe() resolves approval and timeout per rule', () => {
    const summary = new RiskPolicy({ config: { rules: [CRYPTO_RULE] } }).describe();
    expect(summary[0]).toEqual({
      index: 0,
      source: 'operator',
      tools: ['code_execute'],
      risk: 'HIGH',
      require_approval: true,
      timeout: 30,
      predicate: null,
      description: 'Code mentioning cryptocurrency (suspicious)',
    });
    expect(summary[2]).toMatchObject({ index: 2, source: 'default', predicate: 'dangerous_code', timeout: 30 });
    expect(summary.at(-1)).toMatchObject({ risk: 'LOW', require_approval: false, timeout: null });
    expect(summary.map((s) => s.index)).toEqual(summary.map((_, i) => i));
  });
});

describe('RiskPolicy.fromConfig: the hitl switches of harombe.yaml', () => {
  const destroy = { sandbox_id: 'sandbox-0123456789abcdef' };
  it('auto-approves LOW by default, and not when auto_approve_low_risk is false', () => {
    expect(RiskPolicy.fromConfig(parseConfig({})).classify('code_destroy_sandbox', destroy).require_approval).toBe(
      false,
    );
    const strict = parseConfig({ security: { sandbox: { hitl: { enabled: true, auto_approve_low_risk: false } } } });
    expect(RiskPolicy.fromConfig(strict).classify('code_destroy_sandbox', destroy).require_approval).toBe(true);
  });

  it('approves every level without a person when hitl is disabled', () => {
    const off = parseConfig({ security: { sandbox: { hitl: { enabled: false, auto_approve_low_risk: true } } } });
    const assessment = RiskPolicy.fromConfig(off).classify('code_execute', {
      language: 'python',
      code: 'import subprocess',
    });
    expect(assessment).toMatchObject({ risk: 'CRITICAL', require_approval: false });
  });
});
