import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The `harombe` command, which loads this package's commands as it would for a user. */
export const MAIN = createRequire(import.meta.url).resolve('@harombe/cli/main');

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

/** The child's environment: the caller's less its HAROMBE_* variables, then `options.env`. */
function childEnv(cwd: string, options: RunOptions): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('HAROMBE_')) env[key] = value;
  return Object.assign(env, { HAROMBE_HOME: join(cwd, '.harombe'), LOG_LEVEL: 'silent' }, options.env);
}

/** Runs the built `harombe` command as a child process. */
export function harombe(args: string[], options: RunOptions = {}): SpawnSyncReturns<string> {
  const cwd = options.cwd ?? tempDir();
  return spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    input: options.input,
    env: childEnv(cwd, options),
    cwd,
    timeout: 60_000,
  });
}

/** As harombe(), without blocking this process: for a stand-in served from the test itself. */
export async function harombeAsync(
  args: string[],
  options: RunOptions = {},
): Promise<{ stdout: string; stderr: string; status: number | null }> {
  const cwd = options.cwd ?? tempDir();
  const child = spawn(process.execPath, [MAIN, ...args], {
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
}

/** A loopback port nothing listens on (bound, then released). */
export { freeLoopbackPort as closedPort } from '../src/index.js';
