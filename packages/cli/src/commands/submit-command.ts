import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

/** `harombe submit`. */
export function registerSubmitCommand(program: Command): void {
  program
    .command('submit')
    .description("submit a JSONL file of jobs as batches, show progress, and write every job's result as NDJSON")
    .argument('<jobs.jsonl>', 'one job per line: {"tool": "code_execute", "params": {...}} (optionally "max_attempts")')
    .option('-o, --out <file>', 'write the results (NDJSON, one job view per line) here instead of stdout')
    .option(
      '--state <file>',
      'record of the submitted batches, for resuming (default: <jobs.jsonl>.harombe-state.json)',
    )
    .option('--no-wait', 'submit, print the batch ids, and leave (re-run to wait and collect the results)')
    .option('--resubmit', 'submit the file again as new batches even though it was submitted before')
    .option('--dry-run', 'check the file and say how it would be cut into batches; submit nothing')
    .addHelpText(
      'after',
      '\nRe-running after an interruption submits nothing twice: each batch carries an idempotency key made of the\n' +
        "file's SHA-256 and the batch's index, and the state file records the batches already taken.\n" +
        'Exit status: 0 if every job completed successfully, 1 otherwise, 2 if the file or the API refused.',
    )
    .action(lazyAction(() => import('./submit.js'), 'runSubmit'));
}
