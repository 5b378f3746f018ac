import { lazyAction, seconds } from '@harombe/cli/command-kit';
import { LANGUAGES } from '@harombe/core/names';
import { Option, type Command } from 'commander';

/** `harombe run`: one program in a fresh sandbox on this host, without the fleet. */
export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run one program in a fresh local sandbox (no fleet), print its output and exit with its exit code')
    .addOption(
      new Option('-l, --language <language>', 'language of the program').choices(LANGUAGES).makeOptionMandatory(),
    )
    .option('-c, --code <code>', 'the program text (instead of a file)')
    .option('-t, --timeout <seconds>', 'time limit (default: the configured max_execution_time)', seconds)
    .argument('[file]', 'file holding the program ("-" for stdin)')
    .action(lazyAction(() => import('./run.js'), 'runLocally'));
}
