import type { DeploymentFacts } from './deployment-facts.js';

/** The six tools of the reference design, and code_create_sandbox, as the MCP server offers them. */
export const MCP_TOOL_NAMES = [
  'code_execute',
  'code_install_package',
  'code_write_file',
  'code_read_file',
  'code_list_files',
  'code_destroy_sandbox',
  'code_create_sandbox',
] as const;
export type McpToolName = (typeof MCP_TOOL_NAMES)[number];

export const TOOL_TITLES: Readonly<Record<McpToolName, string>> = {
  code_execute: 'Run code in a sandbox',
  code_install_package: 'Install a package into a kept sandbox',
  code_write_file: 'Write a file into a kept sandbox',
  code_read_file: 'Read a file from a kept sandbox',
  code_list_files: 'List files of a kept sandbox',
  code_destroy_sandbox: 'Destroy a kept sandbox',
  code_create_sandbox: 'Make a kept sandbox',
};

/** `1 MiB`, `512 KiB`, `1500 bytes`. */
export function bytes(n: number): string {
  if (n >= 1_048_576 && n % 1_048_576 === 0) return `${n / 1_048_576} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** `30 s`, `15 min`, `2 h`, `1 day`. */
export function duration(seconds: number): string {
  if (seconds >= 86_400 && seconds % 86_400 === 0) return seconds === 86_400 ? '1 day' : `${seconds / 86_400} days`;
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

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

/** What each tool does, what it costs in approval and what persists, with the deployment's limits. */
export function toolDescriptions(facts: DeploymentFacts): Record<McpToolName, string> {
  const { limits, maxLimits } = facts;
  const idle = duration(facts.idleTimeoutSeconds);
  return {
    code_execute: [
      'Run a Python, JavaScript or shell program in an isolated gVisor sandbox and return its stdout, stderr and exit code.',
      `Sandboxes: without sandbox_id the program runs in a one-shot sandbox that is removed as soon as it ends (its files are gone). With keep_sandbox: true that sandbox is kept instead: the result's sandbox_id (sandbox_kept: true) then serves later code_execute, code_write_file, code_read_file, code_list_files and code_install_package calls, and it lives until code_destroy_sandbox or until it sits unused for ${idle}. With sandbox_id the program runs in that kept sandbox, in /workspace, with the files earlier calls left there.`,
      `Limits: ${duration(limits.max_execution_time)} per run by default (timeout may ask for up to ${duration(maxLimits.max_execution_time)}; a run past its timeout ends with error TimeoutError and the output so far), ${limits.max_memory_mb} MiB of memory (MemoryLimitExceeded), ${limits.max_cpu_cores} CPU cores, ${limits.max_disk_mb} MiB of disk in /workspace, ${bytes(limits.max_output_bytes)} each of stdout and stderr (the rest is dropped and "[OUTPUT TRUNCATED]" appended), code and stdin together at most ${bytes(facts.maxCodeBytes)}.`,
      'stdin: text given to the program on its standard input, which is then closed; there is no interactive input.',
      'Network is off. network_enabled: true with allowed_domains gives the sandbox HTTP(S) access to those domains only, and makes the call CRITICAL.',
      'Approval: under the default policy every code_execute needs a person: HIGH risk, who has 60 s to decide; CRITICAL, 30 s, with network access or code with a dangerous pattern (subprocess, os.system, eval, exec, child_process, rm -rf, curl | sh, ...).',
      WAITING,
      ERRORS,
      'Result: success (exit code 0 and no error), exit_code, stdout, stderr (kept apart), execution_time in seconds, error (a code such as TimeoutError or MemoryLimitExceeded, else null), sandbox_id and sandbox_kept. A program that exits non-zero is no tool error: its error is null, read exit_code and stderr.',
    ].join('\n\n'),
    code_install_package: [
      'Install a package into a kept sandbox for its later code_execute calls: pip from registry pypi (python sandboxes, into /workspace/.python-packages), npm from registry npm (javascript sandboxes, into /workspace/node_modules). package may carry a version (requests==2.32.3, lodash@4).',
      `Needs a kept sandbox made with network_enabled: true and a registry the deployment allows: otherwise the result's error is NetworkDisabled or RegistryNotAllowed. An install may take ${duration(facts.installTimeoutSeconds)}; a failed one answers InstallFailed with the package manager's output in stderr.`,
      KEPT,
      'Approval: HIGH risk under the default policy (a person has 60 s to decide); CRITICAL (30 s) for a registry that is not allowed.',
      WAITING,
      ERRORS,
    ].join('\n\n'),
    code_write_file: [
      `Write a text file (content, at most ${bytes(facts.maxFileBytes)}) to file_path in a kept sandbox's /workspace, creating missing parent directories and replacing an existing file. It stays until the sandbox is destroyed.`,
      KEPT,
      'Approval: MEDIUM risk under the default policy (a person has 120 s to decide); HIGH (60 s) for a file that runs or that an interpreter loads on its own (.py .js .sh, .pth, sitecustomize, site-packages/, node_modules/, .bashrc, .npmrc, ...); CRITICAL (30 s) when the content holds a dangerous pattern.',
      WAITING,
      ERRORS,
      'Errors in the result: InvalidPath, IsADirectory, NotADirectory, FileTooLarge, DiskLimitExceeded, SandboxNotFound.',
    ].join('\n\n'),
    code_read_file: [
      `Read a text file (at most ${bytes(facts.maxFileBytes)}) from a kept sandbox's /workspace; bytes that are not UTF-8 read as U+FFFD.`,
      KEPT,
      'Approval: MEDIUM risk under the default policy: a person has 120 s to decide.',
      WAITING,
      ERRORS,
      'Errors in the result: FileNotFound, IsADirectory, InvalidPath, FileTooLarge, SandboxNotFound.',
    ].join('\n\n'),
    code_list_files: [
      'List the names in a directory of a kept sandbox\'s /workspace (path, default ".": /workspace itself).',
      KEPT,
      'Approval: MEDIUM risk under the default policy: a person has 120 s to decide.',
      WAITING,
      ERRORS,
      'Errors in the result: FileNotFound, NotADirectory, InvalidPath, SandboxNotFound.',
    ].join('\n\n'),
    code_destroy_sandbox: [
      `Destroy a kept sandbox and every file in it, now (an unused one is destroyed anyway after ${idle}). One-shot sandboxes need no destroying.`,
      'Approval: none; LOW risk, it runs at once.',
      'A sandbox that is gone, or that belongs to another tenant, answers error SandboxNotFound.',
      ERRORS,
    ].join('\n\n'),
    code_create_sandbox: [
      `Make a kept sandbox up front, with no program run in it, and answer its sandbox_id for code_execute (sandbox_id), the file tools and code_install_package. It lives until code_destroy_sandbox or until it sits unused for idle_timeout seconds (default ${idle}, at most ${duration(facts.maxIdleTimeoutSeconds)}); its expires_at says when.`,
      `limits overrides the defaults for this sandbox (${limits.max_memory_mb} MiB memory, ${limits.max_cpu_cores} CPU cores, ${limits.max_disk_mb} MiB disk, ${duration(limits.max_execution_time)} per run, ${bytes(limits.max_output_bytes)} of output), each at most ${maxLimits.max_memory_mb} MiB, ${maxLimits.max_cpu_cores} cores, ${maxLimits.max_disk_mb} MiB, ${duration(maxLimits.max_execution_time)}, ${bytes(maxLimits.max_output_bytes)} (else LimitTooHigh). Network is fixed at creation: network_enabled: true with allowed_domains (HTTP(S) to those domains only), needed for code_install_package.`,
      `Quota: a tenant holds at most ${facts.maxSandboxesPerTenant} kept sandboxes (QuotaExceeded: destroy one first); CapacityExceeded means every worker is full, try again later.`,
      'Approval: none without network (LOW risk, it runs at once); with network_enabled it is CRITICAL and waits for a person (30 s).',
      WAITING,
      ERRORS,
    ].join('\n\n'),
  };
}

/** What each parameter means; added to the JSON Schemas of the contracts. */
export const PARAMETER_DESCRIPTIONS: Readonly<Record<McpToolName, Readonly<Record<string, string>>>> = {
  code_execute: {
    language: 'python, javascript (Node.js) or shell (bash)',
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
  code_install_package: {
    sandbox_id: 'a kept sandbox made with network_enabled',
    package: 'package name, optionally with a version (requests==2.32.3, lodash@4)',
    registry: 'pypi (pip, python sandboxes) or npm (javascript sandboxes)',
  },
  code_write_file: {
    sandbox_id: 'a kept sandbox',
    file_path: 'path relative to /workspace',
    content: 'the text to write',
  },
  code_read_file: {
    sandbox_id: 'a kept sandbox',
    file_path: 'path relative to /workspace',
  },
  code_list_files: {
    sandbox_id: 'a kept sandbox',
    path: 'directory relative to /workspace',
  },
  code_destroy_sandbox: {
    sandbox_id: 'the kept sandbox to destroy',
  },
  code_create_sandbox: {
    language: 'python, javascript (Node.js) or shell (bash): the interpreter of its code_execute calls',
    limits: "overrides of the deployment's default limits for this sandbox, each at most its ceiling",
    network_enabled: 'give the sandbox HTTP(S) access to allowed_domains (CRITICAL risk); fixed for its life',
    allowed_domains: 'domains the sandbox may reach, exact or *.example.com',
    idle_timeout: "seconds it may sit unused before it is destroyed; default the deployment's idle_timeout",
  },
};

/** What the server says about itself at initialization. */
export function serverInstructions(facts: DeploymentFacts): string {
  return [
    'Harombe Fleet runs untrusted Python, JavaScript and shell code in gVisor sandboxes.',
    `code_execute runs a program in a one-shot sandbox, removed afterwards, unless keep_sandbox is true; a kept sandbox (its sandbox_id; code_create_sandbox makes one up front) serves the file tools and later runs until code_destroy_sandbox or ${duration(facts.idleTimeoutSeconds)} unused.`,
    'Most calls wait for a person to approve them (the policy rates each call LOW to CRITICAL; a person has 30 to 120 s by default). Ask for progress notifications (a progressToken) to hear that a call waits, and keep the request open meanwhile: with the SDK, resetTimeoutOnProgress or a timeout above two minutes.',
  ].join(' ');
}
