import { lazyAction } from '@harombe/cli/command-kit';
import type { Command } from 'commander';

/** `harombe doctor`. */
export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      'check what the fleet needs on this host (Docker, gVisor, sandbox images, Redis, configuration, API, Slack when enabled) and say how to fix what fails',
    )
    .action(lazyAction(() => import('./doctor.js'), 'runDoctorCommand'));
}
