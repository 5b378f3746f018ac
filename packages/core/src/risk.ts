import { z } from 'zod';
import { ToolName } from './tool-catalogue.js';

/** Risk levels, lowest first. The level decides who must approve and how long they have. */
export const RISK_LEVELS = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export const RiskLevel = z.enum(RISK_LEVELS);
export type RiskLevel = z.infer<typeof RiskLevel>;

/**
 * One condition on a tool's parameters. `param` names a (dotted) parameter; exactly one of
 * `equals`, `matches` (a regular expression searched anywhere in the value, case-insensitive)
 * or `in` (the value is one of these) is given. `negate` turns the condition around.
 */
export const RiskCondition = z
  .strictObject({
    param: z.string().min(1),
    equals: z.unknown().optional(),
    matches: z.string().min(1).optional(),
    in: z.array(z.unknown()).min(1).optional(),
    negate: z.boolean().default(false),
  })
  .refine((c) => [c.equals, c.matches, c.in].filter((v) => v !== undefined).length === 1, {
    message: 'a condition takes exactly one of equals, matches, in',
  });
export type RiskCondition = z.output<typeof RiskCondition>;

/** A rule of the risk policy. The first rule (in order) whose tools and conditions match wins. */
export const RiskRule = z.strictObject({
  /** Tools the rule applies to; empty = every tool. */
  tools: z.array(ToolName).default([]),
  risk: RiskLevel,
  /** Default: every level but the auto-approved ones needs a person. */
  require_approval: z.boolean().optional(),
  /** Seconds an approver has before the job expires (denied). */
  timeout: z.number().positive().max(86_400).optional(),
  conditions: z.array(RiskCondition).default([]),
  description: z.string().min(1),
});
export type RiskRule = z.output<typeof RiskRule>;
export type RiskRuleInput = z.input<typeof RiskRule>;

/** What the policy decided about one job; the job carries it. */
export const RiskAssessment = z.strictObject({
  risk: RiskLevel,
  require_approval: z.boolean(),
  /** Seconds to decide; null when no approval is needed. */
  approval_timeout: z.number().nullable(),
  /** The matched rule's description. */
  reason: z.string(),
  /** The text that triggered the rule (a dangerous pattern, a file name), when there is one. */
  matched: z.string().nullable(),
});
export type RiskAssessment = z.infer<typeof RiskAssessment>;

/**
 * What a job will be able to do beyond what its own parameters say, looked up by the caller of
 * the policy (which stays pure): the kept sandbox it names. A sandbox's network is fixed when it
 * is made, so a job in a network-enabled one has that network whatever its parameters say.
 */
export interface ClassificationContext {
  sandbox?: { sandbox_id: string; network_enabled: boolean; allowed_domains: readonly string[] };
}
