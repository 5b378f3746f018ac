import { isHarombeApiError, type HarombeClient } from '@harombe/client';
import {
  fieldProblems,
  formatProblem,
  isHarombeError,
  isTerminal,
  TOOLS,
  type ErrorCode,
  type JobView,
} from '@harombe/core';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { JobFollower } from './job-follower.js';
import { notRunMessage, progressMessage } from './job-messages.js';
import type { ProgressReporter } from './progress-reporter.js';
import { resultText } from './result-text.js';
import type { McpToolName } from './tool-descriptions.js';

/** How a call ended, as counted by the service's metrics. */
export type CallOutcome =
  /** The tool ran and its result says success. */
  | 'succeeded'
  /** The tool's answer is `success: false` (a program that exits non-zero, a missing file or sandbox, ...). */
  | 'failed'
  | 'denied'
  | 'expired'
  | 'cancelled'
  /** No answer of the tool: bad arguments, a refusal of the API, a transport failure. */
  | 'error';

export interface ToolCallOptions {
  /** The API, with the caller's key. */
  client: HarombeClient;
  follower: JobFollower;
  tool: McpToolName;
  /** The arguments, already checked against the tool's contract. */
  params: Record<string, unknown>;
  /** The request's abort (the client cancelled, or the connection closed): the job is cancelled. */
  signal: AbortSignal;
  progress: ProgressReporter;
  /** Milliseconds between progress notifications while nothing changes. Default 10_000. */
  heartbeatMs?: number;
  /** Milliseconds a cancellation of the job may take. Default 10_000. */
  cancelTimeoutMs?: number;
  /** Default Date.now. */
  now?: () => number;
}

export interface ToolCallResult {
  result: CallToolResult;
  outcome: CallOutcome;
  /** The job the call submitted, once it exists. */
  jobId?: string;
}

/** A tool error: `isError` and a text that starts with the stable error code. */
export function toolError(code: ErrorCode, message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: `${code}: ${message}` }] };
}

/** The tool error for anything thrown: the code of a Harombe error, else InternalError. */
export function toolErrorOf(error: unknown): CallToolResult {
  if (isHarombeApiError(error) || isHarombeError(error)) return toolError(error.code, error.message);
  return toolError('InternalError', error instanceof Error ? error.message : String(error));
}

/**
 * One tool call: submits the job through the API with the caller's key (so tenants, risk,
 * approval, quotas and audit apply as to any job), reports its progress while it waits for a
 * person or runs, and answers its result. A cancelled request cancels the job.
 */
export class ToolCall {
  private readonly heartbeatMs: number;
  private readonly now: () => number;
  /** Status and approval state last reported, so that only changes and heartbeats are sent. */
  private reported: string | undefined;

  constructor(private readonly options: ToolCallOptions) {
    this.heartbeatMs = options.heartbeatMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  async run(): Promise<ToolCallResult> {
    const { client, follower, tool, params, signal, progress } = this.options;
    let job: JobView | undefined;
    try {
      // Not aborted with the request: once the request is out the job may exist, and only the
      // answer names it, so that it can be cancelled.
      job = await client.submitJob({ tool, params });
      await this.report(job);
      if (!signal.aborted) {
        for await (const update of follower.follow(job, signal)) {
          if (update.kind === 'output') {
            // Where a follower streams output, it reaches the client as it arrives.
            await progress.report(`${update.stream}: ${update.text}`);
          } else {
            job = update.job;
            await this.report(job);
          }
        }
      }
      if (signal.aborted) return await this.cancel(job);
      return this.ended(job);
    } catch (error) {
      if (signal.aborted) return await this.cancel(job);
      if (!job) return { result: toolErrorOf(error), outcome: 'error' };
      // Lost track of a job that goes on: say which, so that it can be looked up (or cancelled) later.
      const lost = toolErrorOf(error);
      const [first] = lost.content as [{ type: 'text'; text: string }];
      first.text += ` (job ${job.job_id}, last seen ${job.status}, goes on without this call)`;
      return { result: lost, outcome: 'error', jobId: job.job_id };
    }
  }

  /** A progress notification when the job's state changed, or a heartbeat when it has been quiet. */
  private async report(job: JobView): Promise<void> {
    if (isTerminal(job.status)) return;
    const state = `${job.status}/${job.approval?.status ?? '-'}`;
    const again = state === this.reported;
    if (again && this.options.progress.quietMs < this.heartbeatMs) return;
    this.reported = state;
    await this.options.progress.report(progressMessage(job, this.now(), again));
  }

  private async cancel(job: JobView | undefined): Promise<ToolCallResult> {
    if (!job)
      return { result: toolError('Cancelled', 'the call was cancelled before its job existed'), outcome: 'cancelled' };
    let what = 'cancelled';
    if (!isTerminal(job.status)) {
      try {
        await this.options.client.cancelJob(job.job_id, {
          signal: AbortSignal.timeout(this.options.cancelTimeoutMs ?? 10_000),
        });
      } catch (error) {
        what = isHarombeApiError(error, 'Conflict')
          ? 'already ended when the cancellation came'
          : `not cancelled (${(error as Error).message})`;
      }
    }
    return {
      result: toolError('Cancelled', `the call was cancelled; job ${job.job_id} ${what}`),
      outcome: 'cancelled',
      jobId: job.job_id,
    };
  }

  private ended(job: JobView): ToolCallResult {
    const { tool } = this.options;
    const jobId = job.job_id;
    if (!isTerminal(job.status)) {
      return { result: toolError('InternalError', `job ${jobId} was left ${job.status}`), outcome: 'error', jobId };
    }
    const parsed = job.result === null ? undefined : TOOLS[tool].result.safeParse(job.result);
    if (parsed && !parsed.success) {
      const [problem] = fieldProblems(parsed.error.issues, { whole: '(root)' });
      return {
        result: toolError(
          'InternalError',
          `the result of job ${jobId} does not match the ${tool} contract: ${problem ? formatProblem(problem) : '(root): invalid'}`,
        ),
        outcome: 'error',
        jobId,
      };
    }
    const result = parsed?.data;
    const structured = result ? { structuredContent: result } : {};
    if (job.status === 'denied' || job.status === 'expired' || job.status === 'cancelled') {
      return {
        result: { isError: true, content: [{ type: 'text', text: notRunMessage(job) }], ...structured },
        outcome: job.status,
        jobId,
      };
    }
    if (!result) {
      return {
        result: { isError: true, content: [{ type: 'text', text: notRunMessage(job) }] },
        outcome: 'error',
        jobId,
      };
    }
    const text = resultText(tool, result, job.error?.message);
    const code = (result as { error: ErrorCode | null }).error;
    if (job.status !== 'completed' || code !== null) {
      // The tool did not do its work (a missing sandbox or file, a timeout, ...): a tool error that
      // starts with the stable code, with every field of the result after it.
      const headline = `${code ?? job.error?.code ?? 'InternalError'}: ${job.error?.message ?? `job ${jobId} ended ${job.status}`}`;
      return {
        result: { isError: true, content: [{ type: 'text', text: `${headline}\n${text}` }], ...structured },
        outcome: 'failed',
        jobId,
      };
    }
    return {
      result: { content: [{ type: 'text', text }], ...structured },
      outcome: result.success ? 'succeeded' : 'failed',
      jobId,
    };
  }
}
