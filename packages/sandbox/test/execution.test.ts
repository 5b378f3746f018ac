import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutionResult } from '@harombe/core';
import { TRUNCATION_MARKER, type SandboxManager } from '../src/index.js';
import { testManager } from './fixtures.js';

const OWNER = 'tenant-a';
let manager: SandboxManager;

beforeAll(async () => {
  manager = testManager({ kill_grace_period: 1 });
  await manager.start();
});
afterAll(async () => {
  await manager.stop({ destroySandboxes: true });
});

async function sandbox(language: 'python' | 'javascript' | 'shell', limits = {}) {
  return (await manager.create({ language, owner: OWNER, limits })).sandbox_id;
}

describe('executing code', () => {
  it('runs python, javascript and shell with stdout and stderr kept apart', async () => {
    const programs = {
      python: 'import sys\nprint("out 1")\nprint("err 1", file=sys.stderr)\nprint("out 2")\nsys.exit(3)',
      javascript: 'console.log("out 1"); console.error("err 1"); console.log("out 2"); process.exit(3)',
      shell: 'echo "out 1"; echo "err 1" >&2; echo "out 2"; exit 3',
    } as const;
    for (const [language, code] of Object.entries(programs) as [keyof typeof programs, string][]) {
      const id = await sandbox(language);
      const result = await manager.execute(id, OWNER, { code });
      expect(ExecutionResult.parse(result)).toEqual(result);
      expect(Object.keys(result).sort()).toEqual(
        ['success', 'sandbox_id', 'sandbox_kept', 'stdout', 'stderr', 'exit_code', 'execution_time', 'error'].sort(),
      );
      expect(result, language).toMatchObject({
        success: false,
        sandbox_id: id,
        stdout: 'out 1\nout 2\n',
        stderr: 'err 1\n',
        exit_code: 3,
        error: null,
      });
      expect(result.execution_time).toBeGreaterThan(0);
    }
  });

  it('reports success for a clean exit', async () => {
    const id = await sandbox('python');
    const result = await manager.execute(id, OWNER, {
      code: 'import math\nprint(f"Square root of 144 is {math.sqrt(144)}")',
    });
    expect(result).toMatchObject({
      success: true,
      exit_code: 0,
      stdout: 'Square root of 144 is 12.0\n',
      stderr: '',
      error: null,
    });
  });

  it('keeps files between executions of one sandbox', async () => {
    const id = await sandbox('python');
    await manager.execute(id, OWNER, { code: "open('/workspace/state.txt','w').write('42')" });
    const result = await manager.execute(id, OWNER, { code: "print(open('state.txt').read())" });
    expect(result.stdout).toBe('42\n');
  });

  it('gives each execution only its own output, even with a background process left running', async () => {
    const id = await sandbox('shell');
    const first = await manager.execute(id, OWNER, {
      code: '(while true; do echo leftover; sleep 0.05; done) &\nsetsid sh -c "while true; do echo escaped; sleep 0.05; done" &\necho first',
    });
    expect(first.stdout).toContain('first\n');
    const second = await manager.execute(id, OWNER, { code: 'sleep 0.5; echo second' });
    expect(second).toMatchObject({ stdout: 'second\n', stderr: '', exit_code: 0 });
  });

  it('ends what an execution started once its program has ended, detached daemons included', async () => {
    const id = await sandbox('python');
    // A daemon as a hostile program makes one: double fork, its own session, its descriptors let go.
    const daemon = [
      'import os, time',
      'if os.fork() == 0:',
      '    os.setsid()',
      '    if os.fork() == 0:',
      '        fd = os.open("/dev/null", os.O_RDWR)',
      '        for n in (0, 1, 2): os.dup2(fd, n)',
      '        while True:',
      '            with open("/workspace/beat", "a") as f: f.write(".")',
      '            time.sleep(0.05)',
      '    os._exit(0)',
      'time.sleep(0.3)',
      'print("left a daemon")',
    ].join('\n');
    expect((await manager.execute(id, OWNER, { code: daemon })).stdout).toBe('left a daemon\n');
    const after = await manager.execute(id, OWNER, {
      code: [
        'import os, time',
        'size = os.path.getsize("/workspace/beat")',
        'time.sleep(0.5)',
        'print(size == os.path.getsize("/workspace/beat"))',
        'print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()))',
      ].join('\n'),
    });
    expect(after.stdout, after.stderr).toBe('True\n[1]\n');
  });

  it('kills a program whose cancel came before it had started', async () => {
    const id = await sandbox('shell');
    // Cancelled before the exec exists (a job cancelled just as its worker began it): the program
    // must not run to its end once it starts.
    const result = await manager.execute(id, OWNER, {
      code: 'sleep 3; echo ran > marker.txt',
      signal: AbortSignal.abort(),
    });
    expect(result.exit_code).not.toBe(0);
    expect(await manager.listFiles(id, OWNER)).not.toContain('marker.txt');
  });

  it('runs each execution under a user id of its own, and no program can signal the init', async () => {
    const id = await sandbox('shell');
    const ids = [];
    for (let i = 0; i < 2; i += 1) ids.push((await manager.execute(id, OWNER, { code: 'id -u' })).stdout.trim());
    expect(Number(ids[0])).toBeGreaterThanOrEqual(10_000);
    expect(ids[1]).not.toBe(ids[0]);
    const stop = await manager.execute(id, OWNER, { code: 'kill -STOP 1 && echo stopped || echo refused' });
    expect(stop.stdout).toBe('refused\n');
  });

  it('keeps the init out of reach of the code it guards: its memory watchdog and timeouts work after attempts to stop or kill it', async () => {
    const id = await sandbox('python', { max_memory_mb: 128 });
    // The attack as reported: stop PID 1, so that nothing watches memory or ends executions.
    const stopInit = [
      'import os, signal',
      'for sig in (signal.SIGSTOP, signal.SIGKILL, signal.SIGTERM, signal.SIGUSR2):',
      '    try:',
      '        os.kill(1, sig)',
      '        print(sig.name, "sent")',
      '    except PermissionError:',
      '        print(sig.name, "refused")',
    ].join('\n');
    const attempts = await manager.execute(id, OWNER, { code: stopInit });
    expect(attempts.stdout).toBe('SIGSTOP refused\nSIGKILL refused\nSIGTERM refused\nSIGUSR2 refused\n');
    // From background processes asked for too (they run under ids of their own).
    const kept = await manager.execute(id, OWNER, { code: stopInit, keep_background: true });
    expect(kept.stdout).toBe(attempts.stdout);
    const memory = await manager.execute(id, OWNER, {
      code: `${stopInit}\nchunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))`,
    });
    expect(memory.error).toBe('MemoryLimitExceeded');
    const timeout = await manager.execute(id, OWNER, { code: `${stopInit}\nimport time\ntime.sleep(60)`, timeout: 1 });
    expect(timeout).toMatchObject({ error: 'TimeoutError', exit_code: -1 });
    expect(timeout.execution_time).toBeLessThan(10);
  });

  it('does not crash on output that is not valid UTF-8', async () => {
    const id = await sandbox('python');
    const result = await manager.execute(id, OWNER, {
      code: 'import sys\nsys.stdout.buffer.write(b"ok \\xff\\xfe\\xc3 end\\n")\nsys.stderr.buffer.write(b"\\x80")',
    });
    expect(result.exit_code).toBe(0);
    expect(result.stdout).toBe('ok \uFFFD\uFFFD\uFFFD end\n');
    expect(result.stderr).toBe('\uFFFD');
  });
});

describe('time limit', () => {
  it('sends SIGTERM at the timeout, keeps earlier output, and reports TimeoutError', async () => {
    const id = await sandbox('python');
    const result = await manager.execute(id, OWNER, {
      timeout: 1.5,
      code: [
        'import signal, sys, time',
        'signal.signal(signal.SIGTERM, lambda *a: (print("got SIGTERM"), sys.exit(0)))',
        'print("before the limit")',
        'time.sleep(60)',
      ].join('\n'),
    });
    expect(result).toMatchObject({ success: false, exit_code: -1, error: 'TimeoutError' });
    expect(result.stdout).toBe('before the limit\ngot SIGTERM\n');
    expect(result.execution_time).toBeGreaterThanOrEqual(1.5);
    expect(result.execution_time).toBeLessThan(10);
  });

  it('ends a process that ignores SIGTERM with SIGKILL after the grace period', async () => {
    const id = await sandbox('python');
    const result = await manager.execute(id, OWNER, {
      timeout: 1,
      code: 'import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint("stubborn", flush=True)\nwhile True: time.sleep(0.1)',
    });
    expect(result).toMatchObject({ exit_code: -1, error: 'TimeoutError', stdout: 'stubborn\n' });
    // timeout 1 s + grace 1 s, then the kill; far below the 5 s backstop
    expect(result.execution_time).toBeGreaterThanOrEqual(2);
    expect(result.execution_time).toBeLessThan(7);
    const after = await manager.execute(id, OWNER, { code: 'print("usable")' });
    expect(after.stdout).toBe('usable\n');
  });

  it('keeps watching the sandbox after a timeout: later leftovers are ended, and memory judged', async () => {
    const id = await sandbox('python', { max_memory_mb: 128 });
    // The host's TERM, then its KILL (the program ignores TERM): both come while the init waits
    // between looks, and must not end its looking.
    const ignoresTerm = 'import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)';
    for (const code of ['import time\ntime.sleep(60)', ignoresTerm])
      expect((await manager.execute(id, OWNER, { code, timeout: 1 })).error).toBe('TimeoutError');
    const daemon = 'import subprocess\nsubprocess.Popen(["sleep", "1000"], start_new_session=True)\nprint("left")';
    expect((await manager.execute(id, OWNER, { code: daemon })).stdout).toBe('left\n');
    const others = await manager.execute(id, OWNER, {
      code: 'import os\nprint(sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()))',
    });
    expect(others.stdout, others.stderr).toBe('[1]\n');
    const memory = await manager.execute(id, OWNER, {
      code: 'chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))',
    });
    expect(memory.error).toBe('MemoryLimitExceeded');
    expect((await manager.execute(id, OWNER, { code: 'print("after")' })).stdout).toBe('after\n');
  });

  it('defaults to the sandbox max_execution_time', async () => {
    const id = await sandbox('shell', { max_execution_time: 1 });
    const result = await manager.execute(id, OWNER, { code: 'echo start; sleep 30' });
    expect(result).toMatchObject({ error: 'TimeoutError', exit_code: -1, stdout: 'start\n' });
  });
});

describe('memory limit', () => {
  it('kills a program that allocates past max_memory_mb and reports MemoryLimitExceeded', async () => {
    const id = await sandbox('python', { max_memory_mb: 128 });
    const result = await manager.execute(id, OWNER, {
      code: 'print("allocating", flush=True)\nchunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))',
    });
    expect(result.error).toBe('MemoryLimitExceeded');
    expect(result.exit_code).not.toBe(0);
    expect(result.success).toBe(false);
    expect(result.stdout).toBe('allocating\n');
    // Only the program died: the sandbox and its workspace stay.
    expect((await manager.execute(id, OWNER, { code: 'print("after")' })).stdout).toBe('after\n');
  });

  it('lets a program use memory below the limit', async () => {
    const id = await sandbox('python', { max_memory_mb: 128 });
    const result = await manager.execute(id, OWNER, { code: 'b = bytearray(80 * 1024 * 1024)\nprint(len(b))' });
    expect(result).toMatchObject({ exit_code: 0, stdout: `${80 * 1024 * 1024}\n` });
  });
});

describe('disk limit', () => {
  it('makes writes past max_disk_mb fail inside the sandbox with ENOSPC', async () => {
    const id = await sandbox('shell', { max_disk_mb: 8 });
    const result = await manager.execute(id, OWNER, { code: 'dd if=/dev/zero of=/workspace/big bs=1M count=20' });
    expect(result.exit_code).not.toBe(0);
    expect(result.stderr).toMatch(/No space left on device/);
    const usage = await manager.execute(id, OWNER, { code: 'du -m /workspace/big | cut -f1' });
    expect(Number(usage.stdout.trim())).toBeLessThanOrEqual(8);
  });
});

describe('file limit', () => {
  let small: SandboxManager;
  // A cap below the entries the init walks itself: its counts never need find.
  let tiny: SandboxManager;

  beforeAll(async () => {
    small = testManager({ kill_grace_period: 1, max_files: 500 });
    tiny = testManager({ kill_grace_period: 1, max_files: 32 });
    await Promise.all([small.start(), tiny.start()]);
  });
  afterAll(async () => {
    await Promise.all([small.stop({ destroySandboxes: true }), tiny.stop({ destroySandboxes: true })]);
  });

  it('ends an execution that takes the sandbox past max_files with DiskLimitExceeded; removing files is allowed', async () => {
    const { sandbox_id: id } = await small.create({ language: 'python', owner: OWNER });
    // Empty files cost memory that no size limit counts: without a cap this makes them until its timeout.
    const flood = (dir: string) =>
      small.execute(id, OWNER, {
        code: `import itertools, os\nos.makedirs("${dir}")\nfor i in itertools.count():\n    open("${dir}/%d" % i, "w").close()`,
        timeout: 60,
      });
    expect(await flood('many')).toMatchObject({
      success: false,
      error: 'DiskLimitExceeded',
      exit_code: 137,
      stdout: '',
    });
    const count = Number(
      (await small.execute(id, OWNER, { code: 'import os\nprint(len(os.listdir("many")))' })).stdout,
    );
    expect(count).toBeGreaterThan(500);
    // A sandbox already past the cap is still caught adding more.
    expect(await flood('more')).toMatchObject({ success: false, error: 'DiskLimitExceeded', exit_code: 137 });
    // Past the cap, a new file is refused at once; programs that add none still run.
    await expect(small.writeFile(id, OWNER, 'one-more.txt', 'x')).rejects.toMatchObject({ code: 'DiskLimitExceeded' });
    await small.writeFile(id, OWNER, 'many/0', 'an existing file may still change');
    const cleanup = await small.execute(id, OWNER, {
      code: 'import shutil\nshutil.rmtree("many")\nshutil.rmtree("more")\nprint("removed")',
    });
    expect(cleanup).toMatchObject({ stdout: 'removed\n', error: null });
    await small.writeFile(id, OWNER, 'one-more.txt', 'x');
  });

  it('counts a small tree itself: nested directories, and never what links lead to', async () => {
    const { sandbox_id: id } = await tiny.create({ language: 'python', owner: OWNER });
    // Six entries, two of them links (to / and to a directory): a count that followed them would be
    // far past 32 and end the program before it prints. Then 30 files four directories down.
    const code = [
      'import os, sys, time',
      'os.makedirs("a/b/c")',
      'open("a/b/c/f", "w").close()',
      'os.symlink("/", "root")',
      'os.symlink("a", "again")',
      // Twenty looks at least (slow ones included): the files are counted meanwhile.
      'time.sleep(5)',
      'print("under the cap", flush=True)',
      'os.makedirs("a/b/c/many")',
      'for i in range(30):',
      '    open("a/b/c/many/%d" % i, "w").close()',
      'time.sleep(20)',
    ].join('\n');
    expect(await tiny.execute(id, OWNER, { code, timeout: 30 })).toMatchObject({
      success: false,
      error: 'DiskLimitExceeded',
      exit_code: 137,
      stdout: 'under the cap\n',
    });
  });

  it('counts what lies below paths too long to look up (deep directories of long names)', async () => {
    const { sandbox_id: id } = await tiny.create({ language: 'python', owner: OWNER });
    // Sixteen directories of 60 four-byte characters (240 bytes): under 1,024 characters, near
    // 4,096 bytes, and 20 entries with /tmp's; below them a 255-byte name passes PATH_MAX, and 30 files in it.
    const code = [
      'import os, time',
      'd = os.path.join(*["\u{1F600}" * 60] * 16)',
      'os.makedirs(d)',
      'os.chdir(d)',
      'os.mkdir("x" * 255)',
      'for i in range(30):',
      '    open(os.path.join("x" * 255, str(i)), "w").close()',
      'time.sleep(20)',
    ].join('\n');
    expect(await tiny.execute(id, OWNER, { code, timeout: 30 })).toMatchObject({
      success: false,
      error: 'DiskLimitExceeded',
      exit_code: 137,
    });
  });
});

describe('process limit', () => {
  it('contains a fork bomb and leaves the sandbox usable', async () => {
    const id = await sandbox('shell');
    const bomb = await manager.execute(id, OWNER, { timeout: 5, code: 'bomb() { bomb | bomb & }; bomb; sleep 10' });
    expect(bomb.success).toBe(false);
    const after = await manager.execute(id, OWNER, { code: 'echo alive; ls /proc | grep -c "^[0-9]"' });
    expect(after.stdout.split('\n')[0], JSON.stringify({ bomb, after })).toBe('alive');
    // Only PID 1, its sleep and this execution's own processes remain.
    expect(Number(after.stdout.split('\n')[1]), JSON.stringify({ bomb, after })).toBeLessThan(10);
  });
});

describe('output limit', () => {
  it('caps stdout and stderr separately while a program prints forever', async () => {
    const id = await sandbox('python');
    const result = await manager.execute(id, OWNER, {
      timeout: 3,
      max_output_bytes: 1000,
      code: 'import sys\nsys.stderr.write("e" * 10)\nwhile True: sys.stdout.write("x" * 65536)',
    });
    expect(result.error).toBe('TimeoutError');
    expect(result.stdout).toBe('x'.repeat(1000) + TRUNCATION_MARKER);
    expect(result.stderr).toBe('e'.repeat(10));
  });

  it('appends the marker to stderr alone when only stderr overflows', async () => {
    const id = await sandbox('shell');
    const result = await manager.execute(id, OWNER, {
      max_output_bytes: 100,
      code: 'echo short; head -c 5000 /dev/zero | tr "\\0" e >&2',
    });
    expect(result.stdout).toBe('short\n');
    expect(result.stderr).toBe('e'.repeat(100) + TRUNCATION_MARKER);
  });
});

describe('stdin', () => {
  /** Programs echoing their whole stdin to stdout, and its size in bytes to stderr. */
  const ECHO = {
    python:
      'import sys\ndata = sys.stdin.buffer.read()\nsys.stdout.buffer.write(data)\nprint(len(data), file=sys.stderr)',
    javascript: "const data = require('fs').readFileSync(0);\nprocess.stdout.write(data);\nconsole.error(data.length);",
    shell: 'cat >/workspace/stdin.bin\ncat /workspace/stdin.bin\nwc -c </workspace/stdin.bin >&2',
  } as const;
  const LANGUAGES = Object.keys(ECHO) as (keyof typeof ECHO)[];
  // Above a pipe's 64 KiB, multi-byte characters, lines, no final line break.
  const INPUT = `${'line é€😀\n'.repeat(20_000)}last`;
  /** A comment that makes a program too large for the launcher's argument: it goes over stdin, ahead of the program's. */
  const padding = (language: keyof typeof ECHO) => `${language === 'javascript' ? '//' : '#'} ${'p'.repeat(110_000)}\n`;

  it('is fed to the program and closed, in every language, whether the program goes as an argument or over stdin', async () => {
    for (const language of LANGUAGES) {
      const id = await sandbox(language);
      for (const code of [ECHO[language], padding(language) + ECHO[language]]) {
        const result = await manager.execute(id, OWNER, { code, stdin: INPUT });
        expect(result.exit_code, `${language}: ${result.stderr.slice(0, 300)}`).toBe(0);
        expect(result.stdout === INPUT, `${language}, code of ${code.length} bytes`).toBe(true);
        expect(result.stderr.trim()).toBe(String(Buffer.byteLength(INPUT)));
      }
    }
  });

  it('lets a program that never reads it end normally; without stdin a reader sees its end at once', async () => {
    const ignore = { python: 'print("ignored")', javascript: 'console.log("ignored")', shell: 'echo ignored' } as const;
    const reader = {
      python: 'import sys\nprint(repr(sys.stdin.read()))',
      javascript: "console.log(JSON.stringify(require('fs').readFileSync(0, 'utf8')))",
      shell: 'printf "[%s]\\n" "$(cat)"',
    } as const;
    const empty = { python: "''\n", javascript: '""\n', shell: '[]\n' } as const;
    for (const language of LANGUAGES) {
      const id = await sandbox(language);
      // Far more than a pipe holds, never read.
      const unread = await manager.execute(id, OWNER, { code: ignore[language], stdin: 'z'.repeat(900_000) });
      expect(unread, language).toMatchObject({ exit_code: 0, stdout: 'ignored\n', error: null });
      const none = await manager.execute(id, OWNER, { code: reader[language] });
      expect(none, language).toMatchObject({ exit_code: 0, stdout: empty[language], error: null });
      const blank = await manager.execute(id, OWNER, { code: reader[language], stdin: '' });
      expect(blank, language).toMatchObject({ exit_code: 0, stdout: empty[language], error: null });
    }
  });

  it('counts stdin with the code against max_code_bytes', async () => {
    const id = await sandbox('python');
    const code = ECHO.python;
    const room = 1_048_576 - Buffer.byteLength(code);
    const stdin = 'é'.repeat(Math.floor(room / 2)) + 'a'.repeat(room % 2);
    expect(Buffer.byteLength(code) + Buffer.byteLength(stdin)).toBe(1_048_576);
    const fits = await manager.execute(id, OWNER, { code, stdin });
    expect(fits.stderr).toBe(`${Buffer.byteLength(stdin)}\n`);
    expect(fits.stdout === stdin).toBe(true);
    await expect(manager.execute(id, OWNER, { code, stdin: `${stdin}x` })).rejects.toMatchObject({
      code: 'PayloadTooLarge',
    });
  });
});
