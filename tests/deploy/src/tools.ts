import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root (this file is tests/deploy/src/tools.ts). */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const SETUP_FIX = 'run `sudo bash deploy/host/setup.sh`, which installs it';

function found(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** promtool's path; throws with the fix when it is missing (never skips). */
export function promtool(): string {
  if (!found('promtool', ['--version']))
    throw new Error(`promtool (Debian's prometheus package) is missing: ${SETUP_FIX}`);
  return 'promtool';
}

/** `docker compose` when the plugin is there, else Debian's `docker-compose`; throws with the fix when neither is. */
export function composeCommand(): [string, ...string[]] {
  if (found('docker', ['compose', 'version'])) return ['docker', 'compose'];
  if (found('docker-compose', ['version'])) return ['docker-compose'];
  throw new Error(`no Docker Compose client (neither \`docker compose\` nor \`docker-compose\`): ${SETUP_FIX}`);
}

/** Runs a command to its end from the repository root; never throws on a non-zero exit. */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd: REPO, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
}
