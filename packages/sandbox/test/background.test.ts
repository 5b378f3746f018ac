import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxManager } from '../src/index.js';
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

/**
 * The daemon a hostile program leaves behind: double fork, a session of its own, its descriptors
 * let go. It watches /proc for every new process and tries to read its stdin and write into its
 * stdout and stderr, recording each attempt (pid, uid, descriptor, where it leads, outcome) and what it read in
 * /workspace/loot.
 */
const SPY = `
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for n in (0, 1, 2): os.dup2(null, n)
        mine = os.getpid()
        seen = set(int(p) for p in os.listdir("/proc") if p.isdigit())
        loot = os.open("/workspace/loot", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o664)
        while True:
            for p in os.listdir("/proc"):
                if not p.isdigit() or int(p) in seen:
                    continue
                seen.add(int(p))
                try:
                    uid = os.stat("/proc/" + p).st_uid
                except OSError:
                    continue
                for fd, flags in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
                    try:
                        link = os.readlink("/proc/%s/fd/%d" % (p, fd))
                    except OSError as e:
                        link = "?"
                    try:
                        target = os.open("/proc/%s/fd/%d" % (p, fd), flags | os.O_NONBLOCK)
                        if fd == 0:
                            time.sleep(0.05)
                            data = os.read(target, 1 << 20)
                            outcome = "read " + data.hex()
                        else:
                            os.write(target, b"FORGED\\n")
                            outcome = "wrote"
                        os.close(target)
                    except OSError as e:
                        outcome = "refused " + (e.strerror or "")
                    os.write(loot, ("TRIED %s %d %d %s %s\\n" % (p, uid, fd, link.replace(" ", "_"), outcome)).encode())
    os._exit(0)
print("spy started")
`;

/** A shell program printing how many processes (the init and itself aside) have a command line matching $1 and a uid from $2 up. */
const COUNT = (pattern: string, fromUid = 0) =>
  `n=0; for p in /proc/[0-9]*; do [ "\${p#/proc/}" = 1 ] || [ "\${p#/proc/}" = $$ ] && continue; ` +
  `c=$(tr '\\0' ' ' <"$p/cmdline" 2>/dev/null); u=$(stat -c %u "$p" 2>/dev/null) || continue; ` +
  `[[ $c == ${pattern} ]] && [ "$u" -ge ${fromUid} ] && n=$((n + 1)); done; echo $n`;

/** A program that waits until the spy has tried its descriptors, then reads its stdin and says how much it got. */
const VICTIM = `
import os, sys, time
me = "TRIED %d " % os.getpid()
for _ in range(3000):
    try:
        loot = open("/workspace/loot").read()
    except FileNotFoundError:
        loot = ""
    if all(("%s%d %d " % (me, os.getuid(), fd)) in loot for fd in (0, 1, 2)):
        break
    time.sleep(0.01)
secret = sys.stdin.read()
# The program's own secret: in its text, which came over stdin too.
print("own output", len(secret), "s3cr3t-in-the-program"[:6])
`;

/** The user ids of the sandbox's processes, the init's and the caller's own aside. */
async function processesByUid(sandboxId: string): Promise<number[]> {
  const result = await manager.execute(sandboxId, OWNER, {
    code: [
      'import os',
      'me = os.getpid()',
      // A process killed a moment ago may not have been reaped yet (a zombie): it no longer runs.
      'def running(p):',
      '    try:',
      '        with open("/proc/%s/stat" % p, "rb") as stat:',
      '            return b") Z " not in stat.read()',
      '    except OSError:',
      '        return False',
      'uids = (os.stat("/proc/" + p).st_uid for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me) and running(p))',
      // Root's are the init's own (the find it counts files with).
      'print(sorted(uid for uid in uids if uid != 0))',
    ].join('\n'),
  });
  return JSON.parse(result.stdout) as number[];
}

describe('background processes an execution asked to keep (keep_background)', () => {
  it('live on, and cannot read or forge the input and output of later executions and file operations', async () => {
    const { sandbox_id: id } = await manager.create({ language: 'python', owner: OWNER });
    const started = await manager.execute(id, OWNER, { code: SPY, keep_background: true });
    expect(started).toMatchObject({ stdout: 'spy started\n', exit_code: 0, error: null });

    const secret = 'the-stdin-secret-4711';
    const output = await manager.execute(id, OWNER, { code: VICTIM, stdin: secret });
    expect(output).toMatchObject({ stdout: `own output ${secret.length} s3cr3t\n`, stderr: '', exit_code: 0 });

    const content = `${'file content nobody else may read '.repeat(60_000)}end`;
    await manager.writeFile(id, OWNER, 'secret.txt', content);
    const read = await manager.readFile(id, OWNER, 'secret.txt');
    expect(read.toString('utf8') === content, 'code_read_file returns the file untouched').toBe(true);

    const loot = (await manager.readFile(id, OWNER, 'loot')).toString('utf8');
    const attempts = loot
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [, pid, uid, fd, link, outcome, data] = line.split(' ');
        return { line, pid, uid: Number(uid), fd: Number(fd), link, outcome, data: data ?? '' };
      });
    // It did try: every descriptor of the victim, and those of the file operations (user 1000).
    const victim = attempts.filter((a) => a.uid >= 10_000 && a.uid < 50_000);
    expect(
      victim.map((a) => [a.fd, a.outcome]),
      loot.slice(0, 2000),
    ).toEqual([
      [0, 'refused'],
      [1, 'refused'],
      [2, 'refused'],
    ]);
    // code_write_file's content goes to a file of the file user's alone, renamed into place once
    // whole: where the spy caught the writer at work (it may not have), its output was out of reach.
    for (const writer of attempts.filter((a) => a.fd === 1 && a.link?.startsWith('/workspace/'))) {
      expect(writer.link, writer.line).toMatch(/^\/workspace\/\.harombe-write\./);
      expect(writer.outcome, writer.line).toBe('refused');
    }
    for (const attempt of attempts.filter((a) => a.uid < 50_000)) {
      // The pipes of another user's process (its input and output) stay out of reach; what it
      // reopened is /dev/null, or an empty stdin the operation never had, or the workspace's
      // files, which every execution of the sandbox shares anyway.
      if (attempt.link?.startsWith('host:') && attempt.outcome === 'wrote') expect.fail(attempt.line);
      if (attempt.outcome === 'read') expect(attempt.data, attempt.line).toBe('');
    }
    expect(loot).not.toContain(Buffer.from(secret).toString('hex'));
    expect(loot).not.toContain(Buffer.from('s3cr3t').toString('hex'));
    expect(loot).not.toContain(Buffer.from('file content').toString('hex'));

    // The spy still runs, under a keeper's id of its own.
    expect((await processesByUid(id)).some((uid) => uid >= 50_000)).toBe(true);
  });

  it("keep later shell programs' text out of the command lines they can read", async () => {
    const { sandbox_id: id } = await manager.create({ language: 'shell', owner: OWNER });
    const spy =
      `( setsid bash -c 'exec </dev/null >/dev/null 2>&1; declare -A seen; while :; do for p in /proc/[0-9]*; do ` +
      `i=\${p#/proc/}; [ -n "\${seen[$i]}" ] && continue; seen[$i]=1; ` +
      `echo "$i $(tr "\\0" " " <$p/cmdline 2>/dev/null)" >>/workspace/cmdlines; done; done' & )\necho spy started`;
    expect(await manager.execute(id, OWNER, { code: spy, keep_background: true })).toMatchObject({
      stdout: 'spy started\n',
      exit_code: 0,
    });
    // Waits until the spy has seen it, then ends.
    const victim =
      'for i in $(seq 1000); do grep -q "^$$ " /workspace/cmdlines 2>/dev/null && break; sleep 0.01; done\n' +
      'echo seen # the-argv-secret-4711';
    expect((await manager.execute(id, OWNER, { code: victim })).stdout).toBe('seen\n');
    const seen = (await manager.readFile(id, OWNER, 'cmdlines')).toString('utf8');
    expect(seen).toMatch(/^\d+ bash -c /m);
    expect(seen).not.toContain('the-argv-secret');
  });

  it('without keep_background, the same daemon does not outlive its execution', async () => {
    const { sandbox_id: id } = await manager.create({ language: 'python', owner: OWNER });
    expect((await manager.execute(id, OWNER, { code: SPY })).stdout).toBe('spy started\n');
    expect(await processesByUid(id)).toEqual([]);
  });

  it('without keep_background, the reported attack reads and forges nothing of later executions and file operations', async () => {
    const { sandbox_id: id } = await manager.create({ language: 'python', owner: OWNER });
    expect((await manager.execute(id, OWNER, { code: SPY })).stdout).toBe('spy started\n');
    const secret = 'the-stdin-secret-0815';
    // The victim's program says which processes of other executions it saw running beside it.
    const victim = await manager.execute(id, OWNER, {
      code: [
        'import os, sys',
        'others = [p for p in os.listdir("/proc") if p.isdigit() and 10000 <= os.stat("/proc/" + p).st_uid < 50000 and os.stat("/proc/" + p).st_uid != os.getuid()]',
        'secret = sys.stdin.read()',
        'print("own output", len(secret), others) # s3cr3t-in-the-program',
      ].join('\n'),
      stdin: secret,
    });
    expect(victim).toMatchObject({ stdout: `own output ${secret.length} []\n`, stderr: '', exit_code: 0 });
    const content = `${'file content nobody else may read '.repeat(60_000)}end`;
    await manager.writeFile(id, OWNER, 'secret.txt', content);
    expect((await manager.readFile(id, OWNER, 'secret.txt')).toString('utf8') === content).toBe(true);
    // The daemon lives on until the init's next look (0.1 s at most). Whatever it tried meanwhile,
    // on the victim's process as it appeared or on the init's own, reached nothing: refused, or
    // the /dev/null the init gives the processes it starts.
    const loot = await manager.readFile(id, OWNER, 'loot').then(
      (bytes) => bytes.toString('utf8'),
      () => '',
    );
    for (const line of loot.split('\n').filter(Boolean)) {
      const [, , , , link, outcome, data] = line.split(' ');
      if (outcome === 'refused') continue;
      expect({ link, outcome, data: data ?? '' }, line).toMatchObject({ link: '/dev/null', data: '' });
    }
    expect(await processesByUid(id)).toEqual([]);
  });

  it("keep later Python programs' text out of the command lines background processes can read", async () => {
    const { sandbox_id: id } = await manager.create({ language: 'python', owner: OWNER });
    const spy = [
      'import os, time',
      'if os.fork() == 0:',
      '    os.setsid()',
      '    seen = set()',
      '    out = open("/workspace/cmdlines", "a", buffering=1)',
      '    while True:',
      '        for p in os.listdir("/proc"):',
      '            if p.isdigit() and p not in seen:',
      '                seen.add(p)',
      '                try:',
      '                    out.write(p + " " + open("/proc/%s/cmdline" % p, "rb").read().replace(b"\\0", b" ").decode(errors="replace") + "\\n")',
      '                except OSError:',
      '                    pass',
      '        time.sleep(0.005)',
      'print("spy started")',
    ].join('\n');
    expect((await manager.execute(id, OWNER, { code: spy, keep_background: true })).stdout).toBe('spy started\n');
    const victim = [
      'import os, time',
      'for _ in range(1000):',
      '    if ("\\n%d " % os.getpid()) in "\\n" + open("/workspace/cmdlines").read():',
      '        break',
      '    time.sleep(0.01)',
      'print("seen")  # the-argv-secret-4711',
    ].join('\n');
    expect((await manager.execute(id, OWNER, { code: victim })).stdout).toBe('seen\n');
    const seen = (await manager.readFile(id, OWNER, 'cmdlines')).toString('utf8');
    expect(seen).toMatch(/^\d+ python3 -c /m);
    expect(seen).not.toContain('the-argv-secret');
  });

  it('does not wait for background processes that hold its output; a timeout of a later execution spares them', async () => {
    const { sandbox_id: id } = await manager.create({ language: 'shell', owner: OWNER });
    const kept = await manager.execute(id, OWNER, {
      code: 'sleep 600 &\necho started',
      keep_background: true,
      timeout: 20,
    });
    expect(kept).toMatchObject({ stdout: 'started\n', exit_code: 0, error: null });
    const timedOut = await manager.execute(id, OWNER, { code: 'sleep 60', timeout: 1 });
    expect(timedOut.error).toBe('TimeoutError');
    const after = await manager.execute(id, OWNER, { code: COUNT("'sleep 600 '", 50_000) });
    expect(after.stdout).toBe('1\n');
  });

  it('ends the background processes of an execution that timed out', async () => {
    const { sandbox_id: id } = await manager.create({ language: 'shell', owner: OWNER });
    const kept = await manager.execute(id, OWNER, {
      code: 'trap "" TERM; sleep 600 &\nsleep 60',
      keep_background: true,
      timeout: 1,
    });
    expect(kept.error).toBe('TimeoutError');
    const after = await manager.execute(id, OWNER, { code: COUNT("'sleep 600 '") });
    expect(after.stdout).toBe('0\n');
  });
});
