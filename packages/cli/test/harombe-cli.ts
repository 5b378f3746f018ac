import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

export function tempDir(prefix = 'harombe-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface RunOptions {
  /** Added to a clean environment: the caller's HAROMBE_* variables are dropped. */
  env?: Record<string, string | undefined>;
  input?: string;
  /** Default: a fresh empty directory, which is also HAROMBE_HOME unless env sets it. */
  cwd?: string;
}

/** Runs the built CLI (dist/main.js) as a child process. */
export function harombe(args: string[], options: RunOptions = {}): SpawnSyncReturns<string> {
  const cwd = options.cwd ?? tempDir();
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('HAROMBE_')) env[key] = value;
  Object.assign(env, { HAROMBE_HOME: join(cwd, '.harombe'), LOG_LEVEL: 'silent' }, options.env);
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', input: options.input, env, cwd, timeout: 60_000 });
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}
