import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix = 'harombe-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface RunOptions {
  /** Added to a clean environment: the caller's HAROMBE_* variables are dropped. */
  env?: Record<string, string | undefined>;
  input?: string;
  /** Default: a fresh empty directory, which is also HAROMBE_HOME unless env sets it. */
  cwd?: string;
  /** Milliseconds before the command is killed. Default 60 000. */
  timeoutMs?: number;
}

export interface CommandRunner {
  /** Runs the command as a child process. */
  harombe: (args: string[], options?: RunOptions) => SpawnSyncReturns<string>;
  /** As harombe(), without blocking this process: for a stand-in served from the test itself. */
  harombeAsync: (
    args: string[],
    options?: RunOptions,
  ) => Promise<{ stdout: string; stderr: string; status: number | null }>;
}

/** The child's environment: the caller's less its HAROMBE_* variables, then `options.env`. */
function childEnv(cwd: string, options: RunOptions): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('HAROMBE_')) env[key] = value;
  return Object.assign(env, { HAROMBE_HOME: join(cwd, '.harombe'), LOG_LEVEL: 'silent' }, options.env);
}

/** Runs the `harombe` command whose entry point is `main` (a built main.js), as a user would. */
export function commandRunner(main: string): CommandRunner {
  return {
    harombe: (args, options = {}) => {
      const cwd = options.cwd ?? tempDir();
      return spawnSync(process.execPath, [main, ...args], {
        encoding: 'utf8',
        input: options.input,
        env: childEnv(cwd, options),
        cwd,
        timeout: options.timeoutMs ?? 60_000,
      });
    },
    harombeAsync: async (args, options = {}) => {
      const cwd = options.cwd ?? tempDir();
      const child = spawn(process.execPath, [main, ...args], {
        env: childEnv(cwd, options),
        cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: options.timeoutMs ?? 60_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.stdin.end(options.input ?? '');
      const status = await new Promise<number | null>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (code) => resolve(code));
      });
      return { stdout, stderr, status };
    },
  };
}
