import { isHarombeApiError } from '@harombe/client';
import { JobId, type JobView } from '@harombe/core';
import type { Command } from 'commander';
import { connectionFlags, createClient } from '../api-client-options.js';
import { EXIT } from '../cli-error.js';
import { idOf, seconds } from '../cli-options.js';

/** A job view as `jobs get|wait|cancel` print it. */
export function formatJob(job: JobView): string {
  return `${JSON.stringify(job, null, 2)}\n`;
}

/** `harombe jobs get|wait|cancel`. */
export function registerJobsCommands(program: Command): void {
  const jobs = program.command('jobs').description('look at, wait for and cancel jobs on the fleet');

  jobs
    .command('get')
    .description('print a job (status, approval, result) as JSON')
    .argument('<job_id>', 'job-<24 hex digits>', idOf(JobId))
    .action(async (jobId: string, _options: unknown, command: Command) => {
      const client = createClient('submit', { flags: connectionFlags(command) });
      process.stdout.write(formatJob(await client.getJob(jobId)));
    });

  jobs
    .command('wait')
    .description('wait until a job ends and print it as JSON; exit 0 if it completed, 1 if it ended otherwise')
    .argument('<job_id>', 'job-<24 hex digits>', idOf(JobId))
    .option('--timeout <seconds>', 'give up after this long (exit 124; the job keeps going)', seconds)
    .action(async (jobId: string, options: { timeout?: number }, command: Command) => {
      const client = createClient('submit', { flags: connectionFlags(command) });
      try {
        const job = await client.waitForJob(jobId, options.timeout ? { timeoutMs: options.timeout * 1000 } : {});
        process.stdout.write(formatJob(job));
        process.exitCode = job.status === 'completed' ? EXIT.ok : EXIT.failed;
      } catch (error) {
        if (!isHarombeApiError(error, 'TimeoutError')) throw error;
        process.stderr.write(`harombe: TimeoutError: ${error.message}\n`);
        process.exitCode = EXIT.timeout;
      }
    });

  jobs
    .command('cancel')
    .description('cancel a job that has not ended (a running one is killed) and print it as JSON')
    .argument('<job_id>', 'job-<24 hex digits>', idOf(JobId))
    .action(async (jobId: string, _options: unknown, command: Command) => {
      const client = createClient('submit', { flags: connectionFlags(command) });
      process.stdout.write(formatJob(await client.cancelJob(jobId)));
    });
}
