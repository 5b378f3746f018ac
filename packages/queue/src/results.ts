import type { ErrorCode, ToolName } from '@harombe/core';
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

export function failedToolResult(
  tool: ToolName,
  params: Record<string, unknown>,
  code: ErrorCode,
  message: string,
): Record<string, unknown> {
  const sandbox_id = typeof params.sandbox_id === 'string' ? params.sandbox_id : null;
  // Params were validated at submission: their strings are strings.
  const text = (key: string, fallback = ''): string => (typeof params[key] === 'string' ? params[key] : fallback);
  switch (tool) {
    case 'code_execute':
      return {
        success: false,
        sandbox_id,
        sandbox_kept: sandbox_id !== null,
        stdout: '',
        stderr: message,
        exit_code: -1,
        execution_time: 0,
        error: code,
      };
    case 'code_create_sandbox':
      return {
        success: false,
        sandbox_id: null,
        language: text('language'),
        network_enabled: params.network_enabled === true,
        allowed_domains: Array.isArray(params.allowed_domains) ? params.allowed_domains.map(String) : [],
        expires_at: null,
        error: code,
      };
    case 'code_install_package':
      return {
        success: false,
        sandbox_id,
        package: text('package'),
        registry: params.registry ?? 'pypi',
        stdout: '',
        stderr: message,
        error: code,
      };
    case 'code_write_file':
      return { success: false, sandbox_id, file_path: text('file_path'), error: code };
    case 'code_read_file':
      return { success: false, sandbox_id, file_path: text('file_path'), content: '', error: code };
    case 'code_list_files':
      return { success: false, sandbox_id, path: text('path', '.'), files: [], error: code };
    case 'code_destroy_sandbox':
      return { success: false, sandbox_id, message, error: code };
  }
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
