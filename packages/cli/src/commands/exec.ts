import { readFileSync } from 'node:fs';
import { HarombeApiError, isHarombeApiError, type HarombeClient } from '@harombe/client';
import { ExecutionResult, isTerminal, type CodeExecuteParams, type JobView } from '@harombe/core';
import type { Command } from 'commander';
import { connectionFlags, createClient } from '../api-client-options.js';
import { CliError, EXIT, unreadable } from '../cli-error.js';

/** Where exec writes: the program's stdout and stderr, and harombe's own messages (stderr). */
export interface ExecIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

export interface ExecOnFleetOptions {
  /** Give up after this many seconds (the job is then cancelled): exit 124. Default: wait as long as it takes. */
  waitSeconds?: number | undefined;
  /** Aborting it (Ctrl-C) cancels the job: exit 130. */
  signal?: AbortSignal | undefined;
  io?: ExecIo;
}

/** What of a program's output was written as it came. */
interface Written {
  stdout: string;
  stderr: string;
}

const INTERRUPTED = Symbol('interrupted');

/** The stderr line shown while a job waits for a person, with the command an approver decides it by. */
export function approvalWaitingLine(job: JobView): string {
  const approval = job.approval;
  const matched = job.risk_matched ? `, matched: ${job.risk_matched}` : '';
  const id = approval?.approval_id;
  return (
    `waiting for approval (approval ${id ?? '?'}, risk ${job.risk}: ${job.risk_reason}${matched}, ` +
    `expires ${approval?.expires_at ?? 'never'})${id ? `; an approver: harombe approvals approve|deny ${id}` : ''}`
  );
}

/**
 * Runs a code_execute job on the fleet as if it ran here: submits it, follows its live events
 * (GET /v1/jobs/{job_id}/events), says on stderr when it waits for approval and who approved it,
 * writes the program's stdout and stderr as the program writes them, and answers the exit status
 * (see execExitCode). A TimeoutError of the wait answers 124; HarombeApiErrors of the API
 * otherwise propagate.
 */
export async function execOnFleet(
  client: HarombeClient,
  params: CodeExecuteParams,
  options: ExecOnFleetOptions = {},
): Promise<number> {
  const io = options.io ?? { stdout: process.stdout, stderr: process.stderr };
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(INTERRUPTED);
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let job: JobView | undefined;
  const written: Written = { stdout: '', stderr: '' };
  const timer =
    options.waitSeconds === undefined
      ? undefined
      : setTimeout(() => {
          controller.abort(
            new HarombeApiError({
              status: 0,
              code: 'TimeoutError',
              message: `${job ? `job ${job.job_id}` : 'the job'} did not end within ${options.waitSeconds} s${job ? ` (last seen ${job.status})` : ''}`,
              details: job ? { job_id: job.job_id, status: job.status } : undefined,
            }),
          );
        }, options.waitSeconds * 1000);
  const signal = controller.signal;
  try {
    // Not aborted by an interrupt or the deadline: the job may exist once the request is out,
    // and only the answer names it, so that it can be cancelled.
    job = await client.submitJob({ tool: 'code_execute', params });
    if (signal.aborted) throw signal.reason;
    job = await followJob(client, job, io, written, (seen) => (job = seen), signal);
  } catch (error) {
    const reason: unknown = signal.aborted ? signal.reason : error;
    if (reason === INTERRUPTED || isHarombeApiError(reason, 'TimeoutError')) {
      const cancelled = job && !isTerminal(job.status) && signal.aborted ? await cancelQuietly(client, job.job_id) : '';
      if (reason === INTERRUPTED) {
        io.stderr.write(`harombe: Cancelled: interrupted${job ? `; job ${job.job_id} ${cancelled}` : ''}\n`);
        return EXIT.interrupted;
      }
      io.stderr.write(`harombe: TimeoutError: ${reason.message}${cancelled ? `; ${cancelled}` : ''}\n`);
      return EXIT.timeout;
    }
    throw reason;
  } finally {
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
  return reportExecution(job, io, written);
}

/**
 * Follows a submitted job's events to its end: the approval it waits for and who gave it (on
 * stderr), the program's output as it comes (kept in `written`). `seen` is told the job as it
 * moves; answers the ended job.
 */
async function followJob(
  client: HarombeClient,
  submitted: JobView,
  io: ExecIo,
  written: Written,
  seen: (job: JobView) => void,
  signal: AbortSignal,
): Promise<JobView> {
  let job = submitted;
  let announced: string | undefined;
  for await (const event of client.streamJob(job.job_id, { signal })) {
    if (event.type !== 'status') {
      io[event.type].write(event.data.text);
      written[event.type] += event.data.text;
      continue;
    }
    const { status, approval, risk, risk_reason, risk_matched, result, error } = event.data;
    if (job.status === 'running' && status === 'queued') {
      // Its worker was lost and it runs again (max_attempts): the next attempt's output is whole on its own.
      io.stderr.write(`\nharombe: the job's worker was lost; it runs again\n`);
      written.stdout = '';
      written.stderr = '';
    }
    job = {
      ...job,
      status,
      ...(approval !== undefined ? { approval } : {}),
      ...(risk !== undefined ? { risk } : {}),
      ...(risk_reason !== undefined ? { risk_reason } : {}),
      ...(risk_matched !== undefined ? { risk_matched } : {}),
      ...(result !== undefined ? { result } : {}),
      ...(error !== undefined ? { error } : {}),
    };
    seen(job);
    if (status === 'awaiting_approval') {
      if (job.approval?.approval_id !== announced) {
        io.stderr.write(`${approvalWaitingLine(job)}\n`);
        announced = job.approval?.approval_id;
      }
    } else if (announced !== undefined && job.approval?.status === 'approved') {
      announced = announceApproval(job, io);
    }
  }
  // The stream ended without the job's end (its events expired): ask for the job itself.
  return isTerminal(job.status) ? job : client.waitForJob(job.job_id, { signal });
}

/** `approved by <who>: <reason>` once a job announced as waiting was approved. */
function announceApproval(job: JobView, io: ExecIo): undefined {
  if (job.approval?.status !== 'approved') return undefined;
  const { decided_by, reason } = job.approval;
  io.stderr.write(`approved${decided_by ? ` by ${decided_by}` : ''}${reason ? `: ${reason}` : ''}\n`);
  return undefined;
}

async function cancelQuietly(client: HarombeClient, jobId: string): Promise<string> {
  try {
    await client.cancelJob(jobId, { signal: AbortSignal.timeout(10_000) });
    return 'cancelled';
  } catch (error) {
    if (isHarombeApiError(error, 'Conflict')) return `ended meanwhile (harombe jobs get ${jobId})`;
    return `could not be cancelled (${(error as Error).message}): harombe jobs cancel ${jobId}`;
  }
}

const RESULT_ERRORS: Record<string, string> = {
  TimeoutError: 'the program ran past its time limit',
  MemoryLimitExceeded: 'the program ran out of memory',
  DiskLimitExceeded: 'the program filled its disk',
};

/**
 * The exit status of an ended code_execute job: the program's exit code when it completed;
 * 124 when it hit its time limit; 1 when it completed with another error and exit code 0 or
 * none in 0..255, and when the job ended denied, expired, cancelled or failed.
 */
export function execExitCode(job: JobView): number {
  if (job.status !== 'completed') return EXIT.failed;
  const parsed = ExecutionResult.safeParse(job.result);
  if (!parsed.success) return EXIT.failed;
  const result = parsed.data;
  if (result.error === 'TimeoutError') return EXIT.timeout;
  const valid = result.exit_code >= 0 && result.exit_code < 256;
  if (!valid) return EXIT.failed;
  return result.error && result.exit_code === 0 ? EXIT.failed : result.exit_code;
}

/**
 * Writes an ended job's output as the program wrote it (what was `written` live already, only the
 * rest), then why it did not succeed; answers the exit status.
 */
export function reportExecution(job: JobView, io: ExecIo, written: Written = { stdout: '', stderr: '' }): number {
  const parsed = ExecutionResult.safeParse(job.result);
  const result = parsed.success ? parsed.data : undefined;
  const rest = (stream: keyof Written, text: string): string => {
    if (text.startsWith(written[stream])) return text.slice(written[stream].length);
    // Live output that does not lead to the result's (some of it never reached the stream): all of it again.
    io.stderr.write(`\nharombe: the live ${stream} missed some of the output; all of it follows\n`);
    return text;
  };
  if (job.status === 'completed' && result) {
    io.stdout.write(rest('stdout', result.stdout));
    io.stderr.write(rest('stderr', result.stderr));
    // A sandbox kept for later calls is named, once: the next `exec --sandbox` needs its id.
    if (result.sandbox_kept && result.sandbox_id && job.params.sandbox_id === undefined) {
      io.stderr.write(`harombe: kept sandbox ${result.sandbox_id}\n`);
    }
    if (result.error) {
      const what = RESULT_ERRORS[result.error] ?? 'the program did not complete';
      io.stderr.write(`harombe: ${result.error}: ${what} (stopped after ${result.execution_time} s)\n`);
    }
    return execExitCode(job);
  }
  const message = job.error?.message ?? `job ${job.job_id} ended ${job.status}`;
  if (result?.stdout) io.stdout.write(rest('stdout', result.stdout));
  if (result?.stderr && result.stderr !== message) io.stderr.write(rest('stderr', result.stderr));
  io.stderr.write(`harombe: ${job.error?.code ?? job.status}: ${message}\n`);
  return EXIT.failed;
}

interface ExecFlags {
  language: CodeExecuteParams['language'];
  code?: string;
  sandbox?: string;
  keepSandbox?: boolean;
  keepBackground?: boolean;
  timeout?: number;
  wait?: number;
  stdinFile?: string;
}

/**
 * The program's stdin from --stdin-file: a file, or "-" for this process's own stdin (unless the
 * program itself comes from there). Text: bytes that are not UTF-8 become U+FFFD.
 */
export function stdinText(
  stdinFile: string | undefined,
  programFile: string | undefined,
  readStdin: () => string = () => readFileSync(0, 'utf8'),
): string | undefined {
  if (stdinFile === undefined) return undefined;
  if (stdinFile === '-') {
    if (programFile === '-')
      throw new CliError('InvalidArgument', 'the program and its stdin cannot both come from "-"');
    return readStdin();
  }
  try {
    return readFileSync(stdinFile, 'utf8');
  } catch (error) {
    throw unreadable(stdinFile, error);
  }
}

/** The program text from -c, a file, or stdin ("-"): exactly one of them. */
export function programText(
  file: string | undefined,
  code: string | undefined,
  readStdin: () => string = () => readFileSync(0, 'utf8'),
): string {
  if (code !== undefined && file !== undefined) {
    throw new CliError('InvalidArgument', 'give either a file (or "-" for stdin) or -c <code>, not both');
  }
  if (code !== undefined) return code;
  if (file === undefined) throw new CliError('InvalidArgument', 'give a file, "-" for stdin, or -c <code>');
  if (file === '-') return readStdin();
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw unreadable(file, error);
  }
}

/** `harombe exec` once its arguments are parsed (exec-command.ts defines them). */
export async function runExec(file: string | undefined, options: ExecFlags, command: Command): Promise<void> {
  const code = programText(file, options.code);
  const stdin = stdinText(options.stdinFile, file);
  const client = createClient('submit', { flags: connectionFlags(command) });
  const params: CodeExecuteParams = {
    language: options.language,
    code,
    ...(stdin !== undefined ? { stdin } : {}),
    ...(options.sandbox ? { sandbox_id: options.sandbox } : {}),
    ...(options.keepSandbox ? { keep_sandbox: true } : {}),
    ...(options.keepBackground ? { keep_background: true } : {}),
    ...(options.timeout ? { timeout: options.timeout } : {}),
  };
  const interrupt = new AbortController();
  const onSigint = (): void => interrupt.abort();
  process.once('SIGINT', onSigint);
  try {
    process.exitCode = await execOnFleet(client, params, { waitSeconds: options.wait, signal: interrupt.signal });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
