import { loadConfig, parseConfig } from '@harombe/core';
import { RiskPolicy } from '@harombe/policy';
import type { Command } from 'commander';
import { configPathOf } from '@harombe/cli';

/** `harombe policy` once its arguments are parsed (policy-command.ts defines them). */
export function runPolicy(options: { json?: boolean }, command: Command): void {
  const path = configPathOf(command.optsWithGlobals<{ config?: string }>().config);
  const config = path ? loadConfig(path) : parseConfig({});
  const rules = RiskPolicy.fromConfig(config).describe();
  if (options.json) {
    process.stdout.write(`${JSON.stringify(rules, null, 2)}\n`);
    return;
  }
  process.stdout.write(`rules of ${path ?? 'the defaults'} (first match wins; a tool no rule names is MEDIUM):\n`);
  for (const rule of rules) {
    const approval = rule.require_approval ? `approval within ${rule.timeout} s` : 'approved by the policy';
    process.stdout.write(
      `${String(rule.index).padStart(3)}  ${rule.risk.padEnd(8)} ${rule.source.padEnd(8)} ${(rule.tools.join(',') || 'any tool').padEnd(22)} ${approval.padEnd(24)} ${rule.description}\n`,
    );
  }
}
