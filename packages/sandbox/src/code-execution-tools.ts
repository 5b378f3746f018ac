import {
  CodeCreateSandboxParams,
  CodeDestroySandboxParams,
  CodeExecuteParams,
  CodeInstallPackageParams,
  CodeListFilesParams,
  CodeReadFileParams,
  CodeWriteFileParams,
  fieldProblems,
  formatProblem,
  HarombeError,
  invalidInputCode,
  isHarombeError,
  normalizeWorkspacePath,
  type CreateSandboxResult,
  type DestroySandboxResult,
  type ErrorCode,
  type ExecutionResult,
  type InstallPackageResult,
  type ListFilesResult,
  type ReadFileResult,
  type ToolName,
  type ToolResult,
  type WriteFileResult,
} from '@harombe/core';
import type { z } from 'zod';
import type { OutputListener } from './docker-exec.js';
import type { SandboxManager } from './sandbox-manager.js';
import { TOOL_EXECUTORS, type ToolCall } from './tool-executors.js';

/** A refusal: the stable code for the result, the message for people. */
interface Refusal {
  code: ErrorCode;
  message: string;
}

function refusal(error: unknown): Refusal {
  if (isHarombeError(error)) return { code: error.code, message: error.message };
  throw error;
}

function parse<S extends z.ZodType>(schema: S, params: unknown): z.output<S> {
  const parsed = schema.safeParse(params);
  if (parsed.success) return parsed.data;
  const problem = fieldProblems(parsed.error.issues, { whole: 'params' })[0] ?? { field: 'params', message: 'invalid' };
  const message = formatProblem(problem);
  throw Object.assign(new Error(message), { refusal: { code: invalidInputCode(problem.field, 'params'), message } });
}

/**
 * A job's path as the API stored it: normalized, the form the policy classified and a person
 * approved. Any other spelling (`evil.py/` for `evil.py`) was not what was approved.
 */
function approvedPath(path: string): string {
  const normalized = normalizeWorkspacePath(path);
  if (normalized !== path) throw new HarombeError('InvalidPath', `'${path}' is not in normal form ('${normalized}')`);
  return path;
}

function asRefusal(error: unknown): Refusal {
  const carried = (error as { refusal?: Refusal }).refusal;
  return carried ?? refusal(error);
}

/**
 * Called before a kept sandbox is made for `owner` (a quota check, say): throws to refuse; the
 * function it resolves to is called once the attempt is over, made or not.
 */
export type KeptSandboxGate = (owner: string) => Promise<() => Promise<void>>;

/**
 * The tools of the reference design over one SandboxManager, for one owner at a time, plus
 * code_create_sandbox. Results have the reference shapes; failures come back as `success: false`
 * with a stable `error` code (and, for executions, the message on stderr) instead of exceptions.
 */
export class CodeExecutionTools {
  constructor(
    private readonly sandboxes: SandboxManager,
    /** Default: none (kept sandboxes are limited by the manager's capacity alone). */
    private readonly keptGate?: KeptSandboxGate,
  ) {}

  /** Runs any tool of the catalogue by name (see TOOL_EXECUTORS). */
  async run(tool: ToolName, call: ToolCall): Promise<ToolResult<ToolName>> {
    return TOOL_EXECUTORS[tool](this, call);
  }

  /**
   * Runs in the named kept sandbox; without one, in a one-shot sandbox removed once the program
   * has ended, or, with keep_sandbox, in a new kept one. `onOutput` is told the output as the
   * program writes it (see ExecuteRequest.onOutput).
   */
  async code_execute(
    params: unknown,
    owner: string,
    signal?: AbortSignal,
    onOutput?: OutputListener,
    /** The job it runs for (refused network attempts are reported with it). */
    jobId?: string,
  ): Promise<ExecutionResult> {
    let sandboxId: string | null = null;
    let kept = false;
    try {
      const p = parse(CodeExecuteParams, params);
      const run = {
        code: p.code,
        signal,
        language: p.language,
        network_enabled: p.network_enabled,
        keep_background: p.keep_background,
        ...(jobId ? { job_id: jobId } : {}),
        ...(p.stdin !== undefined ? { stdin: p.stdin } : {}),
        ...(p.timeout !== undefined ? { timeout: p.timeout } : {}),
        ...(onOutput ? { onOutput } : {}),
      };
      sandboxId = p.sandbox_id ?? null;
      kept = sandboxId !== null || p.keep_sandbox;
      if (!kept) {
        return await this.sandboxes.runOnce({ ...run, owner, allowed_domains: p.allowed_domains });
      }
      if (!sandboxId) {
        const created = await this.keep(owner, () =>
          this.sandboxes.create({
            language: p.language,
            owner,
            network_enabled: p.network_enabled,
            allowed_domains: p.allowed_domains,
          }),
        );
        sandboxId = created.sandbox_id;
      }
      // One read of the sandbox's record: execute checks the language and the network itself.
      return await this.sandboxes.execute(sandboxId, owner, run);
    } catch (error) {
      return failedExecution(sandboxId, kept, asRefusal(error));
    }
  }

  /** Makes a kept sandbox with no program run in it (POST /v1/sandboxes). */
  async code_create_sandbox(params: unknown, owner: string): Promise<CreateSandboxResult> {
    const raw = (params ?? {}) as Record<string, unknown>;
    const base = {
      language: text(raw.language),
      network_enabled: raw.network_enabled === true,
      allowed_domains: Array.isArray(raw.allowed_domains) ? raw.allowed_domains.map(String) : [],
    };
    try {
      const p = parse(CodeCreateSandboxParams, params);
      const sandbox = await this.keep(owner, () =>
        this.sandboxes.create({
          language: p.language,
          owner,
          network_enabled: p.network_enabled,
          allowed_domains: p.allowed_domains,
          ...(p.limits ? { limits: p.limits } : {}),
          ...(p.idle_timeout !== undefined ? { idle_timeout: p.idle_timeout } : {}),
        }),
      );
      return {
        success: true,
        sandbox_id: sandbox.sandbox_id,
        language: sandbox.language,
        network_enabled: sandbox.network_enabled,
        allowed_domains: sandbox.allowed_domains,
        expires_at: sandbox.expires_at,
        error: null,
      };
    } catch (error) {
      return { success: false, sandbox_id: null, ...base, expires_at: null, error: asRefusal(error).code };
    }
  }

  private async keep<T>(owner: string, make: () => Promise<T>): Promise<T> {
    const done = await this.keptGate?.(owner);
    try {
      return await make();
    } finally {
      await done?.();
    }
  }

  async code_install_package(params: unknown, owner: string, jobId?: string): Promise<InstallPackageResult> {
    const raw = (params ?? {}) as Record<string, unknown>;
    const base = {
      sandbox_id: text(raw.sandbox_id),
      package: text(raw.package),
      registry: raw.registry === 'npm' ? ('npm' as const) : ('pypi' as const),
      stdout: '',
    };
    try {
      const p = parse(CodeInstallPackageParams, params);
      const outcome = await this.sandboxes.installPackage(p.sandbox_id, owner, p.package, p.registry, jobId);
      return {
        success: outcome.success,
        ...base,
        stdout: outcome.stdout,
        stderr: outcome.stderr,
        error: outcome.success ? null : 'InstallFailed',
      };
    } catch (error) {
      const r = asRefusal(error);
      return { success: false, ...base, stderr: r.message, error: r.code };
    }
  }

  async code_write_file(params: unknown, owner: string): Promise<WriteFileResult> {
    const raw = (params ?? {}) as Record<string, unknown>;
    const base = { sandbox_id: text(raw.sandbox_id), file_path: text(raw.file_path) };
    try {
      const p = parse(CodeWriteFileParams, params);
      await this.sandboxes.writeFile(p.sandbox_id, owner, approvedPath(p.file_path), p.content);
      return { success: true, ...base, error: null };
    } catch (error) {
      return { success: false, ...base, error: asRefusal(error).code };
    }
  }

  async code_read_file(params: unknown, owner: string): Promise<ReadFileResult> {
    const raw = (params ?? {}) as Record<string, unknown>;
    const base = { sandbox_id: text(raw.sandbox_id), file_path: text(raw.file_path) };
    try {
      const p = parse(CodeReadFileParams, params);
      const content = await this.sandboxes.readFile(p.sandbox_id, owner, approvedPath(p.file_path));
      return { success: true, ...base, content: new TextDecoder().decode(content), error: null };
    } catch (error) {
      return { success: false, ...base, content: '', error: asRefusal(error).code };
    }
  }

  async code_list_files(params: unknown, owner: string): Promise<ListFilesResult> {
    const raw = (params ?? {}) as Record<string, unknown>;
    const base = { sandbox_id: text(raw.sandbox_id), path: text(raw.path, '.') };
    try {
      const p = parse(CodeListFilesParams, params);
      const files = await this.sandboxes.listFiles(p.sandbox_id, owner, approvedPath(p.path));
      return { success: true, ...base, files, error: null };
    } catch (error) {
      return { success: false, ...base, files: [], error: asRefusal(error).code };
    }
  }

  async code_destroy_sandbox(params: unknown, owner: string): Promise<DestroySandboxResult> {
    const raw = (params ?? {}) as Record<string, unknown>;
    const sandboxId = text(raw.sandbox_id);
    try {
      const p = parse(CodeDestroySandboxParams, params);
      await this.sandboxes.destroy(p.sandbox_id, owner);
      return { success: true, sandbox_id: sandboxId, message: 'Sandbox destroyed successfully', error: null };
    } catch (error) {
      const r = asRefusal(error);
      return { success: false, sandbox_id: sandboxId, message: r.message, error: r.code };
    }
  }
}

function failedExecution(sandboxId: string | null, kept: boolean, r: Refusal): ExecutionResult {
  return {
    success: false,
    sandbox_id: sandboxId,
    sandbox_kept: kept && sandboxId !== null,
    stdout: '',
    stderr: r.message,
    exit_code: -1,
    execution_time: 0,
    error: r.code,
  };
}

/** A raw param echoed back in a result: a string as it is, anything else as JSON (its params were refused). */
function text(value: unknown, fallback = ''): string {
  if (value === undefined || value === null) return fallback;
  return typeof value === 'string' ? value : JSON.stringify(value);
}
