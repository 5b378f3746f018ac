import { z } from 'zod';
import { ErrorCode } from './errors.js';
import { Language } from './languages.js';

/**
 * The six tools, their parameters and their results: one catalog shared by every producer
 * and consumer. Field names and defaults follow the reference design.
 */

export const SandboxId = z.string().regex(/^sandbox-[0-9a-f]{16}$/, 'a sandbox_id looks like sandbox-<16 hex digits>');
export type SandboxId = z.infer<typeof SandboxId>;

/** A path relative to /workspace, as callers send it; the sandbox runtime checks it further. */
const WorkspacePath = z.string().min(1).max(4096);

/** A domain name or a `*.`-wildcard of one, as allowed for network-enabled sandboxes. */
export const DomainPattern = z
  .string()
  .max(253)
  .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, 'not a domain name');

export const CodeExecuteParams = z.strictObject({
  language: Language,
  code: z.string(),
  sandbox_id: SandboxId.optional(),
  /** Seconds; default the sandbox's max_execution_time (30). */
  timeout: z.number().positive().optional(),
  network_enabled: z.boolean().default(false),
  allowed_domains: z.array(DomainPattern).max(100).default([]),
});
export type CodeExecuteParams = z.input<typeof CodeExecuteParams>;

export const Registry = z.enum(['pypi', 'npm']);
export type Registry = z.infer<typeof Registry>;

export const CodeInstallPackageParams = z.strictObject({
  sandbox_id: SandboxId,
  package: z
    .string()
    .min(1)
    .max(214)
    .regex(/^[A-Za-z0-9@][A-Za-z0-9._\-/@=<>!~^*]*$/, 'not a package name with an optional version'),
  registry: Registry.default('pypi'),
});
export type CodeInstallPackageParams = z.input<typeof CodeInstallPackageParams>;

export const CodeWriteFileParams = z.strictObject({
  sandbox_id: SandboxId,
  file_path: WorkspacePath,
  content: z.string(),
});
export type CodeWriteFileParams = z.input<typeof CodeWriteFileParams>;

export const CodeReadFileParams = z.strictObject({
  sandbox_id: SandboxId,
  file_path: WorkspacePath,
});
export type CodeReadFileParams = z.input<typeof CodeReadFileParams>;

export const CodeListFilesParams = z.strictObject({
  sandbox_id: SandboxId,
  path: WorkspacePath.default('.'),
});
export type CodeListFilesParams = z.input<typeof CodeListFilesParams>;

export const CodeDestroySandboxParams = z.strictObject({
  sandbox_id: SandboxId,
});
export type CodeDestroySandboxParams = z.input<typeof CodeDestroySandboxParams>;

/** `error` is a stable code (or null); stdout/stderr stay apart. */
const ErrorField = ErrorCode.nullable();

export const ExecutionResult = z.strictObject({
  success: z.boolean(),
  sandbox_id: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  exit_code: z.number().int(),
  /** Seconds the program ran. */
  execution_time: z.number(),
  error: ErrorField,
});
export type ExecutionResult = z.infer<typeof ExecutionResult>;

export const InstallPackageResult = z.strictObject({
  success: z.boolean(),
  sandbox_id: z.string(),
  package: z.string(),
  registry: Registry,
  stdout: z.string(),
  stderr: z.string(),
  error: ErrorField,
});
export type InstallPackageResult = z.infer<typeof InstallPackageResult>;

export const WriteFileResult = z.strictObject({
  success: z.boolean(),
  sandbox_id: z.string(),
  file_path: z.string(),
  error: ErrorField,
});
export type WriteFileResult = z.infer<typeof WriteFileResult>;

export const ReadFileResult = z.strictObject({
  success: z.boolean(),
  sandbox_id: z.string(),
  file_path: z.string(),
  content: z.string(),
  error: ErrorField,
});
export type ReadFileResult = z.infer<typeof ReadFileResult>;

export const ListFilesResult = z.strictObject({
  success: z.boolean(),
  sandbox_id: z.string(),
  path: z.string(),
  files: z.array(z.string()),
  error: ErrorField,
});
export type ListFilesResult = z.infer<typeof ListFilesResult>;

export const DestroySandboxResult = z.strictObject({
  success: z.boolean(),
  sandbox_id: z.string(),
  message: z.string(),
  error: ErrorField.default(null),
});
export type DestroySandboxResult = z.infer<typeof DestroySandboxResult>;

/** The catalog: tool name → its params and result schemas. */
export const TOOLS = {
  code_execute: { params: CodeExecuteParams, result: ExecutionResult },
  code_install_package: { params: CodeInstallPackageParams, result: InstallPackageResult },
  code_write_file: { params: CodeWriteFileParams, result: WriteFileResult },
  code_read_file: { params: CodeReadFileParams, result: ReadFileResult },
  code_list_files: { params: CodeListFilesParams, result: ListFilesResult },
  code_destroy_sandbox: { params: CodeDestroySandboxParams, result: DestroySandboxResult },
} as const;

export const ToolName = z.enum(Object.keys(TOOLS) as [keyof typeof TOOLS, ...(keyof typeof TOOLS)[]]);
export type ToolName = z.infer<typeof ToolName>;
export type ToolParams<T extends ToolName> = z.output<(typeof TOOLS)[T]['params']>;
export type ToolResult<T extends ToolName> = z.output<(typeof TOOLS)[T]['result']>;
