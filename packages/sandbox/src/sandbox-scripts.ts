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
  setupFailed: 86,
  memoryExceeded: 87,
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

/** Where a sandbox keeps the FIFO its executions sleep on, made by its init at start. */
export const TICK_FIFO = '/tmp/.harombe-tick';
/** Written by RUN_SCRIPT when it killed a program for memory; tells that apart from exit 87. */
export const MEMORY_VERDICT_FILE = '/tmp/.harombe-memory-exceeded';

/**
 * Runs one program and supervises it, without coreutils timeout and with as few forks as
 * possible (each costs a lot under gVisor):
 * - the program gets its own process group (set -m) and a process limit below the sandbox's,
 *   so that a fork bomb leaves the supervisor room to act;
 * - every 50 ms (read -t on a FIFO: a sleep without a fork) it checks the deadline (SIGTERM to
 *   the group, SIGKILL after the grace period) and gVisor's memory accounting, which counts
 *   tmpfs files too, so the workspace's share is taken off before judging;
 * - afterwards it kills every process the execution left (kill -1 spares only PID 1 and
 *   itself), so the next execution sees only its own output.
 * python and node read the program from stdin; bash would read commands from it as it runs,
 * so shell programs are staged in a file first.
 * args: timeout µs, grace µs, memory limit bytes, process limit, stdin|file, interpreter argv...
 * Exit: the program's status, 124 after a timeout, 87 (with MEMORY_VERDICT_FILE) for memory.
 */
export const RUN_SCRIPT = `
set -u
t_us=$1 g_us=$2 mem=$3 nproc=$4 mode=$5
shift 5
exec 4<&0 5>&2 2>/dev/null
[ -e ${MEMORY_VERDICT_FILE} ] && rm -f ${MEMORY_VERDICT_FILE}
f=
if [ "$mode" = file ]; then
  f=/tmp/.harombe-program.$$
  cat >"$f" <&4 || exit ${E.setupFailed}
  set -- "$@" "$f"
else
  set -- "$@" -
fi
set -m
(ulimit -u "$nproc" && exec "$@" <&4 2>&5) &
pid=$!
exec 4<&-
[ -p ${TICK_FIFO} ] || mkfifo ${TICK_FIFO}
exec 3<>${TICK_FIFO}
now=\${EPOCHREALTIME/./}
deadline=$((now + t_us)) kill_at=0 threshold=$mem verdict=
while kill -0 "$pid"; do
  read -r -t 0.05 -u 3 _
  now=\${EPOCHREALTIME/./}
  if [ "$kill_at" = 0 ] && [ "$now" -ge "$deadline" ]; then
    verdict=timeout
    kill -TERM -- "-$pid"
    kill_at=$((now + g_us))
  elif [ "$kill_at" -gt 0 ] && [ "$now" -ge "$kill_at" ]; then
    kill -KILL -- "-$pid"
    kill_at=-1
  fi
  read -r used </sys/fs/cgroup/memory/memory.usage_in_bytes || used=0
  if [ "$used" -gt "$threshold" ]; then
    threshold=$((mem + $(stat -f -c '(%b-%f)*%S' /workspace || echo 0)))
    if [ "$used" -gt "$threshold" ]; then
      verdict=memory
      kill -KILL -- "-$pid"
      break
    fi
  fi
done
wait "$pid"
rc=$?
[ -n "$f" ] && rm -f "$f"
kill -KILL -1
case "$verdict" in
  memory) : >${MEMORY_VERDICT_FILE}; exit ${E.memoryExceeded} ;;
  timeout) exit 124 ;;
esac
exit $rc
`;

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

/** How each language's interpreter gets the program: on stdin, or from a staged file. */
export const INTERPRETERS: Record<Language, { argv: string[]; program: 'stdin' | 'file' }> = {
  python: { argv: ['python3'], program: 'stdin' },
  javascript: { argv: ['node'], program: 'stdin' },
  shell: { argv: ['bash'], program: 'file' },
};

/**
 * Run once in each warm-pool sandbox before it is handed out: the first start of an interpreter
 * in a fresh gVisor sandbox pays for reading it in; pooled sandboxes pay that ahead of time.
 */
export const PRIME_COMMANDS: Record<Language, string[]> = {
  python: ['python3', '-c', 'pass'],
  javascript: ['node', '-e', '0'],
  shell: ['bash', '-c', ':'],
};

export function shArgv(script: string, name: string, args: string[]): string[] {
  return ['/bin/sh', '-c', script, name, ...args];
}

export function bashArgv(script: string, name: string, args: string[]): string[] {
  return ['bash', '-c', script, name, ...args];
}
