import { ID_FORMATS, LANGUAGES } from '@harombe/core/names';
import { Option, type Command } from 'commander';
import { idOf, seconds } from '../cli-options.js';
import { lazyAction } from '../lazy-action.js';

/** `harombe exec`: one program on the fleet, its output here, its exit code ours. */
export function registerExecCommand(program: Command): void {
  program
    .command('exec')
    .description('run one program on the fleet (code_execute), print its stdout and stderr and exit with its exit code')
    .addOption(
      new Option('-l, --language <language>', 'language of the program').choices(LANGUAGES).makeOptionMandatory(),
    )
    .option('-c, --code <code>', 'the program text (instead of a file)')
    .option(
      '--sandbox <sandbox_id>',
      'run in this kept sandbox (default: a one-shot sandbox, removed afterwards)',
      idOf(ID_FORMATS.sandbox_id),
    )
    .option('--keep-sandbox', 'keep the new sandbox for later calls; its id is printed on stderr')
    .option(
      '--keep-background',
      'let what the program starts in the background keep running in its kept sandbox after it ends (needs --sandbox or --keep-sandbox)',
    )
    .option('-t, --timeout <seconds>', "time limit of the program (default: the fleet's max_execution_time)", seconds)
    .option(
      '--wait <seconds>',
      'give up after this long, approval included, and cancel the job (exit 124); default: wait as long as it takes',
      seconds,
    )
    .option(
      '--stdin-file <file>',
      'feed this file to the program\'s stdin ("-": what is piped to harombe); counted with the code against max_code_bytes',
    )
    .argument('[file]', 'file holding the program ("-" for stdin)')
    .addHelpText(
      'after',
      "\nExit status: the program's; 1 if the job was denied, expired, cancelled or failed; 124 on a time limit or --wait; 2 if harombe could not ask (bad arguments, no key, API error).",
    )
    .action(lazyAction(() => import('./exec.js'), 'runExec'));
}
