import {
  languageDescriptor,
  LANGUAGES,
  perLanguage,
  REGISTRY_LANGUAGES,
  type Language,
  type LaunchProtocol,
  type Registry,
} from '@harombe/core';

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
  tooManyFiles: 86,
} as const;

const E = SCRIPT_EXIT;

/** Resolves $1 (relative to /workspace) through every symlink; refuses anything outside. */
const RESOLVE = `
set -u
umask 002
resolve() {
  r=$(realpath -m -- "/workspace/$1") || exit ${E.invalidPath}
  case "$r" in /workspace|/workspace/*) ;; *) exit ${E.invalidPath} ;; esac
}
`;

/**
 * The FIFO a launcher writes one byte to as its execution starts, waking the init (see
 * INIT_SCRIPT). Root's, mode 0622: sandboxed code may write to it, never read it.
 */
export const TICK_FIFO = '/tmp/.harombe-tick';
/** Written by the init when it killed processes for memory: the time, in µs since the epoch. Root's. */
export const MEMORY_VERDICT_FILE = '/tmp/.harombe-memory-exceeded';
/** Written by the init when it killed processes for taking the sandbox past max_files: the time, in µs. Root's. */
export const FILES_VERDICT_FILE = '/tmp/.harombe-files-exceeded';

/** stdout: the times of the init's last kill for memory and for files, one a line (empty when never). */
export const KILL_VERDICTS_SCRIPT = `printf '%s\\n%s\\n' "$(cat ${MEMORY_VERDICT_FILE})" "$(cat ${FILES_VERDICT_FILE})"`;

/** Entries the init counts by walking the tree itself; past them, find counts. */
const WALK_ENTRIES = 64;
/**
 * Directories whose path is this many bytes long are left to find: below them a path can pass
 * PATH_MAX, where a glob or a test by path fails (find walks by directory, not by path).
 */
const WALK_PATH_BYTES = 1024;

/**
 * Counts the entries of /workspace and /tmp, up to $1 + 1 (enough to tell it is past $1), into
 * `count` (bash, with dotglob and nullglob). Inside gVisor a walk in bash costs some 0.1 ms an
 * entry, and find a process: some 15 to 40 ms whatever the tree. Small trees (the usual workspace)
 * are walked, without following links; larger ones, a last count that was larger, long paths and
 * entries the walk cannot look up (gone meanwhile, or past PATH_MAX) go to find. Lengths are in
 * bytes (LC_ALL=C): the sandbox's locale would count characters.
 */
const COUNT_FILES = `
count_files() {
  local limit=$1 dirs=(/workspace /tmp) i=0 entry listing='' LC_ALL=C
  count=0
  if [ "$last_count" -le ${WALK_ENTRIES} ]; then
    while [ $i -lt \${#dirs[@]} ] && [ \${#dirs[i]} -lt ${WALK_PATH_BYTES} ]; do
      for entry in "\${dirs[i]}"/*; do
        [ $((count += 1)) -le "$limit" ] || return
        [ $count -le ${WALK_ENTRIES} ] || break 2
        [[ -L $entry || -e $entry ]] || break 2
        [[ -L $entry || ! -d $entry ]] || dirs+=("$entry")
      done
      i=$((i + 1))
    done
    [ $i -lt \${#dirs[@]} ] || return
  fi
  read -r -d '' -N $(($1 + 1)) listing < <(find /workspace /tmp -xdev -mindepth 1 -printf x 2>/dev/null 3<&-)
  count=\${#listing}
}
`;

/**
 * Passes of a slay that find targets still running before it kills them anyway. Each pass looks at
 * every process, which a starved init makes slow; what escapes is found again by the host's next
 * kill (repeated every second) or, for leftovers, by the next look.
 */
const KILL_PASSES = 5;

/** The init counts the sandbox's files at every this many looks (one look per 0.1 s while anything runs). */
const FILES_LOOK_INTERVAL = 20;

/**
 * Signals the host sends the init (through the Docker API, no process needed) to end an
 * execution: SIGTERM or SIGKILL to its processes. One pair for executions of even user ids, one
 * for odd ones, so that a signal still on its way when its execution has ended never touches the
 * next one.
 */
export const INIT_SIGNALS = [
  { terminate: 'SIGUSR1', kill: 'SIGUSR2' },
  { terminate: 'SIGWINCH', kill: 'SIGURG' },
] as const;

/**
 * The same for executions whose background processes may outlive them (keep_background): they end
 * that execution's user id whole, its background processes with it, and never another's.
 * (runsc passes no realtime signals, hence these.)
 */
export const KEEPER_SIGNALS = [
  { terminate: 'SIGPWR', kill: 'SIGXCPU' },
  { terminate: 'SIGVTALRM', kill: 'SIGPROF' },
] as const;

/** The signals that end the execution of user `user` (as executionUser gives it). */
export function endSignals(user: string): (typeof INIT_SIGNALS)[number] | (typeof KEEPER_SIGNALS)[number] {
  const uid = Number.parseInt(user, 10);
  const parity = (uid - FIRST_EXECUTION_UID) % 2 === 0 ? 0 : 1;
  return (isKeeper(user) ? KEEPER_SIGNALS : INIT_SIGNALS)[parity];
}

/** Whether `user` runs an execution whose background processes are spared (keep_background). */
export function isKeeper(user: string): boolean {
  return Number.parseInt(user, 10) >= FIRST_KEEPER_UID;
}

/**
 * Each execution runs under a user id of its own, so that nothing one execution leaves behind can
 * open another's descriptors (/proc/<pid>/fd) or signal it. Ids from here up, one per execution.
 */
export const FIRST_EXECUTION_UID = 10_000;
/** Ids from here up run executions whose background processes may outlive them (see INIT_SCRIPT). */
export const FIRST_KEEPER_UID = 50_000;
/** Execution ids are reused after this many executions of one sandbox. */
export const EXECUTION_UIDS = FIRST_KEEPER_UID - FIRST_EXECUTION_UID;
/** Every execution's group, and the file operations' user: the workspace is shared through it. */
export const SANDBOX_GID = 1000;
export const FILE_USER = `1000:${SANDBOX_GID}`;

/** The user an execution runs as: `n` counts the sandbox's executions. */
export function executionUser(n: number, keepBackground = false): string {
  const base = keepBackground ? FIRST_KEEPER_UID : FIRST_EXECUTION_UID;
  return `${base + (n % EXECUTION_UIDS)}:${SANDBOX_GID}`;
}

/**
 * The sandbox's PID 1, in bash, as root with CAP_KILL only (the code it guards runs under other
 * ids, so it can neither stop nor signal it). Executions run as their own `docker exec`
 * processes with no supervisor in between (each extra process costs a fork and an exec, which
 * gVisor makes dear); the init does what must happen inside:
 * - idle, it blocks reading TICK_FIFO, with no timer: an idle sandbox costs no CPU. A launcher
 *   writes a byte there as its execution starts;
 * - while anything but the init runs, it looks every 100 ms: at gVisor's memory accounting, which
 *   counts tmpfs files too, so the workspace's share is taken off before judging (over the limit
 *   it kills every process and leaves MEMORY_VERDICT_FILE for the host); and at the executions:
 *   an execution's launcher is the process `docker exec` started (parent 0) under its user id;
 *   once it has ended, whatever else runs under that id is killed at the next look, so nothing an
 *   execution started outlives it by more than 0.1 s (ids from FIRST_KEEPER_UID up are spared:
 *   background processes that were asked for). Meanwhile its user id keeps it from every other
 *   process's descriptors, and the next execution's launcher waits until it is gone before it
 *   reads its program. With nothing left but itself it goes back to blocking;
 * - at the files the sandbox holds (/workspace and /tmp: each costs memory no size limit counts), at
 *   every FILES_LOOK_INTERVAL-th look, counted across executions: past max_files, and more than at
 *   the count before, it kills every process and leaves FILES_VERDICT_FILE. Counting a tree past a
 *   few dozen entries takes a process (find), which gVisor makes dear (some 30 ms of CPU): counting
 *   at each execution's first look cost a short execution a tenth of its time. Files left by
 *   executions too short to be counted are judged at a later one's count; the container's memory
 *   limit bounds what escapes meanwhile;
 * - INIT_SIGNALS from the host: SIGTERM or SIGKILL to every process of the executions of even,
 *   or odd, user ids below FIRST_KEEPER_UID, for timeouts and cancellation; KEEPER_SIGNALS: the
 *   same to the user id of the last execution that kept its background processes (of that
 *   parity), background processes included, and to no other. Being builtins, they work even when
 *   a fork bomb has taken every process slot (the host repeats the kill while the bomb races it).
 * args: the program's memory limit in bytes, the files the sandbox may hold (max_files).
 */
export const INIT_SCRIPT = `
mem=$1 max_files=$2 last_count=0 looks=0 asked=' ' slaying=0 waiting=0
shopt -s dotglob nullglob
# Nothing of the host's reaches the processes the init starts (a leftover that looks at them finds /dev/null).
exec </dev/null >/dev/null 2>&1
trap 'request 0 of_parity TERM' ${INIT_SIGNALS[0].terminate.slice(3)}
trap 'request 0 of_parity KILL' ${INIT_SIGNALS[0].kill.slice(3)}
trap 'request 1 of_parity TERM' ${INIT_SIGNALS[1].terminate.slice(3)}
trap 'request 1 of_parity KILL' ${INIT_SIGNALS[1].kill.slice(3)}
trap 'request 0 of_keeper TERM' ${KEEPER_SIGNALS[0].terminate.slice(3)}
trap 'request 0 of_keeper KILL' ${KEEPER_SIGNALS[0].kill.slice(3)}
trap 'request 1 of_keeper TERM' ${KEEPER_SIGNALS[1].terminate.slice(3)}
trap 'request 1 of_keeper KILL' ${KEEPER_SIGNALS[1].kill.slice(3)}
keeper=''
trap 'exit 0' TERM
# The traps come first: the tick FIFO's being there says the init is ready (the host waits for it
# before it signals the init or runs anything).
mkfifo -m 622 ${TICK_FIFO} && exec 3<>${TICK_FIFO} || exit 1
: >${MEMORY_VERDICT_FILE} || exit 1
: >${FILES_VERDICT_FILE} || exit 1
${COUNT_FILES}

# Reads process $1's status whole (/proc is made anew at each read, so reading it line by line
# sees lines shift as the process's state changes). Sets uid (empty when the process is gone or a
# zombie waiting to be reaped), ppid and state.
owner() {
  local status=''
  read -r -d '' -N 4096 status 2>/dev/null <"/proc/$1/status"
  uid='' ppid='' state=''
  case $status in *$'\\nState:\\tZ'*) return ;; *$'\\nUid:\\t'*) ;; *) return ;; esac
  uid=\${status#*$'\\nUid:\\t'} ppid=\${status#*$'\\nPPid:\\t'} state=\${status#*$'\\nState:\\t'}
  uid=\${uid%%[!0-9]*} ppid=\${ppid%%[!0-9]*} state=\${state:0:1}
}

# Whose processes slay ends: a normal execution's of the parity asked for; the last keeping
# execution's (keeper: the uid of the last launcher seen from FIRST_KEEPER_UID up), of that parity;
# or leftovers, those of a normal execution whose program has ended (no launcher, the process
# docker exec started, holds its uid).
of_parity() { [ "$uid" -ge ${FIRST_EXECUTION_UID} ] && [ "$uid" -lt ${FIRST_KEEPER_UID} ] && [ $(((uid - ${FIRST_EXECUTION_UID}) % 2)) = "$parity" ]; }
of_keeper() { [ "$uid" = "$keeper" ] && [ $(((uid - ${FIRST_EXECUTION_UID}) % 2)) = "$parity" ]; }
leftover() { [ "$uid" -ge ${FIRST_EXECUTION_UID} ] && [ "$uid" -lt ${FIRST_KEEPER_UID} ] && [[ $launched != *" $uid "* ]]; }

# A signal from the host asks for a slay (parity $1, picker $2, signal $3). The request is queued
# (once), then run at once; but while the init waits on the tick FIFO it is left for the init to
# run as its wait ends: a read run in a trap leaves the read it interrupted without its timeout
# (bash keeps one timer for every read), and the init would stop looking. That is within 0.1 s
# while anything runs; idle, at the next execution's tick (a cancel that came before its program
# started ends it as it starts). The trap writes nothing to wake it: sandboxed code can keep the
# FIFO full, and the write would block the init for good.
request() {
  [[ $asked == *" $1:$2:$3 "* ]] || asked+="$1:$2:$3 "
  [ "$waiting" = 1 ] || slay_asked
}

# Runs the queued slays one at a time, every process but the init stopped meanwhile and continued
# at the end (one stopped by its own user is continued too): a fork bomb shares the init's CPU
# quota, and while it runs a look at each process takes the init a hundred times longer (seen: 27 s
# to look at 128 processes, against 0.4 s once they were stopped). A request that comes meanwhile
# is queued, not run nested: the host repeats its kill every second, and nested, each new slay
# began its look over and none ended while a fork bomb starved the init (seen: 16 deep after 20 s).
slay_asked() {
  [ "$slaying" = 0 ] || return 0
  local request i termed=''
  while [ "$asked" != ' ' ] && [ -z "$termed" ]; do
    slaying=1
    # Three times, a moment apart: a fork under way at the first makes a child it missed (seen: 60
    # of a fork bomb's, which kept the init's first look at them starved for 15 s). The pause is a
    # read of the tick FIFO with a timeout (bash has no sleep of its own; a trap never interrupts
    # it with a read of its own, as slaying is set). A tick it takes is not missed: a look follows.
    for i in 1 2 3; do
      kill -STOP -1 2>/dev/null
      read -r -t 0.05 -N 4096 -u 3 _
    done
    while [ "$asked" != ' ' ]; do
      request=\${asked#' '}
      request=\${request%%' '*}
      asked=\${asked/" $request "/' '}
      parity=\${request%%:*} request=\${request#*:}
      slay "\${request%%:*}" "\${request#*:}"
      # A program may handle TERM: what is queued behind it waits for the init's next wait to end.
      [ "\${request#*:}" != TERM ] || {
        termed=1
        break
      }
    done
    kill -CONT -1 2>/dev/null
    # A request between the last look at the queue and here was queued: the outer loop takes it,
    # or after a TERM the init's next wait.
    slaying=0
  done
}

# Ends the processes $1 picks with signal $2. TERM is sent once: a program may handle it. For
# KILL they are stopped first, pass after pass until none still runs (a few passes: the host
# repeats its kill), then killed: a process stopped cannot fork, so a fork bomb cannot race the
# kill. Sets seen: the processes found (the init aside) at the first pass.
slay() {
  local p uid ppid state launched pids uids states targets running passes=0 i
  seen=''
  while :; do
    pids=() uids=() states=() launched=' ' targets=() running=()
    for p in /proc/[0-9]*; do
      [ "\${p#/proc/}" = 1 ] && continue
      owner "\${p#/proc/}"
      [ -n "$uid" ] || continue
      pids+=("\${p#/proc/}") uids+=("$uid") states+=("$state")
      if [ "$ppid" = 0 ]; then
        launched+="$uid "
        [ "$uid" -ge ${FIRST_KEEPER_UID} ] && keeper=$uid
      fi
    done
    [ -n "$seen" ] || seen=\${#pids[@]}
    for i in "\${!pids[@]}"; do
      uid=\${uids[i]}
      "$1" || continue
      targets+=("\${pids[i]}")
      [ "\${states[i]}" = T ] || running+=("\${pids[i]}")
    done
    [ \${#targets[@]} -eq 0 ] && break
    if [ "$2" = TERM ]; then
      kill -TERM "\${targets[@]}" 2>/dev/null
      break
    fi
    if [ \${#running[@]} -gt 0 ] && [ $((passes += 1)) -le ${KILL_PASSES} ]; then
      kill -STOP "\${running[@]}" 2>/dev/null
      continue
    fi
    kill -KILL "\${targets[@]}" 2>/dev/null
    break
  done
}

# One look at the sandbox; fails when nothing but the init runs. Leftovers go first: the init
# starts no process (find) while one could still be watching.
look() {
  # Nothing but the init left (the usual end of a short execution): nothing to judge, and a glob is
  # all it costs (reading a process's status or the memory accounting costs 0.2 to 0.5 ms each).
  local running=(/proc/[0-9]*)
  [ \${#running[@]} -gt 1 ] || return 1
  slay leftover KILL
  read -r -d '' -N 64 used </sys/fs/cgroup/memory/memory.usage_in_bytes
  used=\${used%%[!0-9]*}
  if [ "\${used:-0}" -gt "$mem" ] && [ "$used" -gt $((mem + $(stat -f -c '(%b-%f)*%S' /workspace || echo 0))) ]; then
    kill -KILL -1
    echo "\${EPOCHREALTIME/./}" >${MEMORY_VERDICT_FILE}
  fi
  if [ $((looks++ % ${FILES_LOOK_INTERVAL})) = 0 ]; then
    # Up to past the last count: a sandbox already over the limit is still caught adding more.
    count_files $((last_count > max_files ? last_count : max_files))
    if [ "$count" -gt "$max_files" ] && [ "$count" -gt "$last_count" ]; then
      kill -KILL -1
      echo "\${EPOCHREALTIME/./}" >${FILES_VERDICT_FILE}
    fi
    last_count=$count
  fi
  [ "$seen" -gt 0 ]
}

# Waits on the tick FIFO (read's options: $@). A host signal's trap meanwhile only queues its
# request (see request): the queue is run here, once the wait has ended.
wait_tick() {
  waiting=1
  read -r "$@" -u 3 _
  waiting=0
  [ "$asked" = ' ' ] || slay_asked
}

while :; do
  wait_tick -N 1
  while :; do
    wait_tick -t 0.1 -N 4096
    look || break
  done
done
`;

/** Programs longer than this go over stdin rather than argv (Linux caps one argument at 128 KiB). */
const MAX_ARGV_PROGRAM = 100_000;

/**
 * What every launcher does before the program: wake the init; wait (up to 2 s) until nothing of
 * an earlier execution is left (the init ends it as soon as that execution's program has ended),
 * so that no execution ever overlaps another; and write files the next executions may change.
 * Here in bash, on one line so that the program's line numbers stay as written.
 */
const SHELL_PRELUDE =
  `printf x >>${TICK_FIFO} 2>/dev/null; umask 002; ` +
  `for __h in {1..200}; do __o=; for __p in /proc/[0-9]*; do [ "\${__p#/proc/}" = $$ ] && continue; __s=; ` +
  `read -r -d '' -N 4096 __s 2>/dev/null <"$__p/status"; case $__s in *$'\\nState:\\tZ'*) continue ;; esac; ` +
  `__u=\${__s#*$'\\nUid:\\t'}; __u=\${__u%%[!0-9]*}; ` +
  `[ -n "$__u" ] && [ "$__u" -ge ${FIRST_EXECUTION_UID} ] && [ "$__u" -lt ${FIRST_KEEPER_UID} ] && [ "$__u" != "$UID" ] && __o=1 && break; ` +
  `done; [ -z "$__o" ] && break; sleep 0.01; done; unset __h __o __p __s __u; `;

/** The program, framed for a launcher: its size in bytes on a line, the program, then the program's own stdin. */
function framed(code: string, stdin: string | undefined): Buffer {
  const program = Buffer.from(code);
  return Buffer.concat([Buffer.from(`${program.length}\n`), program, Buffer.from(stdin ?? '')]);
}

/** What the launchers of LANGUAGE_CATALOGUE must do before the program: this runtime's side of it. */
const LAUNCH_PROTOCOL: LaunchProtocol = {
  tickFifo: TICK_FIFO,
  firstExecutionUid: FIRST_EXECUTION_UID,
  firstKeeperUid: FIRST_KEEPER_UID,
  shellPrelude: SHELL_PRELUDE,
};

/**
 * How one program is started: the interpreter itself is the exec's process, running its
 * language's launcher (LANGUAGE_CATALOGUE's `command`). A program that fits in an argument (and
 * holds no NUL) is given as one, and stdin is the program's own (none at all when it has none:
 * attaching stdin makes the exec dearer); a larger one is read from stdin ahead of the program's
 * own stdin.
 * inArgv: whether the program may be seen in the process's command line, which any process of the
 * sandbox can read (/proc/<pid>/cmdline); default true. False once background processes may run
 * (keep_background): the program then always goes over stdin.
 */
export function programCommand(
  language: Language,
  code: string,
  stdin?: string,
  inArgv = true,
): { cmd: string[]; stdin?: Buffer } {
  const asArgument = inArgv && Buffer.byteLength(code) <= MAX_ARGV_PROGRAM && !code.includes('\0');
  const { command } = languageDescriptor(language);
  if (!asArgument) return { cmd: command(null, LAUNCH_PROTOCOL), stdin: framed(code, stdin) };
  return { cmd: command(code, LAUNCH_PROTOCOL), ...(stdin !== undefined ? { stdin: Buffer.from(stdin) } : {}) };
}

/**
 * args: a user id. Waits (up to 10 s) until no process of that user is left (zombies the init
 * has yet to reap aside), once its execution was ended by a signal: a fork bomb's last processes
 * take a moment to go. /proc/<pid> belongs to the process's user.
 */
export const SETTLE_SCRIPT = `
alive() {
  for d in $(find /proc -mindepth 1 -maxdepth 1 -name '[0-9]*' -user "$1" 2>/dev/null); do
    read -r stat <"$d/stat" 2>/dev/null || continue
    case $stat in *') Z '*) ;; *) return 0 ;; esac
  done
  return 1
}
i=0
while alive "$1"; do
  i=$((i + 1))
  [ $i -le 100 ] || exit 1
  sleep 0.1
done
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

/**
 * args: relative path, the files the sandbox may hold (max_files). stdin: the content. Creates
 * missing parent directories. A new file in a sandbox already at max_files is refused. The
 * content goes to a file of the file user's alone (mode 0600) beside the target, renamed over it
 * once whole: a background process cannot reach the content through the writer's descriptors
 * (/proc/<pid>/fd), and no reader ever sees half a file.
 */
export const WRITE_FILE_SCRIPT = `${RESOLVE}
resolve "$1"
[ "$r" = /workspace ] && exit ${E.isADirectory}
[ -d "$r" ] && exit ${E.isADirectory}
if [ ! -e "$r" ]; then
  count=$(find /workspace /tmp -xdev -mindepth 1 -printf x 2>/dev/null | head -c "$2" | wc -c)
  [ "$count" -lt "$2" ] || exit ${E.tooManyFiles}
fi
d=$(dirname -- "$r")
mkdir -p -- "$d" 2>/dev/null || exit ${E.notADirectory}
t=$(mktemp -p "$d" .harombe-write.XXXXXXXX) || exit ${E.writeFailed}
# A file that was executable stays so.
m=664
[ -x "$r" ] && m=775
cat >"$t" && chmod "$m" "$t" && mv -fT -- "$t" "$r" || { rm -f -- "$t"; exit ${E.writeFailed}; }
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
export const PRIME_PROGRAMS: Record<Language, string> = perLanguage((_, { prime }) => prime);
/** Rounds of priming: the second start is still noticeably slower than the tenth. */
export const PRIME_ROUNDS = 2;

export function shArgv(script: string, name: string, args: string[]): string[] {
  return ['/bin/sh', '-c', script, name, ...args];
}

/** What an install needs inside the sandbox: the package manager and its interpreter. */
export const INSTALLERS: Readonly<Record<Registry, Language>> = REGISTRY_LANGUAGES;

/**
 * argv of one install, started as an execution is (the init watches it, and what it writes is the
 * workspace's); the package spec was checked (CodeInstallPackageParams) and cannot be an option.
 */
export function installCommand(registry: Registry, pkg: string): string[] {
  const installer = languageDescriptor(INSTALLERS[registry]).installer;
  if (!installer) throw new Error(`no installer for registry ${registry}`);
  return ['bash', '-c', `${SHELL_PRELUDE}exec "$@"`, 'install', ...installer.command(pkg)];
}

/**
 * Environment of a network-enabled sandbox: every client that honours the usual proxy variables
 * goes through the egress proxy (there is no other way out), and each language's package manager
 * uses its allowed registry. `registries` maps registry names to index URLs.
 */
export function egressEnvironment(proxyUrl: string, registries: Partial<Record<Registry, string>>): string[] {
  const env = [
    `HTTP_PROXY=${proxyUrl}`,
    `HTTPS_PROXY=${proxyUrl}`,
    `http_proxy=${proxyUrl}`,
    `https_proxy=${proxyUrl}`,
    'NO_PROXY=localhost,127.0.0.1',
    'no_proxy=localhost,127.0.0.1',
  ];
  for (const language of LANGUAGES) {
    const installer = languageDescriptor(language).installer;
    if (installer) env.push(...installer.environment(proxyUrl, registries[installer.registry as Registry]));
  }
  return env;
}
