import { ID_FORMATS } from '@harombe/core/names';
import type { Command } from 'commander';
import { idOf, seconds } from '../cli-options.js';
import { lazyAction } from '../lazy-action.js';

/** `harombe jobs get|wait|cancel`. */
export function registerJobsCommands(program: Command): void {
  const jobs = program.command('jobs').description('look at, wait for and cancel jobs on the fleet');

  jobs
    .command('get')
    .description('print a job (status, approval, result) as JSON')
    .argument('<job_id>', 'job-<24 hex digits>', idOf(ID_FORMATS.job_id))
    .action(lazyAction(() => import('./jobs.js'), 'runJobsGet'));

  jobs
    .command('wait')
    .description('wait until a job ends and print it as JSON; exit 0 if it completed, 1 if it ended otherwise')
    .argument('<job_id>', 'job-<24 hex digits>', idOf(ID_FORMATS.job_id))
    .option('--timeout <seconds>', 'give up after this long (exit 124; the job keeps going)', seconds)
    .action(lazyAction(() => import('./jobs.js'), 'runJobsWait'));

  jobs
    .command('cancel')
    .description('cancel a job that has not ended (a running one is killed) and print it as JSON')
    .argument('<job_id>', 'job-<24 hex digits>', idOf(ID_FORMATS.job_id))
    .action(lazyAction(() => import('./jobs.js'), 'runJobsCancel'));
}
