import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * What `harombe up` leaves for the other commands: where the local API listens and the keys it
 * made (one that submits, one that approves: nobody approves their own jobs). Kept in
 * $HAROMBE_HOME (default ./.harombe), readable by its owner only.
 */
export interface LocalCredentials {
  api_url: string;
  keys: { submit: string; approve: string };
}

export function harombeHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.HAROMBE_HOME ?? '.harombe');
}

export function readLocalCredentials(env: NodeJS.ProcessEnv = process.env): LocalCredentials | undefined {
  try {
    return JSON.parse(readFileSync(join(harombeHome(env), 'local.json'), 'utf8')) as LocalCredentials;
  } catch {
    return undefined;
  }
}

export function writeLocalCredentials(credentials: LocalCredentials, env: NodeJS.ProcessEnv = process.env): string {
  const home = harombeHome(env);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const path = join(home, 'local.json');
  writeFileSync(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  return path;
}
