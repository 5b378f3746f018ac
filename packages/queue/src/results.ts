import { toolDescriptor, type ErrorCode, type ToolName } from '@harombe/core';
import type { JobRecord } from './job-record.js';

/**
 * The result a job carries when it ends without its tool having run (denied, expired,
 * cancelled, failed): the tool's own result shape, `success: false` and the error code.
 */
export function failedResult(
  job: Pick<JobRecord, 'tool' | 'params'>,
  code: ErrorCode,
  message: string,
): Pick<JobRecord, 'result' | 'error'> {
  return { result: failedToolResult(job.tool, job.params, code, message), error: { code, message } };
}

/** The tool's failed result (its catalogue entry's `failedResult`). */
export function failedToolResult(
  tool: ToolName,
  params: Record<string, unknown>,
  code: ErrorCode,
  message: string,
): Record<string, unknown> {
  return toolDescriptor(tool).failedResult(params, code, message) as Record<string, unknown>;
}

/**
 * Errors meaning the job could not run at all (status `failed`), as opposed to the tool having
 * run and answered `success: false` (status `completed`, like a program that exits 1).
 */
export const INFRASTRUCTURE_ERRORS: readonly ErrorCode[] = [
  'SandboxLost',
  'SandboxNotFound',
  'RuntimeUnavailable',
  'InternalError',
  'WorkerLost',
];

export function endEventFor(result: { error?: unknown }): 'complete' | 'fail' {
  return INFRASTRUCTURE_ERRORS.includes(result.error as ErrorCode) ? 'fail' : 'complete';
}
