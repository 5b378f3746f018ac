import type {
  CreateSandboxResult,
  DestroySandboxResult,
  ExecutionResult,
  InstallPackageResult,
  ListFilesResult,
  ReadFileResult,
  ToolResult,
  WriteFileResult,
} from '@harombe/core';
import type { McpToolName } from './tool-descriptions.js';

/** A labelled block of text the program or the sandbox produced; `(empty)` says there was none. */
function section(label: string, text: string): string {
  return `--- ${label} ---\n${text === '' ? '(empty)' : text.replace(/\n$/, '')}`;
}

/** `error: none`, or the code and, when the job said why, its message. */
function errorLine(code: string | null, message: string | undefined): string {
  if (code === null) return 'error: none';
  return `error: ${code}${message ? ` (${message})` : ''}`;
}

function sandboxLine(result: ExecutionResult): string {
  if (result.sandbox_id === null) return 'sandbox_id: none (no sandbox was reached)';
  const kept = result.sandbox_kept ? 'kept for later calls' : 'one-shot, removed once the program ended';
  return `sandbox_id: ${result.sandbox_id} (${kept})`;
}

/**
 * The text content of a result, for an agent to read: the fields on labelled lines, then stdout,
 * stderr, file content or names in sections of their own. `message` is the job's explanation of
 * an error, when it has one.
 */
export function resultText<T extends McpToolName>(tool: T, result: ToolResult<T>, message?: string): string {
  switch (tool) {
    case 'code_execute': {
      const r = result as ExecutionResult;
      return [
        `success: ${r.success}`,
        `exit_code: ${r.exit_code}`,
        errorLine(r.error, message),
        sandboxLine(r),
        `execution_time: ${r.execution_time} s`,
        section('stdout', r.stdout),
        section('stderr', r.stderr),
      ].join('\n');
    }
    case 'code_install_package': {
      const r = result as InstallPackageResult;
      return [
        `success: ${r.success}`,
        `package: ${r.package} (${r.registry})`,
        errorLine(r.error, message),
        `sandbox_id: ${r.sandbox_id}`,
        section('stdout', r.stdout),
        section('stderr', r.stderr),
      ].join('\n');
    }
    case 'code_write_file': {
      const r = result as WriteFileResult;
      return [
        `success: ${r.success}`,
        `file_path: ${r.file_path}`,
        errorLine(r.error, message),
        `sandbox_id: ${r.sandbox_id}`,
      ].join('\n');
    }
    case 'code_read_file': {
      const r = result as ReadFileResult;
      return [
        `success: ${r.success}`,
        `file_path: ${r.file_path}`,
        errorLine(r.error, message),
        `sandbox_id: ${r.sandbox_id}`,
        section('content', r.content),
      ].join('\n');
    }
    case 'code_list_files': {
      const r = result as ListFilesResult;
      return [
        `success: ${r.success}`,
        `path: ${r.path}`,
        errorLine(r.error, message),
        `sandbox_id: ${r.sandbox_id}`,
        section(`files (${r.files.length})`, r.files.join('\n')),
      ].join('\n');
    }
    case 'code_destroy_sandbox': {
      const r = result as DestroySandboxResult;
      return [
        `success: ${r.success}`,
        `sandbox_id: ${r.sandbox_id}`,
        errorLine(r.error, message === r.message ? undefined : message),
        `message: ${r.message}`,
      ].join('\n');
    }
    case 'code_create_sandbox': {
      const r = result as CreateSandboxResult;
      const network = r.network_enabled ? `on, to ${r.allowed_domains.join(', ') || 'no domain'}` : 'off';
      return [
        `success: ${r.success}`,
        errorLine(r.error, message),
        `sandbox_id: ${r.sandbox_id ?? 'none (no sandbox was made)'}`,
        `language: ${r.language}`,
        `network: ${network}`,
        `expires_at: ${r.expires_at ?? 'none'} (unless used before)`,
      ].join('\n');
    }
    default:
      return JSON.stringify(result);
  }
}
