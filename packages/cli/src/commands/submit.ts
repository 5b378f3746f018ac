import { randomBytes } from 'node:crypto';
import { accessSync, constants, createWriteStream, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { HarombeApiError, isHarombeApiError, sleep, type HarombeClient } from '@harombe/client';
import type { JobStatus, JobView } from '@harombe/core';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { connectionFlags, createClient } from '../api-client-options.js';
import { CliError, EXIT, unreadable } from '../cli-error.js';
import {
  checkStateMatches,
  defaultStatePath,
  fileSha256,
  formatLineProblems,
  formatProgress,
  idempotencyKey,
  jobSucceeded,
  newSubmitState,
  parseJobLines,
  planChunks,
  progressDetail,
  readSubmitState,
  submittedChunk,
  sumProgress,
  writeSubmitState,
  type Chunk,
  type Progress,
  type StatusCounts,
} from '../submit-plan.js';

export interface SubmitOptions {
  /** Where the NDJSON results go; default stdout. */
  out?: string | undefined;
  /** Default `<file>.harombe-state.json`. */
  state?: string | undefined;
  /** false: submit, print the batch ids, and leave. Default true. */
  wait?: boolean;
  /** Submit the file again as new batches (fresh idempotency keys), whatever the state file says. */
  resubmit?: boolean;
  /** Check the file only. */
  dryRun?: boolean;
  /** Stops waiting (Ctrl-C); the jobs keep running and a re-run resumes. */
  signal?: AbortSignal;
  /** Default process.stderr; a TTY gets a progress bar, anything else a line every `lineIntervalMs`. */
  stderr?: NodeJS.WriteStream | Writable;
  /** Default process.stdout: the results when `out` is not given, and the batch ids with wait false. */
  stdout?: Writable;
  lineIntervalMs?: number;
}

/** What the file became: the batches, in file order. */
export interface SubmittedBatches {
  statePath: string;
  batchIds: string[];
  jobs: number;
}

/** An input file, checked and cut into batches. */
export interface JobsFile {
  path: string;
  sha256: string;
  chunks: Chunk[];
  jobs: number;
}

/** Reads and checks the input; a bad line refuses the whole file (nothing is submitted). */
export function loadJobsFile(path: string): JobsFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw unreadable(path, error);
  }
  const { jobs, problems } = parseJobLines(bytes.toString('utf8'));
  if (problems.length > 0) {
    throw new CliError(
      'InvalidArgument',
      `${path}: ${problems.length} bad line${problems.length === 1 ? '' : 's'}, nothing was submitted:\n${formatLineProblems(problems)}`,
    );
  }
  if (jobs.length === 0)
    throw new CliError(
      'InvalidArgument',
      `${path} holds no jobs (one JSON object {"tool": ..., "params": {...}} per line)`,
    );
  return { path, sha256: fileSha256(bytes), chunks: planChunks(jobs), jobs: jobs.length };
}

/** An API error about `jobs.<i>.…` of a chunk, told by the line of the file. */
export function onLine(error: unknown, chunk: Chunk): unknown {
  if (!isHarombeApiError(error)) return error;
  const field = typeof error.details?.field === 'string' ? error.details.field : undefined;
  const match = field ? /^jobs\.(\d+)\.(.*)$/.exec(field) : null;
  const line = match ? chunk.lines[Number(match[1])] : undefined;
  if (!match || line === undefined) return error;
  const message = error.message.replace(`jobs.${match[1]}.`, '');
  return new HarombeApiError({
    status: error.status,
    code: error.code,
    message: `line ${line}: ${message} (batch ${chunk.index + 1}, lines ${chunk.first_line}-${chunk.last_line}, was refused)`,
    details: { ...error.details, line },
  });
}

/**
 * Submits the file's chunks that the state file does not record yet, each with an idempotency
 * key from the file's hash and its index, recording each batch as soon as the API took it.
 */
export async function submitChunks(
  client: HarombeClient,
  input: string | JobsFile,
  options: Pick<SubmitOptions, 'state' | 'resubmit' | 'signal'> & { log?: (line: string) => void } = {},
): Promise<SubmittedBatches> {
  const log = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const file = typeof input === 'string' ? loadJobsFile(input) : input;
  const path = file.path;
  const statePath = options.state ?? defaultStatePath(path);
  let state = options.resubmit ? undefined : readSubmitState(statePath);
  if (state) {
    checkStateMatches(state, file.sha256, file.chunks, statePath);
  } else {
    state = newSubmitState(
      path,
      file.sha256,
      file.jobs,
      file.chunks.length,
      options.resubmit ? randomBytes(8).toString('hex') : undefined,
    );
    // Written before the first batch: a --resubmit interrupted early keeps its salt.
    writeSubmitState(statePath, state);
  }
  const batchIds: string[] = [];
  const total = file.chunks.length;
  for (const chunk of file.chunks) {
    const label = `batch ${chunk.index + 1}/${total} (lines ${chunk.first_line}-${chunk.last_line}, ${chunk.jobs.length} job${chunk.jobs.length === 1 ? '' : 's'})`;
    const done = submittedChunk(state, chunk.index);
    if (done) {
      batchIds.push(done.batch_id);
      log(`${label}: submitted before as ${done.batch_id}`);
      continue;
    }
    const key = idempotencyKey(file.sha256, chunk.index, state.salt);
    let created;
    for (;;) {
      try {
        created = await client.submitBatch({ jobs: chunk.jobs, idempotency_key: key }, { signal: options.signal });
        break;
      } catch (error) {
        // Past the tenant's submission rate: wait as long as the API says, then send the same
        // batch again (its idempotency key makes that safe).
        const wait =
          isHarombeApiError(error) && error.code === 'RateLimited' ? error.details?.retry_after_seconds : undefined;
        if (typeof wait !== 'number') throw onLine(error, chunk);
        log(`${label}: rate limited; trying again in ${Math.ceil(wait)} s`);
        await sleep(Math.ceil(wait) * 1000, options.signal);
      }
    }
    if (created.job_ids.length !== chunk.jobs.length) {
      throw new CliError(
        'Conflict',
        `the API answered ${label} with ${created.batch_id} of ${created.job_ids.length} jobs: its idempotency key ${key} names another batch; pass --resubmit`,
      );
    }
    state.chunks.push({
      index: chunk.index,
      first_line: chunk.first_line,
      last_line: chunk.last_line,
      jobs: chunk.jobs.length,
      idempotency_key: key,
      batch_id: created.batch_id,
      submitted_at: new Date().toISOString(),
    });
    writeSubmitState(statePath, state);
    batchIds.push(created.batch_id);
    log(`${label}: submitted as ${created.batch_id}`);
  }
  return { statePath, batchIds, jobs: file.jobs };
}

/** Shows progress on stderr: a bar on a terminal, a plain line now and then otherwise. */
export interface ProgressReporter {
  update(progress: Progress, batchIds: readonly string[]): void;
  stop(progress?: Progress): void;
}

function approvalNote(progress: Progress, batchIds: readonly string[]): string {
  if (progress.counts.awaiting_approval === 0) return '';
  const how = batchIds.length === 1 ? `harombe approvals approve --batch ${batchIds[0]}` : 'harombe approvals list';
  return ` (waiting for a person: ${how})`;
}

export function createProgressReporter(
  stream: NodeJS.WriteStream | Writable,
  lineIntervalMs = 10_000,
): ProgressReporter {
  if ((stream as NodeJS.WriteStream).isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: 'jobs {bar} {percentage}% | {value}/{total} finished | {detail}',
        hideCursor: false,
        clearOnComplete: false,
        barsize: 30,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(progress, batchIds) {
        const detail = progressDetail(progress) + approvalNote(progress, batchIds);
        if (!started) bar.start(progress.total, progress.finished, { detail });
        else bar.update(progress.finished, { detail });
        started = true;
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let last = 0;
  let lastLine = '';
  return {
    update(progress, batchIds) {
      const line = formatProgress(progress) + approvalNote(progress, batchIds);
      const now = Date.now();
      if (now - last < lineIntervalMs && !(lastLine === '' && line !== '')) return;
      last = now;
      lastLine = line;
      stream.write(`${line}\n`);
    },
    stop(progress) {
      if (!progress) return;
      const line = formatProgress(progress);
      if (line !== lastLine) stream.write(`${line}\n`);
    },
  };
}

/**
 * Follows the batches' live events (GET /v1/batches/{batch_id}/events, one stream per batch)
 * until every job has ended, reporting the counts as they change: no polling. Each stream
 * resumes on its own after a dropped connection.
 */
export async function waitForBatches(
  client: HarombeClient,
  batchIds: readonly string[],
  options: { signal?: AbortSignal; reporter?: ProgressReporter } = {},
): Promise<Progress> {
  const seen = new Map<string, { total: number; counts: StatusCounts }>();
  // Every batch's size first, so the bar's total is right from its first step.
  for (const batchId of batchIds) {
    const view = await client.getBatch(batchId, { limit: 1, signal: options.signal });
    seen.set(batchId, { total: view.total, counts: view.counts });
  }
  const report = (): Progress => {
    const progress = sumProgress([...seen.values()]);
    options.reporter?.update(progress, batchIds);
    return progress;
  };
  report();
  // One stream failing stops the others.
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.all(
      batchIds.map(async (batchId) => {
        try {
          for await (const event of client.streamBatch(batchId, { signal: stop.signal })) {
            seen.set(batchId, { total: event.data.total, counts: event.data.counts });
            report();
          }
        } catch (error) {
          stop.abort(error);
          throw error;
        }
      }),
    );
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  return report();
}

/** Tally of what was written. */
export interface ResultsSummary {
  written: number;
  succeeded: number;
  byStatus: Partial<Record<JobStatus, number>>;
  /** completed, but the tool answered success: false (a program that exited non-zero, ...). */
  unsuccessful: number;
}

/** Streams every ended job of the batches as NDJSON, in file order. */
export async function writeResults(
  client: HarombeClient,
  batchIds: readonly string[],
  out: Writable,
  signal?: AbortSignal,
): Promise<ResultsSummary> {
  const summary: ResultsSummary = { written: 0, succeeded: 0, byStatus: {}, unsuccessful: 0 };
  let failure: Error | undefined;
  const onError = (error: Error): void => {
    failure ??= error;
  };
  out.on('error', onError);
  try {
    for (const batchId of batchIds) {
      for await (const job of client.batchResults(batchId, { signal })) {
        if (failure) throw failure;
        if (!out.write(`${JSON.stringify(job)}\n`)) await once(out, 'drain');
        tally(summary, job);
      }
    }
    if (failure) throw failure;
  } finally {
    out.removeListener('error', onError);
  }
  return summary;
}

function tally(summary: ResultsSummary, job: JobView): void {
  summary.written += 1;
  summary.byStatus[job.status] = (summary.byStatus[job.status] ?? 0) + 1;
  if (jobSucceeded(job)) summary.succeeded += 1;
  else if (job.status === 'completed') summary.unsuccessful += 1;
}

export function formatSummary(summary: ResultsSummary, total: number, where: string): string {
  const parts = [`${summary.succeeded} succeeded`];
  if (summary.unsuccessful) parts.push(`${summary.unsuccessful} completed without success`);
  for (const status of ['denied', 'expired', 'cancelled', 'failed'] as const) {
    const n = summary.byStatus[status];
    if (n) parts.push(`${n} ${status}`);
  }
  const missing = total - summary.written;
  return `${summary.written}/${total} results written to ${where}: ${parts.join(', ')}${missing > 0 ? `; ${missing} missing (expired from the API?)` : ''}`;
}

/** Refuses an --out whose directory cannot take it, before anything is submitted. */
function checkWritableDirectory(path: string): void {
  const directory = dirname(resolve(path));
  try {
    accessSync(directory, constants.W_OK);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (error as Error).message;
    throw new CliError('InvalidArgument', `cannot write ${path}: ${reason}`);
  }
}

/**
 * `harombe submit` as a function: submit (resuming), wait with progress, write the results.
 * Answers the exit status: 0 when every job completed successfully, 1 otherwise.
 */
export async function submitFile(
  client: HarombeClient,
  input: string | JobsFile,
  options: SubmitOptions = {},
): Promise<number> {
  const stderr = options.stderr ?? process.stderr;
  const stdout = options.stdout ?? process.stdout;
  const log = (line: string): void => void stderr.write(`${line}\n`);
  const path = typeof input === 'string' ? input : input.path;
  const resuming = (statePath: string): string =>
    `re-run \`harombe submit ${path}\` to resume (nothing is submitted twice; the state is in ${statePath})`;
  if (options.out) checkWritableDirectory(options.out);
  let submitted: SubmittedBatches;
  try {
    submitted = await submitChunks(client, input, { ...options, log });
  } catch (error) {
    if (!options.signal?.aborted) throw error;
    log(`harombe: interrupted; ${resuming(options.state ?? defaultStatePath(path))}`);
    return EXIT.interrupted;
  }
  const resume = resuming(submitted.statePath);
  if (options.wait === false) {
    stdout.write(submitted.batchIds.map((id) => `${id}\n`).join(''));
    log(
      `${submitted.jobs} jobs in ${submitted.batchIds.length} batch${submitted.batchIds.length === 1 ? '' : 'es'}; ${resume.replace('to resume', 'to wait for them and collect the results')}`,
    );
    return EXIT.ok;
  }
  const reporter = createProgressReporter(stderr, options.lineIntervalMs);
  let progress: Progress;
  try {
    progress = await waitForBatches(client, submitted.batchIds, {
      signal: options.signal,
      reporter,
    });
  } catch (error) {
    reporter.stop();
    if (options.signal?.aborted) {
      log(`harombe: interrupted: the jobs keep running; ${resume}`);
      return EXIT.interrupted;
    }
    if (isHarombeApiError(error)) log(`(the jobs keep running; ${resume})`);
    throw error;
  }
  reporter.stop(progress);
  const partial = options.out ? `${options.out}.partial` : undefined;
  let out: Writable = stdout;
  if (partial) {
    try {
      out = createWriteStream(partial, { fd: openSync(partial, 'w') });
    } catch (error) {
      throw new CliError('InvalidArgument', `cannot write ${partial}: ${(error as Error).message}; ${resume}`);
    }
  }
  let summary: ResultsSummary;
  try {
    summary = await writeResults(client, submitted.batchIds, out, options.signal);
    if (partial) {
      out.end();
      await once(out, 'finish');
      renameSync(partial, options.out as string);
    }
  } catch (error) {
    if (partial) {
      out.destroy();
      rmSync(partial, { force: true });
    }
    throw error;
  }
  log(formatSummary(summary, progress.total, options.out ?? 'stdout'));
  return summary.succeeded === progress.total ? EXIT.ok : EXIT.failed;
}

interface SubmitFlags {
  out?: string;
  state?: string;
  wait: boolean;
  resubmit?: boolean;
  dryRun?: boolean;
}

/** `harombe submit` once its arguments are parsed (submit-command.ts defines them). */
export async function runSubmit(path: string, options: SubmitFlags, command: Command): Promise<void> {
  if (options.dryRun) {
    const file = loadJobsFile(path);
    process.stderr.write(
      `${path}: ${file.jobs} valid job${file.jobs === 1 ? '' : 's'}, ${file.chunks.length} batch${file.chunks.length === 1 ? '' : 'es'}\n`,
    );
    return;
  }
  const file = loadJobsFile(path); // A bad file is refused before a missing key is.
  const client = createClient('submit', { flags: connectionFlags(command) });
  const interrupt = new AbortController();
  const onSigint = (): void => interrupt.abort();
  process.once('SIGINT', onSigint);
  try {
    process.exitCode = await submitFile(client, file, {
      out: options.out,
      state: options.state,
      wait: options.wait,
      resubmit: options.resubmit,
      signal: interrupt.signal,
    });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
