import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerExec, type SandboxManager } from '../src/index.js';
import { FILE_USER, WRITE_FILE_SCRIPT } from '../src/sandbox-scripts.js';
import { docker, testManager } from './fixtures.js';

const OWNER = 'tenant-files';
let manager: SandboxManager;
let id: string;

beforeAll(async () => {
  manager = testManager({ max_file_bytes: 64 * 1024 });
  await manager.start();
  id = (await manager.create({ language: 'python', owner: OWNER })).sandbox_id;
});
afterAll(async () => {
  await manager.stop({ destroySandboxes: true });
});

describe('files in the workspace', () => {
  it('writes a file aside, where no execution can open it, and renames it into place whole; an executable stays so', async () => {
    // A sandbox of its own: the other tests list the shared one's files.
    const own = (await manager.create({ language: 'python', owner: OWNER })).sandbox_id;
    const container = docker.getContainer(`harombe-${own}`);
    const run = (user: string, script: string, ...args: string[]) =>
      dockerExec(container, { cmd: ['sh', '-c', script, 'sh', ...args], user, maxOutputBytes: 65_536 });
    const EXECUTION = '10321:1000';
    await run(FILE_USER, 'mkfifo /tmp/feed /tmp/go');
    // The content comes through a FIFO held open after its first half, until /tmp/go says go on.
    const holder = run(
      FILE_USER,
      'exec 3>/tmp/feed; printf "first half, " >&3; read -r _ </tmp/go; printf "second half" >&3',
    );
    const writing = run(FILE_USER, 'exec sh -c "$1" harombe-write aside.txt 32768 </tmp/feed', WRITE_FILE_SCRIPT);
    const aside = async () => (await run(EXECUTION, 'ls -A /workspace')).stdout.text().split('\n');
    await expect.poll(async () => (await aside()).some((name) => name.startsWith('.harombe-write.'))).toBe(true);
    expect(await aside()).not.toContain('aside.txt');
    const peek = await run(EXECUTION, 'stat -c %a /workspace/.harombe-write.*; cat /workspace/.harombe-write.*');
    expect(peek.stdout.text()).toBe('600\n');
    expect(peek.stderr.text()).toContain('Permission denied');
    await run(FILE_USER, 'echo go >/tmp/go');
    expect((await holder).exitCode).toBe(0);
    expect((await writing).exitCode).toBe(0);
    expect((await manager.readFile(own, OWNER, 'aside.txt')).toString()).toBe('first half, second half');
    expect((await aside()).filter((name) => name.startsWith('.harombe-write.'))).toEqual([]);
    expect((await run(EXECUTION, 'stat -c %a /workspace/aside.txt')).stdout.text()).toBe('664\n');

    await manager.execute(own, OWNER, {
      code: 'import os\nopen("tool.sh", "w").write("echo one")\nos.chmod("tool.sh", 0o775)',
    });
    await manager.writeFile(own, OWNER, 'tool.sh', 'echo two');
    expect((await run(EXECUTION, 'stat -c %a /workspace/tool.sh; sh /workspace/tool.sh')).stdout.text()).toBe(
      '775\ntwo\n',
    );
    await manager.destroy(own, OWNER);
  });

  it('writes, reads and lists files, creating parent directories', async () => {
    await manager.writeFile(id, OWNER, 'data/input.csv', 'name,age\nAlice,30\n');
    await manager.writeFile(id, OWNER, 'config.json', '{"a": 1}');
    await manager.writeFile(id, OWNER, 'a..txt', 'dots are fine');
    expect((await manager.readFile(id, OWNER, 'data/input.csv')).toString()).toBe('name,age\nAlice,30\n');
    expect((await manager.readFile(id, OWNER, './data/../a..txt')).toString()).toBe('dots are fine');
    expect(await manager.listFiles(id, OWNER, '.')).toEqual(['a..txt', 'config.json', 'data']);
    expect(await manager.listFiles(id, OWNER, 'data')).toEqual(['input.csv']);
  });

  it('holds files interpreters would load on their own inert: a .pth, usercustomize or .bashrc written there runs nothing', async () => {
    // The reported smuggling: a file written once (approved as a mere file) runs inside every later program.
    const userSite = (
      await manager.execute(id, OWNER, { code: 'import site\nprint(site.getusersitepackages())' })
    ).stdout.trim();
    expect(userSite.startsWith('/workspace/')).toBe(true);
    const relative = userSite.slice('/workspace/'.length);
    await manager.writeFile(id, OWNER, `${relative}/zz.pth`, 'import sys; sys.stdout.write("SMUGGLED-PTH\\n")\n');
    await manager.writeFile(id, OWNER, `${relative}/usercustomize.py`, 'print("SMUGGLED-USERCUSTOMIZE")\n');
    const python = await manager.execute(id, OWNER, {
      code: 'import site, subprocess, sys\nprint(site.ENABLE_USER_SITE)\nsys.stdout.flush()\nsubprocess.run([sys.executable, "-c", "print(2)"])',
    });
    expect(python).toMatchObject({ stdout: 'False\n2\n', stderr: '', exit_code: 0 });
    const shell = (await manager.create({ language: 'shell', owner: OWNER })).sandbox_id;
    for (const file of ['.bashrc', '.profile', '.bash_profile', '.bash_login'])
      await manager.writeFile(shell, OWNER, file, `echo SMUGGLED-${file}\n`);
    const bash = await manager.execute(shell, OWNER, { code: 'echo hi; bash -c "echo child"' });
    expect(bash).toMatchObject({ stdout: 'hi\nchild\n', stderr: '', exit_code: 0 });
  });

  it('shares the workspace with executions, both ways', async () => {
    await manager.writeFile(id, OWNER, 'numbers.txt', '1 2 3');
    const result = await manager.execute(id, OWNER, {
      code: "n = sum(map(int, open('numbers.txt').read().split()))\nopen('/workspace/sum.txt','w').write(str(n))",
    });
    expect(result.exit_code).toBe(0);
    expect((await manager.readFile(id, OWNER, 'sum.txt')).toString()).toBe('6');
  });

  it('keeps binary content intact', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 0]);
    await manager.writeFile(id, OWNER, 'blob.bin', bytes);
    expect(Buffer.compare(await manager.readFile(id, OWNER, 'blob.bin'), bytes)).toBe(0);
  });

  it.each([
    ['/etc/passwd', 'absolute'],
    ['../etc/passwd', 'escape'],
    ['data/../../etc/passwd', 'nested escape'],
    ['..', 'parent'],
    ['a\0b', 'NUL byte'],
    ['line\nbreak', 'control character'],
  ])('refuses %j (%s) with InvalidPath', async (path) => {
    await expect(manager.readFile(id, OWNER, path)).rejects.toMatchObject({ code: 'InvalidPath' });
    await expect(manager.writeFile(id, OWNER, path, 'x')).rejects.toMatchObject({ code: 'InvalidPath' });
    await expect(manager.listFiles(id, OWNER, path)).rejects.toMatchObject({ code: 'InvalidPath' });
  });

  it('takes the longest path /workspace/<path> fits PATH_MAX with; refuses longer paths and names with InvalidPath', async () => {
    const longest = `${'a'.repeat(200)}/`.repeat(20) + 'x'.repeat(64);
    await manager.writeFile(id, OWNER, longest, 'deep');
    expect((await manager.readFile(id, OWNER, longest)).toString()).toBe('deep');
    for (const path of [`${longest}x`, 'a'.repeat(256)]) {
      await expect(manager.writeFile(id, OWNER, path, 'x')).rejects.toMatchObject({ code: 'InvalidPath' });
      await expect(manager.readFile(id, OWNER, path)).rejects.toMatchObject({ code: 'InvalidPath' });
    }
  });

  it('refuses symlinks planted by sandboxed code that lead outside /workspace', async () => {
    const planted = await manager.execute(id, OWNER, {
      code: [
        'import os',
        "os.symlink('/etc/passwd', '/workspace/passwd')",
        "os.symlink('/etc', '/workspace/etc')",
        "os.symlink('/proc/self/root/etc/passwd', '/workspace/sneaky')",
        "os.symlink('/tmp', '/workspace/tmpdir')",
        "os.symlink('data', '/workspace/inside')",
      ].join('\n'),
    });
    expect(planted.exit_code).toBe(0);
    for (const path of ['passwd', 'etc/passwd', 'sneaky']) {
      await expect(manager.readFile(id, OWNER, path), path).rejects.toMatchObject({ code: 'InvalidPath' });
    }
    await expect(manager.listFiles(id, OWNER, 'etc')).rejects.toMatchObject({ code: 'InvalidPath' });
    await expect(manager.writeFile(id, OWNER, 'passwd', 'overwrite')).rejects.toMatchObject({ code: 'InvalidPath' });
    await expect(manager.writeFile(id, OWNER, 'tmpdir/x', 'escape')).rejects.toMatchObject({ code: 'InvalidPath' });
    // A link that stays inside is followed.
    await manager.writeFile(id, OWNER, 'data/inner.txt', 'inner');
    expect((await manager.readFile(id, OWNER, 'inside/inner.txt')).toString()).toBe('inner');
  });

  it('answers FileNotFound, NotADirectory and IsADirectory', async () => {
    await expect(manager.readFile(id, OWNER, 'missing.txt')).rejects.toMatchObject({ code: 'FileNotFound' });
    await expect(manager.listFiles(id, OWNER, 'missing')).rejects.toMatchObject({ code: 'FileNotFound' });
    await manager.writeFile(id, OWNER, 'plain.txt', 'x');
    await expect(manager.listFiles(id, OWNER, 'plain.txt')).rejects.toMatchObject({ code: 'NotADirectory' });
    await expect(manager.writeFile(id, OWNER, 'plain.txt/child', 'x')).rejects.toMatchObject({ code: 'NotADirectory' });
    await expect(manager.readFile(id, OWNER, 'data')).rejects.toMatchObject({ code: 'IsADirectory' });
  });

  it('caps the size of writes and reads with FileTooLarge', async () => {
    await expect(manager.writeFile(id, OWNER, 'big.txt', 'x'.repeat(64 * 1024 + 1))).rejects.toMatchObject({
      code: 'FileTooLarge',
    });
    await manager.execute(id, OWNER, { code: "open('/workspace/made-big.txt','w').write('y' * (64 * 1024 + 1))" });
    await expect(manager.readFile(id, OWNER, 'made-big.txt')).rejects.toMatchObject({ code: 'FileTooLarge' });
  });

  it('reports DiskLimitExceeded when the workspace is full', async () => {
    const small = (await manager.create({ language: 'shell', owner: OWNER, limits: { max_disk_mb: 1 } })).sandbox_id;
    await manager.execute(small, OWNER, { code: 'head -c 1000000 /dev/zero > /workspace/filler' });
    await expect(manager.writeFile(small, OWNER, 'more.txt', 'z'.repeat(60 * 1024))).rejects.toMatchObject({
      code: 'DiskLimitExceeded',
    });
  });

  it('hides a sandbox from every other owner', async () => {
    await expect(manager.readFile(id, 'tenant-b', 'numbers.txt')).rejects.toMatchObject({ code: 'SandboxNotFound' });
    await expect(manager.listFiles(id, 'tenant-b')).rejects.toMatchObject({ code: 'SandboxNotFound' });
    await expect(manager.execute(id, 'tenant-b', { code: 'print(1)' })).rejects.toMatchObject({
      code: 'SandboxNotFound',
    });
    await expect(manager.destroy(id, 'tenant-b')).rejects.toMatchObject({ code: 'SandboxNotFound' });
    expect(await manager.list('tenant-b')).toEqual([]);
  });
});

describe('files at the default limit (max_file_bytes 8 MiB)', () => {
  const MAX = 8 * 1_048_576;
  let full: SandboxManager;
  let sandboxId: string;
  beforeAll(async () => {
    full = testManager();
    await full.start();
    sandboxId = (await full.create({ language: 'python', owner: OWNER })).sandbox_id;
  });
  afterAll(async () => {
    await full.stop({ destroySandboxes: true });
  });

  it('writes and reads back every byte of a file of exactly max_file_bytes; one byte more is refused both ways', async () => {
    const bytes = randomBytes(MAX);
    await full.writeFile(sandboxId, OWNER, 'exact.bin', bytes);
    const back = await full.readFile(sandboxId, OWNER, 'exact.bin');
    expect(back.length).toBe(MAX);
    expect(Buffer.compare(back, bytes)).toBe(0);
    // What the program sees is what was written.
    const seen = await full.execute(sandboxId, OWNER, {
      code: "import hashlib\nprint(hashlib.sha256(open('exact.bin','rb').read()).hexdigest())",
    });
    expect(seen.stdout).toBe(`${createHash('sha256').update(bytes).digest('hex')}\n`);

    await expect(full.writeFile(sandboxId, OWNER, 'over.bin', randomBytes(MAX + 1))).rejects.toMatchObject({
      code: 'FileTooLarge',
    });
    await full.execute(sandboxId, OWNER, { code: `open('over.bin','wb').write(b'o' * ${MAX + 1})` });
    await expect(full.readFile(sandboxId, OWNER, 'over.bin')).rejects.toMatchObject({ code: 'FileTooLarge' });
  });

  it('reads a file a program wrote in one large write, byte for byte', async () => {
    const made = await full.execute(sandboxId, OWNER, {
      code: "import os\nfd = os.open('made.bin', os.O_WRONLY | os.O_CREAT)\ndata = bytes(range(256)) * 8192\nwhile data:\n    data = data[os.write(fd, data):]",
    });
    expect(made.exit_code, made.stderr).toBe(0);
    const back = await full.readFile(sandboxId, OWNER, 'made.bin');
    expect(Buffer.compare(back, Buffer.alloc(256 * 8192, Buffer.from([...Array(256).keys()])))).toBe(0);
  });
});
