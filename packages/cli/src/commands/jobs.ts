import { isHarombeApiError } from '@harombe/client';
import type { JobView } from '@harombe/core';
import type { Command } from 'commander';
import { connectionFlags, createClient } from '../api-client-options.js';
import { EXIT } from '../cli-error.js';

/** A job view as `jobs get|wait|cancel` print it. */
export function formatJob(job: JobView): string {
  return `${JSON.stringify(job, null, 2)}\n`;
}

/** `harombe jobs get`. */
export async function runJobsGet(jobId: string, _options: unknown, command: Command): Promise<void> {
  const client = createClient('submit', { flags: connectionFlags(command) });
  process.stdout.write(formatJob(await client.getJob(jobId)));
}

/** `harombe jobs wait`. */
export async function runJobsWait(jobId: string, options: { timeout?: number }, command: Command): Promise<void> {
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
}

/** `harombe jobs cancel`. */
export async function runJobsCancel(jobId: string, _options: unknown, command: Command): Promise<void> {
  const client = createClient('submit', { flags: connectionFlags(command) });
  process.stdout.write(formatJob(await client.cancelJob(jobId)));
}
