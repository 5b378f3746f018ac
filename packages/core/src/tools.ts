import { z } from 'zod';
import { ErrorCode } from './errors.js';
import { ID_FORMATS } from './id-formats.js';
import { Language, REGISTRIES } from './language-schema.js';
import { PartialLimits } from './limits.js';

/**
 * The tools' parameters and results, shared by every producer and consumer (the catalogue,
 * tool-catalogue.ts, says what else each tool is). Field names and defaults follow the reference
 * design.
 */

export const SandboxId = z.string().regex(ID_FORMATS.sandbox_id.pattern, ID_FORMATS.sandbox_id.message);
export type SandboxId = z.infer<typeof SandboxId>;

/** A path relative to /workspace, as callers send it; the sandbox runtime checks it further. */
const WorkspacePath = z.string().min(1).max(4096);

/** A domain name or a `*.`-wildcard of one, as allowed for network-enabled sandboxes. */
export const DomainPattern = z
  .string()
  .max(253)
  .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, 'not a domain name');

export const CodeExecuteParams = z
  .strictObject({
    language: Language,
    code: z.string(),
    /** Text fed to the program's stdin, then closed; counted with the code against max_code_bytes. */
    stdin: z.string().optional(),
    /** A kept sandbox to run in. Without it the program runs in a sandbox of its own. */
    sandbox_id: SandboxId.optional(),
    /**
     * Without sandbox_id: keep the new sandbox for later calls (the reference design's behaviour).
     * Default false: a one-shot sandbox, removed as soon as the program has ended.
     */
    keep_sandbox: z.boolean().default(false),
    /**
     * Let what the program starts in the background (daemons) live on in its kept sandbox after it
     * has ended; they still cannot reach later executions' input and output. Needs sandbox_id or
     * keep_sandbox. Default false: whatever the execution started is ended once its program has.
     */
    keep_background: z.boolean().default(false),
    /** Seconds; default the sandbox's max_execution_time (30). */
    timeout: z.number().positive().optional(),
    network_enabled: z.boolean().default(false),
    allowed_domains: z.array(DomainPattern).max(100).default([]),
  })
  .refine((p) => !p.keep_background || p.sandbox_id !== undefined || p.keep_sandbox, {
    path: ['keep_background'],
    message: 'needs a kept sandbox (sandbox_id or keep_sandbox): a one-shot sandbox is gone with its program',
  });
export type CodeExecuteParams = z.input<typeof CodeExecuteParams>;

/** The registries of the languages' package installers (see LANGUAGE_CATALOGUE). */
export const Registry = z.enum(REGISTRIES);
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

/** Makes a kept sandbox up front (POST /v1/sandboxes), with no program run in it. */
export const CodeCreateSandboxParams = z.strictObject({
  language: Language,
  /** Overrides of the default limits, each at most the deployment's ceiling. */
  limits: PartialLimits.optional(),
  network_enabled: z.boolean().default(false),
  allowed_domains: z.array(DomainPattern).max(100).default([]),
  /** Seconds it may sit unused before it is destroyed. Default: the deployment's idle_timeout (900). */
  idle_timeout: z.number().positive().optional(),
});
export type CodeCreateSandboxParams = z.input<typeof CodeCreateSandboxParams>;

/** `error` is a stable code (or null); stdout/stderr stay apart. */
const ErrorField = ErrorCode.nullable();

export const ExecutionResult = z.strictObject({
  success: z.boolean(),
  /** The sandbox the program ran in (null when none was reached). */
  sandbox_id: z.string().nullable(),
  /**
   * Whether `sandbox_id` lives on for later calls: true for a kept sandbox, false for a one-shot
   * one, which is gone once the result is written (using its id then answers SandboxNotFound).
   */
  sandbox_kept: z.boolean(),
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

export const CreateSandboxResult = z.strictObject({
  success: z.boolean(),
  sandbox_id: z.string().nullable(),
  language: z.string(),
  network_enabled: z.boolean(),
  allowed_domains: z.array(z.string()),
  /** ISO 8601: when it is destroyed unless used before; null when none was made. */
  expires_at: z.string().nullable(),
  error: ErrorField,
});
export type CreateSandboxResult = z.infer<typeof CreateSandboxResult>;
