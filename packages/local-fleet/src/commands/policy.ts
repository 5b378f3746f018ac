import { loadConfig, parseConfig } from '@harombe/core';
import { RiskPolicy } from '@harombe/policy';
import type { Command } from 'commander';
import { configPathOf } from '@harombe/cli';

/** `harombe policy`: the risk rules in the order they are checked, as the configuration makes them. */
export function registerPolicyCommand(program: Command): void {
  program
    .command('policy')
    .description('list the risk rules in the order they are checked (first match wins), from the configuration')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => {
      const path = configPathOf(program.opts<{ config?: string }>().config);
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
    });
}
