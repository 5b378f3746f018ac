import type { Language } from '@harombe/core';

/**
 * The small POSIX sh programs the runtime runs inside a sandbox (through docker exec, as the
 * sandbox user). Files move through them, over stdin and stdout, never through host paths:
 * Docker's archive API cannot see the tmpfs workspace, and host-side reads would follow
 * symlinks planted by sandboxed code.
 */

/** Exit codes the scripts use to report a refusal; chosen above what sh, cat and find return. */
export const SCRIPT_EXIT = {
  notADirectory: 80,
  fileNotFound: 81,
  invalidPath: 82,
  isADirectory: 83,
  fileTooLarge: 84,
  writeFailed: 85,
} as const;

const E = SCRIPT_EXIT;

/** Resolves $1 (relative to /workspace) through every symlink; refuses anything outside. */
const RESOLVE = `
set -u
resolve() {
  r=$(realpath -m -- "/workspace/$1") || exit ${E.invalidPath}
  case "$r" in /workspace|/workspace/*) ;; *) exit ${E.invalidPath} ;; esac
}
`;

/** Where a sandbox's init keeps the FIFO it sleeps on (read -t: a sleep without a fork). */
export const TICK_FIFO = '/tmp/.harombe-tick';
/** Written by the init when it killed processes for memory: the time, in µs since the epoch. */
export const MEMORY_VERDICT_FILE = '/tmp/.harombe-memory-exceeded';

/** Signals the host sends the init (through the Docker API, no process needed) to end an execution. */
export const INIT_SIGNALS = { terminate: 'SIGUSR1', kill: 'SIGUSR2' } as const;

/**
 * The sandbox's PID 1, in bash. Executions run as their own `docker exec` processes, with no
 * supervisor in between (each extra process costs a fork and an exec, which gVisor makes dear);
 * the init does the supervising that must happen inside:
 * - SIGUSR1 / SIGUSR2 from the host: SIGTERM / SIGKILL to every other process (kill -1 spares
 *   PID 1), for timeouts, cancellation and output left open by background processes. Being
 *   builtins, they work even when a fork bomb has taken every process slot;
 * - every 100 ms it reads gVisor's memory accounting, which counts tmpfs files too, so the
 *   workspace's share is taken off before judging; over the limit it kills every process and
 *   leaves MEMORY_VERDICT_FILE for the host.
 * arg: memory limit in bytes.
 */
export const INIT_SCRIPT = `
mem=$1
mkfifo ${TICK_FIFO} && exec 3<>${TICK_FIFO} || exit 1
trap 'kill -TERM -1' USR1
trap 'kill -KILL -1' USR2
trap 'exit 0' TERM
threshold=$mem
while :; do
  read -r -t 0.1 -u 3 _
  read -r used </sys/fs/cgroup/memory/memory.usage_in_bytes || used=0
  if [ "$used" -gt "$threshold" ]; then
    threshold=$((mem + $(stat -f -c '(%b-%f)*%S' /workspace || echo 0)))
    if [ "$used" -gt "$threshold" ]; then
      kill -KILL -1
      echo "\${EPOCHREALTIME/./}" >${MEMORY_VERDICT_FILE}
    fi
    threshold=$mem
  fi
done
`;

/** Programs longer than this go over stdin rather than argv (Linux caps one argument at 128 KiB). */
const MAX_ARGV_PROGRAM = 100_000;

/**
 * How one program is started: the interpreter itself is the exec's process. python and node read
 * the program from stdin; bash takes it as -c (or, when large, reads it with its own builtin
 * first, so that commands reading stdin do not eat the rest of the script).
 */
export function programCommand(language: Language, code: string): { cmd: string[]; stdin?: string } {
  switch (language) {
    case 'python':
      return { cmd: ['python3', '-'], stdin: code };
    case 'javascript':
      return { cmd: ['node', '-'], stdin: code };
    case 'shell':
      if (Buffer.byteLength(code) <= MAX_ARGV_PROGRAM) return { cmd: ['bash', '-c', code, 'bash'] };
      return {
        cmd: ['bash', '-c', 'IFS= read -r -d "" __harombe_program; eval "$__harombe_program"', 'bash'],
        stdin: code,
      };
  }
}

/** args: relative path, max bytes. stdout: the file. */
export const READ_FILE_SCRIPT = `${RESOLVE}
resolve "$1"
[ -e "$r" ] || exit ${E.fileNotFound}
[ -d "$r" ] && exit ${E.isADirectory}
[ -f "$r" ] || exit ${E.invalidPath}
size=$(stat -c %s -- "$r") || exit ${E.fileNotFound}
[ "$size" -le "$2" ] || exit ${E.fileTooLarge}
exec cat -- "$r"
`;

/** args: relative path. stdin: the content. Creates missing parent directories. */
export const WRITE_FILE_SCRIPT = `${RESOLVE}
resolve "$1"
[ "$r" = /workspace ] && exit ${E.isADirectory}
[ -d "$r" ] && exit ${E.isADirectory}
d=$(dirname -- "$r")
mkdir -p -- "$d" 2>/dev/null || exit ${E.notADirectory}
cat >"$r" || exit ${E.writeFailed}
`;

/** args: relative path. stdout: entry names, each ended by NUL. */
export const LIST_FILES_SCRIPT = `${RESOLVE}
resolve "$1"
[ -e "$r" ] || exit ${E.fileNotFound}
[ -d "$r" ] || exit ${E.notADirectory}
cd -- "$r" && exec find . -mindepth 1 -maxdepth 1 -printf '%f\\0'
`;

/**
 * Run in each warm-pool sandbox before it is handed out, the way real programs run: the first
 * starts of an interpreter in a fresh gVisor sandbox pay for reading it in; pooled sandboxes pay
 * that ahead of time.
 */
export const PRIME_PROGRAMS: Record<Language, string> = { python: 'pass', javascript: '0', shell: ':' };
/** Rounds of priming: the second start is still noticeably slower than the tenth. */
export const PRIME_ROUNDS = 2;

export function shArgv(script: string, name: string, args: string[]): string[] {
  return ['/bin/sh', '-c', script, name, ...args];
}

/** Where pip installs go: on PYTHONPATH of network-enabled sandboxes, so later programs import them. */
export const PYTHON_PACKAGES_DIR = '/workspace/.python-packages';
/** npm installs go to /workspace/node_modules, where `node -` run in /workspace looks first. */
export const NODE_PACKAGES_DIR = '/workspace/node_modules';

/** What an install needs inside the sandbox: the package manager and its interpreter. */
export const INSTALLERS = { pypi: 'python', npm: 'javascript' } as const satisfies Record<string, Language>;

/** argv of one install; the package spec was checked (CodeInstallPackageParams) and cannot be an option. */
export function installCommand(registry: keyof typeof INSTALLERS, pkg: string): string[] {
  switch (registry) {
    case 'pypi':
      return ['python3', '-m', 'pip', 'install', '--no-input', '--upgrade', '--target', PYTHON_PACKAGES_DIR, pkg];
    case 'npm':
      return ['npm', 'install', '--prefix', '/workspace', pkg];
  }
}

/**
 * Environment of a network-enabled sandbox: every client that honours the usual proxy variables
 * goes through the egress proxy (there is no other way out), and pip and npm use the allowed
 * registries. `registries` maps pypi / npm to index URLs.
 */
export function egressEnvironment(proxyUrl: string, registries: { pypi?: string; npm?: string }): string[] {
  const env = [
    `HTTP_PROXY=${proxyUrl}`,
    `HTTPS_PROXY=${proxyUrl}`,
    `http_proxy=${proxyUrl}`,
    `https_proxy=${proxyUrl}`,
    'NO_PROXY=localhost,127.0.0.1',
    'no_proxy=localhost,127.0.0.1',
    `PYTHONPATH=${PYTHON_PACKAGES_DIR}`,
    `NODE_PATH=${NODE_PACKAGES_DIR}`,
    `PIP_PROXY=${proxyUrl}`,
    'PIP_DISABLE_PIP_VERSION_CHECK=1',
    'PIP_CACHE_DIR=/tmp/.pip-cache',
    `npm_config_proxy=${proxyUrl}`,
    `npm_config_https_proxy=${proxyUrl}`,
    'npm_config_cache=/tmp/.npm-cache',
    'npm_config_audit=false',
    'npm_config_fund=false',
    'npm_config_update_notifier=false',
  ];
  if (registries.pypi) {
    env.push(`PIP_INDEX_URL=${registries.pypi}`);
    // pip ignores a plain-http index unless its host is trusted; the operator chose it.
    const url = new URL(registries.pypi);
    if (url.protocol === 'http:') env.push(`PIP_TRUSTED_HOST=${url.host}`);
  }
  if (registries.npm) env.push(`npm_config_registry=${registries.npm}`);
  return env;
}
