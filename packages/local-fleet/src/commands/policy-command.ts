import { lazyAction } from '@harombe/cli/command-kit';
import type { Command } from 'commander';

/** `harombe policy`: the risk rules in the order they are checked, as the configuration makes them. */
export function registerPolicyCommand(program: Command): void {
  program
    .command('policy')
    .description('list the risk rules in the order they are checked (first match wins), from the configuration')
    .option('--json', 'print JSON')
    .action(lazyAction(() => import('./policy.js'), 'runPolicy'));
}
