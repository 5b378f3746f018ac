import type { ToolName, ToolResult } from '@harombe/core';
import type { CodeExecutionTools } from './code-execution-tools.js';
import type { OutputListener } from './docker-exec.js';

/** One call of a tool, as a worker hands it over. */
export interface ToolCall {
  /** The job's params: each tool validates them again. */
  params: unknown;
  /** Whose sandboxes it may use: the job's tenant. */
  owner: string;
  /** The job it runs for (refused network attempts are reported with it). Default: none. */
  jobId?: string;
  /** Aborts the call; given to tools whose descriptor says abortOnCancel. Default: none. */
  signal?: AbortSignal;
  /** Told the output as it is written; given to tools whose descriptor says streamsOutput. Default: none. */
  onOutput?: OutputListener;
}

/** Runs one call of tool T; a refusal is a result with `success: false`, never an exception. */
export type ToolExecutor<T extends ToolName> = (tools: CodeExecutionTools, call: ToolCall) => Promise<ToolResult<T>>;

/**
 * The implementation of each tool of the catalogue (core's TOOLS), by name: the one part of a
 * tool that needs Docker. The compiler checks that every tool has one.
 */
export const TOOL_EXECUTORS = {
  code_execute: (tools, call) => tools.code_execute(call.params, call.owner, call.signal, call.onOutput, call.jobId),
  code_install_package: (tools, call) => tools.code_install_package(call.params, call.owner, call.jobId),
  code_write_file: (tools, call) => tools.code_write_file(call.params, call.owner),
  code_read_file: (tools, call) => tools.code_read_file(call.params, call.owner),
  code_list_files: (tools, call) => tools.code_list_files(call.params, call.owner),
  code_destroy_sandbox: (tools, call) => tools.code_destroy_sandbox(call.params, call.owner),
  code_create_sandbox: (tools, call) => tools.code_create_sandbox(call.params, call.owner),
} satisfies { readonly [T in ToolName]: ToolExecutor<T> };
