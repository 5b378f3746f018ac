import { z } from 'zod';
import { bytes, duration, type DeploymentFacts } from './deployment-facts.js';
import type { ErrorCode } from './errors.js';
import { languageDescriptor, LANGUAGES, listInProse } from './languages.js';
import type { RiskLevel } from './risk.js';
import {
  CodeCreateSandboxParams,
  CodeDestroySandboxParams,
  CodeExecuteParams,
  CodeInstallPackageParams,
  CodeListFilesParams,
  CodeReadFileParams,
  CodeWriteFileParams,
  CreateSandboxResult,
  DestroySandboxResult,
  ExecutionResult,
  InstallPackageResult,
  ListFilesResult,
  ReadFileResult,
  WriteFileResult,
  type Registry,
} from './tools.js';

/**
 * What a tool may do, as MCP's tool annotations say it (hints to a caller, never a guarantee):
 * readOnly, destructive (may undo or overwrite), idempotent (the same call twice does no more),
 * openWorld (reaches beyond the fleet).
 */
export interface ToolHints {
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/**
 * The risk of a call that no more specific rule of the default policy matches: the last of the
 * tool's default rules (packages/policy adds, before it, the rules that refine it).
 */
export interface DefaultRisk {
  risk: RiskLevel;
  /** Seconds an approver has. Default: the level's (policy's DEFAULT_TIMEOUTS). */
  timeout?: number;
  /** The rule's description: the reason a job carries. */
  description: string;
}

/**
 * Everything the fleet knows of one tool, from which every part derives what it needs: the API
 * (validation), the worker (dispatch), the job store (results of calls that did not run), the
 * policy (default rules), Slack (approval messages), the client (a method per tool), MCP (tool
 * definitions). Only the tool's implementation lives elsewhere: in the sandbox runtime
 * (packages/sandbox, TOOL_EXECUTORS), which needs Docker. Adding a tool: docs/development.md.
 */
export interface ToolDescriptor<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  /** Its parameters, as the API, the worker and MCP check them. */
  params: P;
  /** Its result, the reference design's shape: `success`, the fields, `error` (a code or null). */
  result: R;
  /** A valid call (parameters as a caller sends them): for examples and the catalogue's checks. */
  example: z.input<P>;
  /** A few words saying what it does (MCP's title). */
  title: string;
  /** What it does, what it costs in approval and what persists, with the deployment's limits (MCP). */
  describe(facts: DeploymentFacts): string;
  /** What each parameter means (added to its JSON Schema for MCP); every parameter has one. */
  parameters: { readonly [K in keyof z.input<P>]-?: string };
  /** MCP's tool annotations. */
  hints: ToolHints;
  /**
   * The result of a call that ended without the tool having run (denied, expired, cancelled,
   * failed): the result's shape, `success: false` and `error` the code. `params` were validated
   * at submission.
   */
  failedResult(params: Record<string, unknown>, code: ErrorCode, message: string): z.output<R>;
  /** What the call would do, on one line, for the approver (Slack's approval messages). */
  summary(params: Record<string, unknown>): string;
  /** The text an approver reviews in full (code, a file's content), when the call carries one. */
  review?(params: Record<string, unknown>): string;
  /** The default policy's risk for a call no more specific default rule matches. */
  defaultRisk: DefaultRisk;
  /** Whether a running call is aborted when its job is cancelled (else it runs to its end). */
  abortOnCancel: boolean;
  /** Whether its output goes to the job's event stream as it is written. */
  streamsOutput: boolean;
  /**
   * Whether what it does depends on the network of the kept sandbox it names (what runs there has
   * it): the policy judges such a call as if its parameters asked for that network.
   */
  usesSandboxNetwork: boolean;
  /** Whether the call makes a sandbox that lives on: such jobs count against quotas and capacity. */
  keepsSandbox(params: Record<string, unknown>): boolean;
}

/** Checks one descriptor against its own parameter and result schemas. */
function tool<P extends z.ZodType, R extends z.ZodType>(descriptor: ToolDescriptor<P, R>): ToolDescriptor<P, R> {
  return descriptor;
}

/** A parameter as text (`fallback` when it is not a string): params were validated at submission. */
function text(params: Record<string, unknown>, key: string, fallback = ''): string {
  const value = params[key];
  return typeof value === 'string' ? value : fallback;
}

/** The sandbox a call names, null when none. */
function sandboxIdOf(params: Record<string, unknown>): string | null {
  return typeof params.sandbox_id === 'string' ? params.sandbox_id : null;
}

/**
 * The sandbox a file tool names: validated params always name one (null only for a record that
 * never passed validation, as before).
 */
function keptSandboxIdOf(params: Record<string, unknown>): string {
  return sandboxIdOf(params) as string;
}

const never = (): boolean => false;

const EXAMPLE_SANDBOX = 'sandbox-0123456789abcdef';

const WAITING =
  'While the call waits for a person, progress notifications say the risk, the rule that matched and when the approval ' +
  'expires; a denial or an expiry ends the call with an error saying who denied it and why, or that it expired. ' +
  'Cancelling the call cancels the job.';

const KEPT =
  'The sandbox must be a kept one: made by code_create_sandbox, or by code_execute with keep_sandbox: true (the ' +
  'result names it), and not yet destroyed. Paths are relative to /workspace (no absolute paths, no "..").';

const ERRORS =
  'A result whose error is set (or a call that could not run) comes back as a tool error (isError) whose text starts ' +
  'with the stable error code; the result object is still in structuredContent.';

/** `python, javascript (Node.js) or shell (bash)`. */
function languageChoices(): string {
  return listInProse(
    LANGUAGES.map((language) => {
      const runtime = languageDescriptor(language).runtime;
      return runtime ? `${language} (${runtime})` : language;
    }),
    'or',
  );
}

/** The languages whose sandboxes take packages, with their registries. */
function installers(): { language: string; registry: string; manager: string; directory: string }[] {
  return LANGUAGES.flatMap((language) => {
    const installer = languageDescriptor(language).installer;
    return installer ? [{ language, ...installer }] : [];
  });
}

/**
 * The tool catalogue: the six tools of the reference design, and code_create_sandbox (POST
 * /v1/sandboxes, also a job). Their order is the order tools are listed in (MCP, the policy).
 */
export const TOOLS = {
  code_execute: tool({
    params: CodeExecuteParams,
    result: ExecutionResult,
    example: { language: 'python', code: 'print(6 * 7)' },
    title: 'Run code in a sandbox',
    describe: (facts) => {
      const { limits, maxLimits } = facts;
      const languages = listInProse(
        LANGUAGES.map((language) => languageDescriptor(language).title),
        'or',
      );
      return [
        `Run a ${languages} program in an isolated gVisor sandbox and return its stdout, stderr and exit code.`,
        `Sandboxes: without sandbox_id the program runs in a one-shot sandbox that is removed as soon as it ends (its files are gone). With keep_sandbox: true that sandbox is kept instead: the result's sandbox_id (sandbox_kept: true) then serves later code_execute, code_write_file, code_read_file, code_list_files and code_install_package calls, and it lives until code_destroy_sandbox or until it sits unused for ${duration(facts.idleTimeoutSeconds)}. With sandbox_id the program runs in that kept sandbox, in /workspace, with the files earlier calls left there.`,
        `Limits: ${duration(limits.max_execution_time)} per run by default (timeout may ask for up to ${duration(maxLimits.max_execution_time)}; a run past its timeout ends with error TimeoutError and the output so far), ${limits.max_memory_mb} MiB of memory (MemoryLimitExceeded), ${limits.max_cpu_cores} CPU cores, ${limits.max_disk_mb} MiB of disk in /workspace, ${bytes(limits.max_output_bytes)} each of stdout and stderr (the rest is dropped and "[OUTPUT TRUNCATED]" appended), code and stdin together at most ${bytes(facts.maxCodeBytes)}.`,
        'stdin: text given to the program on its standard input, which is then closed; there is no interactive input.',
        'Network is off. network_enabled: true with allowed_domains gives the sandbox HTTP(S) access to those domains only, and makes the call CRITICAL.',
        'Approval: under the default policy every code_execute needs a person: HIGH risk, who has 60 s to decide; CRITICAL, 30 s, with network access or code with a dangerous pattern (subprocess, os.system, eval, exec, child_process, rm -rf, curl | sh, ...).',
        WAITING,
        ERRORS,
        'Result: success (exit code 0 and no error), exit_code, stdout, stderr (kept apart), execution_time in seconds, error (a code such as TimeoutError or MemoryLimitExceeded, else null), sandbox_id and sandbox_kept. A program that exits non-zero is no tool error: its error is null, read exit_code and stderr.',
      ].join('\n\n');
    },
    parameters: {
      language: languageChoices(),
      code: 'the program text',
      stdin: "text fed to the program's standard input, then closed",
      sandbox_id: 'a kept sandbox to run in (from an earlier result); default: a one-shot sandbox of its own',
      keep_sandbox: 'without sandbox_id: keep the new sandbox for later calls instead of removing it',
      keep_background:
        'in a kept sandbox: let processes the program starts in the background run on after it ends (HIGH risk at least; by default they are ended with it)',
      timeout: "seconds the program may run; default the deployment's max_execution_time",
      network_enabled: 'give a new sandbox HTTP(S) access to allowed_domains (CRITICAL risk)',
      allowed_domains: 'domains a network-enabled sandbox may reach, exact or *.example.com',
    },
    hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    failedResult: (params, code, message) => {
      const sandbox_id = sandboxIdOf(params);
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
    },
    summary: (p) => {
      const where = p.sandbox_id
        ? ` in ${text(p, 'sandbox_id')}`
        : p.keep_sandbox === true
          ? ' in a new kept sandbox'
          : '';
      // Its daemons outlive the approval: the approver must see that they will.
      const background = p.keep_background === true ? ', keeping its background processes running afterwards' : '';
      return `${text(p, 'language')} code${where}${background}`;
    },
    review: (p) => text(p, 'code'),
    defaultRisk: { risk: 'HIGH', timeout: 60, description: 'Code execution' },
    abortOnCancel: true,
    streamsOutput: true,
    usesSandboxNetwork: true,
    keepsSandbox: (p) => p.keep_sandbox === true && p.sandbox_id === undefined,
  }),
  code_install_package: tool({
    params: CodeInstallPackageParams,
    result: InstallPackageResult,
    example: { sandbox_id: EXAMPLE_SANDBOX, package: 'requests==2.32.3', registry: 'pypi' },
    title: 'Install a package into a kept sandbox',
    describe: (facts) =>
      [
        `Install a package into a kept sandbox for its later code_execute calls: ${installers()
          .map((i) => `${i.manager} from registry ${i.registry} (${i.language} sandboxes, into ${i.directory})`)
          .join(', ')}. package may carry a version (requests==2.32.3, lodash@4).`,
        `Needs a kept sandbox made with network_enabled: true and a registry the deployment allows: otherwise the result's error is NetworkDisabled or RegistryNotAllowed. An install may take ${duration(facts.installTimeoutSeconds)}; a failed one answers InstallFailed with the package manager's output in stderr.`,
        KEPT,
        'Approval: HIGH risk under the default policy (a person has 60 s to decide); CRITICAL (30 s) for a registry that is not allowed.',
        WAITING,
        ERRORS,
      ].join('\n\n'),
    parameters: {
      sandbox_id: 'a kept sandbox made with network_enabled',
      package: 'package name, optionally with a version (requests==2.32.3, lodash@4)',
      registry: listInProse(
        installers().map(
          (i) => `${i.registry} (${i.manager === i.registry ? '' : `${i.manager}, `}${i.language} sandboxes)`,
        ),
        'or',
      ),
    },
    hints: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    failedResult: (params, code, message) => ({
      success: false,
      sandbox_id: keptSandboxIdOf(params),
      package: text(params, 'package'),
      registry: (params.registry ?? 'pypi') as Registry,
      stdout: '',
      stderr: message,
      error: code,
    }),
    summary: (p) => `install ${text(p, 'package')} from ${text(p, 'registry', 'pypi')} in ${text(p, 'sandbox_id')}`,
    defaultRisk: { risk: 'CRITICAL', timeout: 30, description: 'Package installation from a non-standard registry' },
    abortOnCancel: false,
    streamsOutput: false,
    usesSandboxNetwork: true,
    keepsSandbox: never,
  }),
  code_write_file: tool({
    params: CodeWriteFileParams,
    result: WriteFileResult,
    example: { sandbox_id: EXAMPLE_SANDBOX, file_path: 'notes/hello.txt', content: 'hello\n' },
    title: 'Write a file into a kept sandbox',
    describe: (facts) =>
      [
        `Write a text file (content, at most ${bytes(facts.maxFileBytes)}) to file_path in a kept sandbox's /workspace, creating missing parent directories and replacing an existing file. It stays until the sandbox is destroyed.`,
        KEPT,
        'Approval: MEDIUM risk under the default policy (a person has 120 s to decide); HIGH (60 s) for a file that runs or that an interpreter loads on its own (.py .js .sh, .pth, sitecustomize, site-packages/, node_modules/, .bashrc, .npmrc, ...); CRITICAL (30 s) when the content holds a dangerous pattern.',
        WAITING,
        ERRORS,
        'Errors in the result: InvalidPath, IsADirectory, NotADirectory, FileTooLarge, DiskLimitExceeded, SandboxNotFound.',
      ].join('\n\n'),
    parameters: {
      sandbox_id: 'a kept sandbox',
      file_path: 'path relative to /workspace',
      content: 'the text to write',
    },
    hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    failedResult: (params, code) => ({
      success: false,
      sandbox_id: keptSandboxIdOf(params),
      file_path: text(params, 'file_path'),
      error: code,
    }),
    summary: (p) => `write ${text(p, 'file_path')} in ${text(p, 'sandbox_id')}`,
    review: (p) => text(p, 'content'),
    defaultRisk: { risk: 'MEDIUM', timeout: 120, description: 'Writing a non-executable file' },
    abortOnCancel: false,
    streamsOutput: false,
    usesSandboxNetwork: false,
    keepsSandbox: never,
  }),
  code_read_file: tool({
    params: CodeReadFileParams,
    result: ReadFileResult,
    example: { sandbox_id: EXAMPLE_SANDBOX, file_path: 'notes/hello.txt' },
    title: 'Read a file from a kept sandbox',
    describe: (facts) =>
      [
        `Read a text file (at most ${bytes(facts.maxFileBytes)}) from a kept sandbox's /workspace; bytes that are not UTF-8 read as U+FFFD.`,
        KEPT,
        'Approval: MEDIUM risk under the default policy: a person has 120 s to decide.',
        WAITING,
        ERRORS,
        'Errors in the result: FileNotFound, IsADirectory, InvalidPath, FileTooLarge, SandboxNotFound.',
      ].join('\n\n'),
    parameters: {
      sandbox_id: 'a kept sandbox',
      file_path: 'path relative to /workspace',
    },
    hints: { readOnlyHint: true, openWorldHint: false },
    failedResult: (params, code) => ({
      success: false,
      sandbox_id: keptSandboxIdOf(params),
      file_path: text(params, 'file_path'),
      content: '',
      error: code,
    }),
    summary: (p) => `read ${text(p, 'file_path')} in ${text(p, 'sandbox_id')}`,
    defaultRisk: { risk: 'MEDIUM', timeout: 120, description: 'Reading a file from the workspace' },
    abortOnCancel: false,
    streamsOutput: false,
    usesSandboxNetwork: false,
    keepsSandbox: never,
  }),
  code_list_files: tool({
    params: CodeListFilesParams,
    result: ListFilesResult,
    example: { sandbox_id: EXAMPLE_SANDBOX, path: 'notes' },
    title: 'List files of a kept sandbox',
    describe: () =>
      [
        'List the names in a directory of a kept sandbox\'s /workspace (path, default ".": /workspace itself).',
        KEPT,
        'Approval: MEDIUM risk under the default policy: a person has 120 s to decide.',
        WAITING,
        ERRORS,
        'Errors in the result: FileNotFound, NotADirectory, InvalidPath, SandboxNotFound.',
      ].join('\n\n'),
    parameters: {
      sandbox_id: 'a kept sandbox',
      path: 'directory relative to /workspace',
    },
    hints: { readOnlyHint: true, openWorldHint: false },
    failedResult: (params, code) => ({
      success: false,
      sandbox_id: keptSandboxIdOf(params),
      path: text(params, 'path', '.'),
      files: [],
      error: code,
    }),
    summary: (p) => `list ${text(p, 'path') || '.'} in ${text(p, 'sandbox_id')}`,
    defaultRisk: { risk: 'MEDIUM', timeout: 120, description: 'Listing files in the workspace' },
    abortOnCancel: false,
    streamsOutput: false,
    usesSandboxNetwork: false,
    keepsSandbox: never,
  }),
  code_destroy_sandbox: tool({
    params: CodeDestroySandboxParams,
    result: DestroySandboxResult,
    example: { sandbox_id: EXAMPLE_SANDBOX },
    title: 'Destroy a kept sandbox',
    describe: (facts) =>
      [
        `Destroy a kept sandbox and every file in it, now (an unused one is destroyed anyway after ${duration(facts.idleTimeoutSeconds)}). One-shot sandboxes need no destroying.`,
        'Approval: none; LOW risk, it runs at once.',
        'A sandbox that is gone, or that belongs to another tenant, answers error SandboxNotFound.',
        ERRORS,
      ].join('\n\n'),
    parameters: {
      sandbox_id: 'the kept sandbox to destroy',
    },
    hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    failedResult: (params, code, message) => ({
      success: false,
      sandbox_id: keptSandboxIdOf(params),
      message,
      error: code,
    }),
    summary: (p) => `destroy ${text(p, 'sandbox_id')}`,
    defaultRisk: { risk: 'LOW', description: 'Destroying a sandbox (cleanup)' },
    abortOnCancel: false,
    streamsOutput: false,
    usesSandboxNetwork: false,
    keepsSandbox: never,
  }),
  code_create_sandbox: tool({
    params: CodeCreateSandboxParams,
    result: CreateSandboxResult,
    example: { language: 'python' },
    title: 'Make a kept sandbox',
    describe: (facts) => {
      const { limits, maxLimits } = facts;
      return [
        `Make a kept sandbox up front, with no program run in it, and answer its sandbox_id for code_execute (sandbox_id), the file tools and code_install_package. It lives until code_destroy_sandbox or until it sits unused for idle_timeout seconds (default ${duration(facts.idleTimeoutSeconds)}, at most ${duration(facts.maxIdleTimeoutSeconds)}); its expires_at says when.`,
        `limits overrides the defaults for this sandbox (${limits.max_memory_mb} MiB memory, ${limits.max_cpu_cores} CPU cores, ${limits.max_disk_mb} MiB disk, ${duration(limits.max_execution_time)} per run, ${bytes(limits.max_output_bytes)} of output), each at most ${maxLimits.max_memory_mb} MiB, ${maxLimits.max_cpu_cores} cores, ${maxLimits.max_disk_mb} MiB, ${duration(maxLimits.max_execution_time)}, ${bytes(maxLimits.max_output_bytes)} (else LimitTooHigh). Network is fixed at creation: network_enabled: true with allowed_domains (HTTP(S) to those domains only), needed for code_install_package.`,
        `Quota: a tenant holds at most ${facts.maxSandboxesPerTenant} kept sandboxes (QuotaExceeded: destroy one first); CapacityExceeded means every worker is full, try again later.`,
        'Approval: none without network (LOW risk, it runs at once); with network_enabled it is CRITICAL and waits for a person (30 s).',
        WAITING,
        ERRORS,
      ].join('\n\n');
    },
    parameters: {
      language: `${languageChoices()}: the interpreter of its code_execute calls`,
      limits: "overrides of the deployment's default limits for this sandbox, each at most its ceiling",
      network_enabled: 'give the sandbox HTTP(S) access to allowed_domains (CRITICAL risk); fixed for its life',
      allowed_domains: 'domains the sandbox may reach, exact or *.example.com',
      idle_timeout: "seconds it may sit unused before it is destroyed; default the deployment's idle_timeout",
    },
    hints: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    failedResult: (params, code) => ({
      success: false,
      sandbox_id: null,
      language: text(params, 'language'),
      network_enabled: params.network_enabled === true,
      allowed_domains: Array.isArray(params.allowed_domains) ? params.allowed_domains.map(String) : [],
      expires_at: null,
      error: code,
    }),
    summary: (p) => `create a kept ${text(p, 'language')} sandbox`,
    defaultRisk: { risk: 'LOW', description: 'Creating a sandbox' },
    abortOnCancel: false,
    streamsOutput: false,
    usesSandboxNetwork: false,
    keepsSandbox: () => true,
  }),
};

export type ToolName = keyof typeof TOOLS;
/** The tools' names, in catalogue order. */
export const TOOL_NAMES = Object.keys(TOOLS) as [ToolName, ...ToolName[]];
export const ToolName = z.enum(TOOL_NAMES);
export type ToolParams<T extends ToolName> = z.output<(typeof TOOLS)[T]['params']>;
/** What a caller may send for a tool (defaults not yet applied). */
export type ToolInput<T extends ToolName> = z.input<(typeof TOOLS)[T]['params']>;
export type ToolResult<T extends ToolName> = z.output<(typeof TOOLS)[T]['result']>;

/** A tool's descriptor as the contract types it, for code that treats every tool alike. */
export function toolDescriptor(tool: ToolName): ToolDescriptor {
  return TOOLS[tool];
}

/** Whether a job makes a sandbox that lives on: such jobs count against quotas and capacity. */
export function createsKeptSandbox(tool: string, params: Record<string, unknown>): boolean {
  const parsed = ToolName.safeParse(tool);
  return parsed.success && toolDescriptor(parsed.data).keepsSandbox(params);
}
