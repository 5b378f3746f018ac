import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  fieldProblems,
  formatProblem,
  MAX_ATTEMPTS,
  MAX_BATCH_JOBS,
  MaxAttempts,
  TERMINAL_STATUSES,
  TOOLS,
  ToolName,
  type JobStatus,
  type SubmitBatchJob,
} from '@harombe/core';
import { CliError } from './cli-error.js';

/**
 * The pure part of `harombe submit`: reading a JSONL file of jobs, cutting it into batches,
 * naming each batch so that a re-run never submits it twice, and the state file that records
 * what was submitted.
 */

export type BatchJob = SubmitBatchJob;

/** A valid line of the input: a job, and where it came from. */
export interface JobLine {
  /** 1-based line number in the file. */
  line: number;
  job: BatchJob;
  /** Bytes the job takes in a request body. */
  bytes: number;
}

export interface LineProblem {
  line: number;
  message: string;
}

const LINE_FIELDS = new Set(['tool', 'params', 'max_attempts']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses a JSONL file of `{"tool": ..., "params": {...}}` lines (optionally `max_attempts`),
 * checking each against the tool catalog as the API will. Blank lines are skipped; a line
 * may end in \r\n. Every bad line is reported with its number.
 */
export function parseJobLines(text: string): { jobs: JobLine[]; problems: LineProblem[] } {
  const jobs: JobLine[] = [];
  const problems: LineProblem[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const raw = (lines[index] as string).replace(/\r$/, '');
    const line = index + 1;
    if (raw.trim() === '') continue;
    const problem = (message: string): void => void problems.push({ line, message });
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      problem(`not JSON (${(error as Error).message})`);
      continue;
    }
    if (!isRecord(value)) {
      problem('expected an object {"tool": ..., "params": {...}}');
      continue;
    }
    const unknown = Object.keys(value).filter((key) => !LINE_FIELDS.has(key));
    if (unknown.length > 0) {
      problem(
        `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => `"${key}"`).join(', ')} (a line holds tool, params and optionally max_attempts)`,
      );
      continue;
    }
    const tool = ToolName.safeParse(value.tool);
    if (!tool.success) {
      problem(
        value.tool === undefined
          ? 'tool: missing'
          : `tool: unknown tool ${JSON.stringify(value.tool)} (one of ${ToolName.options.join(', ')})`,
      );
      continue;
    }
    if (!isRecord(value.params)) {
      problem(value.params === undefined ? 'params: missing' : 'params: expected an object');
      continue;
    }
    const params = TOOLS[tool.data].params.safeParse(value.params);
    if (!params.success) {
      problem(fieldProblems(params.error.issues, { prefix: 'params' }).map(formatProblem).join('; '));
      continue;
    }
    const attempts = value.max_attempts;
    if (attempts !== undefined && !MaxAttempts.safeParse(attempts).success) {
      problem(`max_attempts: expected an integer from 1 to ${MAX_ATTEMPTS}`);
      continue;
    }
    // The params as written: the API applies the defaults.
    const job: BatchJob = {
      tool: tool.data,
      params: value.params,
      ...(attempts !== undefined ? { max_attempts: attempts as number } : {}),
    };
    jobs.push({ line, job, bytes: Buffer.byteLength(JSON.stringify(job)) });
  }
  return { jobs, problems };
}

/** `line 3: …` lines, the first `max` of them and a count of the rest. */
export function formatLineProblems(problems: readonly LineProblem[], max = 20): string {
  const shown = problems.slice(0, max).map((p) => `  line ${p.line}: ${p.message}`);
  if (problems.length > max)
    shown.push(`  … and ${problems.length - max} more bad line${problems.length - max === 1 ? '' : 's'}`);
  return shown.join('\n');
}

/** Hex SHA-256 of the input file's bytes: the identity of a submission. */
export function fileSha256(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Request bodies stay under this (the API's default max_body_bytes is 2 MiB). */
export const MAX_CHUNK_BYTES = 1_900_000;

export interface Chunk {
  /** 0-based position among the file's chunks. */
  index: number;
  first_line: number;
  last_line: number;
  jobs: BatchJob[];
  /** The line of each job, in order. */
  lines: number[];
}

/**
 * Cuts the jobs into batches of at most `maxJobs` (10,000) and, past the first job, at most
 * `maxBytes` of JSON. Deterministic: the same file always gives the same chunks, which is what
 * makes the idempotency keys (file hash + chunk index) safe.
 */
export function planChunks(
  jobs: readonly JobLine[],
  maxJobs: number = MAX_BATCH_JOBS,
  maxBytes: number = MAX_CHUNK_BYTES,
): Chunk[] {
  const chunks: Chunk[] = [];
  let current: JobLine[] = [];
  let bytes = 0;
  const close = (): void => {
    if (current.length === 0) return;
    chunks.push({
      index: chunks.length,
      first_line: (current[0] as JobLine).line,
      last_line: (current[current.length - 1] as JobLine).line,
      jobs: current.map((entry) => entry.job),
      lines: current.map((entry) => entry.line),
    });
    current = [];
    bytes = 0;
  };
  for (const entry of jobs) {
    // +1: the comma between jobs in the request body.
    if (current.length >= maxJobs || (current.length > 0 && bytes + entry.bytes + 1 > maxBytes)) close();
    current.push(entry);
    bytes += entry.bytes + 1;
  }
  close();
  return chunks;
}

/**
 * The idempotency key of a chunk: the file's SHA-256 and the chunk's index (and the salt of a
 * deliberate `--resubmit`). The API answers a repeated key (same tenant) with the batch it made
 * the first time, so a re-run after an interruption never submits a chunk twice.
 */
export function idempotencyKey(fileSha: string, chunkIndex: number, salt?: string): string {
  return `harombe-submit:${fileSha}:${salt ? `${salt}:` : ''}${chunkIndex}`;
}

/** The state file next to the input: `<file>.harombe-state.json`. */
export function defaultStatePath(inputPath: string): string {
  return `${inputPath}.harombe-state.json`;
}

export interface SubmittedChunk {
  index: number;
  first_line: number;
  last_line: number;
  jobs: number;
  idempotency_key: string;
  batch_id: string;
  submitted_at: string;
}

/** What `harombe submit` records about a file's submission, so a re-run resumes it. */
export interface SubmitState {
  version: 1;
  /** The input file, as given. */
  file: string;
  /** SHA-256 of the input when it was submitted: a changed file is refused. */
  sha256: string;
  /** Set by --resubmit: a fresh set of idempotency keys, so the same file runs again. */
  salt?: string;
  jobs: number;
  chunks_total: number;
  chunks: SubmittedChunk[];
}

export function newSubmitState(
  file: string,
  sha256: string,
  jobs: number,
  chunksTotal: number,
  salt?: string,
): SubmitState {
  return { version: 1, file, sha256, ...(salt ? { salt } : {}), jobs, chunks_total: chunksTotal, chunks: [] };
}

/** The state file's content, undefined when there is none; a corrupt one is a CliError. */
export function readSubmitState(path: string): SubmitState | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError('InvalidArgument', `cannot read the state file ${path}: ${(error as Error).message}`);
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch {
    state = undefined;
  }
  if (!isRecord(state) || state.version !== 1 || typeof state.sha256 !== 'string' || !Array.isArray(state.chunks)) {
    throw new CliError(
      'InvalidArgument',
      `the state file ${path} is not one harombe submit wrote; move it away (or pass --state <other file>)`,
    );
  }
  return state as unknown as SubmitState;
}

/** Writes the state file atomically (a crash leaves the old one or the new one, never half). */
export function writeSubmitState(path: string, state: SubmitState): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temporary, path);
}

/** The state to go on with, or why not: a state of another version of the file is refused. */
export function checkStateMatches(
  state: SubmitState,
  sha256: string,
  chunks: readonly Chunk[],
  statePath: string,
): void {
  if (state.sha256 !== sha256) {
    throw new CliError(
      'Conflict',
      `${statePath} records a submission of a different version of ${state.file} (SHA-256 ${state.sha256.slice(0, 12)}…, now ${sha256.slice(0, 12)}…): ` +
        'its jobs may be running already. Pass --resubmit to submit the file as it is now, all of it, or --state <file> for a separate record.',
    );
  }
  for (const done of state.chunks) {
    const chunk = chunks[done.index];
    if (!chunk || chunk.first_line !== done.first_line || chunk.last_line !== done.last_line) {
      throw new CliError(
        'Conflict',
        `${statePath} records batch ${done.index} over lines ${done.first_line}-${done.last_line}, which this version of harombe cuts differently; pass --resubmit or --state <file>`,
      );
    }
  }
}

/** A chunk's record in the state, when it was submitted already. */
export function submittedChunk(state: SubmitState, index: number): SubmittedChunk | undefined {
  return state.chunks.find((chunk) => chunk.index === index);
}

export type StatusCounts = Partial<Record<JobStatus, number>>;

/** Counts summed over batches, and how many of `total` have ended. */
export interface Progress {
  total: number;
  finished: number;
  counts: Record<JobStatus, number>;
}

export function sumProgress(batches: ReadonlyArray<{ total: number; counts: StatusCounts }>): Progress {
  const counts: Record<JobStatus, number> = {
    queued: 0,
    awaiting_approval: 0,
    running: 0,
    completed: 0,
    denied: 0,
    expired: 0,
    cancelled: 0,
    failed: 0,
  };
  let total = 0;
  for (const batch of batches) {
    total += batch.total;
    for (const [status, n] of Object.entries(batch.counts)) counts[status as JobStatus] += n ?? 0;
  }
  const finished = TERMINAL_STATUSES.reduce((sum, status) => sum + counts[status], 0);
  return { total, finished, counts };
}

function progressParts(progress: Progress): { ended: string; open: string; approval: string } {
  const { counts } = progress;
  const list = (statuses: readonly JobStatus[]): string =>
    statuses
      .filter((s) => counts[s] > 0)
      .map((s) => `${counts[s]} ${s}`)
      .join(', ');
  return {
    ended: list(['completed', 'denied', 'expired', 'cancelled', 'failed']),
    open: list(['running', 'queued']),
    approval: counts.awaiting_approval > 0 ? `${counts.awaiting_approval} awaiting approval` : '',
  };
}

/** `1234/10000 finished (12%): 1200 completed, 34 failed; 50 running, 8716 queued; 3 awaiting approval` */
export function formatProgress(progress: Progress): string {
  const { ended, open, approval } = progressParts(progress);
  const percent = progress.total === 0 ? 100 : Math.floor((progress.finished / progress.total) * 100);
  return [`${progress.finished}/${progress.total} finished (${percent}%)${ended ? `: ${ended}` : ''}`, open, approval]
    .filter(Boolean)
    .join('; ');
}

/** The counts without the finished/total head: `1200 completed, 34 failed; 50 running, …` (for the progress bar). */
export function progressDetail(progress: Progress): string {
  const { ended, open, approval } = progressParts(progress);
  return [ended, open, approval].filter(Boolean).join('; ');
}

/** A job succeeded: it completed and its tool answered success. */
export function jobSucceeded(job: { status: JobStatus; result: Record<string, unknown> | null }): boolean {
  return job.status === 'completed' && job.result?.success === true;
}
