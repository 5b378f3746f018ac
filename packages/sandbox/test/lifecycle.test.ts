import Docker from 'dockerode';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '@harombe/core';
import { CodeExecutionTools, InMemorySandboxRegistry, type SandboxManager } from '../src/index.js';
import { containersOf, docker, testManager } from './fixtures.js';

const OWNER = 'tenant-life';
const managers: SandboxManager[] = [];

function tracked(manager: SandboxManager): SandboxManager {
  managers.push(manager);
  return manager;
}

afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.stop({ destroySandboxes: true });
});

describe('every sandbox container', () => {
  it('is hardened: runsc, read-only root, non-root, no capabilities, no network, no host mounts', async () => {
    const manager = tracked(testManager());
    await manager.start();
    const { sandbox_id } = await manager.create({ language: 'shell', owner: OWNER });
    const [summary] = await containersOf(manager.managerId);
    const info = await docker.getContainer(summary!.Id).inspect();
    expect(info.HostConfig.Runtime).toBe('runsc');
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges');
    expect(info.HostConfig.NetworkMode).toBe('none');
    expect(info.HostConfig.Privileged).toBe(false);
    expect(info.Mounts).toEqual([]);
    expect(info.HostConfig.Binds ?? []).toEqual([]);
    // The init alone runs as root, with CAP_KILL alone; every program under an id of its own.
    expect(info.Config.User).toBe('0:0');
    expect(info.HostConfig.CapAdd).toEqual(['KILL']);
    expect(info.Config.Env).toContain('PYTHONUNBUFFERED=');
    expect(info.Config.Labels).toMatchObject({
      'org.harombe.sandbox': sandbox_id,
      'org.harombe.owner': OWNER,
      'org.harombe.manager': manager.managerId,
    });
    expect(Date.parse(info.Config.Labels['org.harombe.created-at']!)).not.toBeNaN();

    const inside = await manager.execute(sandbox_id, OWNER, {
      code: [
        'echo "uid=$(id -u)"',
        'touch /etc/x 2>/dev/null && echo "root writable" || echo "root read-only"',
        'ls /var/run/docker.sock /run/docker.sock 2>/dev/null || echo "no docker socket"',
        'grep -c ":" /proc/net/dev',
        'grep CapEff /proc/self/status',
        'dmesg 2>/dev/null | head -1 | grep -q gVisor && echo "gvisor kernel" || (uname -v; cat /proc/version)',
      ].join('\n'),
    });
    const lines = inside.stdout.trim().split('\n');
    expect(lines[0]).toBe('uid=10000');
    expect(lines[1]).toBe('root read-only');
    expect(lines[2]).toBe('no docker socket');
    expect(Number(lines[3])).toBeLessThanOrEqual(1); // only loopback, if anything
    expect(lines[4]).toMatch(/CapEff:\s+0+$/);
  });

  it('refuses a runtime other than runsc unless the operator allows it, and then warns loudly', async () => {
    const manager = testManager({ runtime: 'runc' });
    await expect(manager.start()).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/allow_insecure_runtime/),
    });

    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const allowed = tracked(testManager({ runtime: 'runc', allow_insecure_runtime: true }, { logger }));
    await allowed.start();
    const warning = lines
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .find((entry) => /INSECURE/.test(entry.msg));
    expect(warning?.level).toBeGreaterThanOrEqual(50);
    expect(warning?.msg).toMatch(/not gVisor/);
  });
});

describe('errors', () => {
  it('UnsupportedLanguage, NetworkDisabled (installs without network), LimitTooHigh, SandboxNotFound', async () => {
    const manager = tracked(testManager({ max_limits: { max_execution_time: 60 } }));
    await manager.start();
    await expect(manager.create({ language: 'ruby', owner: OWNER })).rejects.toMatchObject({
      code: 'UnsupportedLanguage',
    });
    await expect(
      manager.create({ language: 'python', owner: OWNER, limits: { max_execution_time: 61 } }),
    ).rejects.toMatchObject({ code: 'LimitTooHigh' });
    const { sandbox_id } = await manager.create({ language: 'python', owner: OWNER });
    await expect(manager.execute(sandbox_id, OWNER, { code: 'pass', timeout: 120 })).rejects.toMatchObject({
      code: 'LimitTooHigh',
    });
    await expect(manager.installPackage(sandbox_id, OWNER, 'requests', 'pypi')).rejects.toMatchObject({
      code: 'NetworkDisabled',
    });
    await expect(manager.execute('sandbox-0000000000000000', OWNER, { code: 'pass' })).rejects.toMatchObject({
      code: 'SandboxNotFound',
    });
    await manager.destroy(sandbox_id, OWNER);
    await expect(manager.execute(sandbox_id, OWNER, { code: 'pass' })).rejects.toMatchObject({
      code: 'SandboxNotFound',
    });
    expect(await containersOf(manager.managerId)).toEqual([]);
  });

  it('RuntimeUnavailable when Docker is unreachable, runsc is not registered, or an image is missing', async () => {
    const noDocker = testManager({}, { docker: new Docker({ socketPath: '/nonexistent/docker.sock' }) });
    await expect(noDocker.start()).rejects.toMatchObject({
      code: 'RuntimeUnavailable',
      message: expect.stringMatching(/deploy\/host\/setup\.sh/),
    });
    const noRunsc = testManager({ runtime: 'runsc-not-registered' });
    await expect(noRunsc.start()).rejects.toMatchObject({
      code: 'RuntimeUnavailable',
      message: expect.stringMatching(/no 'runsc-not-registered' runtime/),
    });
    const noImage = tracked(testManager({ languages: { python: { image: 'harombe/no-such-image' } } }));
    await noImage.start();
    await expect(noImage.create({ language: 'python', owner: OWNER })).rejects.toMatchObject({
      code: 'RuntimeUnavailable',
      message: expect.stringMatching(/harombe\/no-such-image is missing/),
    });
  });

  it('the tools answer refusals as results with stable codes', async () => {
    const manager = tracked(testManager());
    await manager.start();
    const tools = new CodeExecutionTools(manager);
    expect(await tools.code_execute({ language: 'cobol', code: 'x' }, OWNER)).toMatchObject({
      success: false,
      error: 'UnsupportedLanguage',
    });
    // Without keep_sandbox the sandbox is one-shot: gone once the result is there.
    const once = await tools.code_execute({ language: 'python', code: 'print("once")' }, OWNER);
    expect(once).toMatchObject({ success: true, stdout: 'once\n', sandbox_kept: false });
    expect(
      await tools.code_execute({ language: 'python', code: 'print(1)', sandbox_id: once.sandbox_id }, OWNER),
    ).toMatchObject({ success: false, sandbox_id: once.sandbox_id, sandbox_kept: true, error: 'SandboxNotFound' });
    const run = await tools.code_execute(
      { language: 'python', code: 'print("Hello from gVisor sandbox!")', keep_sandbox: true },
      OWNER,
    );
    expect(run).toMatchObject({
      success: true,
      stdout: 'Hello from gVisor sandbox!\n',
      sandbox_kept: true,
      error: null,
    });
    const sandbox_id = run.sandbox_id!;
    // Network is chosen at creation: a sandbox made without it never gets it.
    expect(
      await tools.code_execute({ language: 'python', code: 'x', sandbox_id, network_enabled: true }, OWNER),
    ).toMatchObject({ success: false, error: 'NetworkDisabled' });
    expect(await tools.code_write_file({ sandbox_id, file_path: 'notes/a.txt', content: 'hi' }, OWNER)).toEqual({
      success: true,
      sandbox_id,
      file_path: 'notes/a.txt',
      error: null,
    });
    expect(await tools.code_read_file({ sandbox_id, file_path: 'notes/a.txt' }, OWNER)).toEqual({
      success: true,
      sandbox_id,
      file_path: 'notes/a.txt',
      content: 'hi',
      error: null,
    });
    expect(await tools.code_list_files({ sandbox_id }, OWNER)).toEqual({
      success: true,
      sandbox_id,
      path: '.',
      files: ['notes'],
      error: null,
    });
    expect(await tools.code_read_file({ sandbox_id, file_path: '../x' }, OWNER)).toMatchObject({
      success: false,
      error: 'InvalidPath',
    });
    // Jobs carry their paths normalized (the policy classified that form): any other spelling was not approved.
    expect(await tools.code_write_file({ sandbox_id, file_path: 'evil.py/', content: 'x' }, OWNER)).toMatchObject({
      success: false,
      error: 'InvalidPath',
    });
    expect(await tools.code_read_file({ sandbox_id, file_path: './notes/a.txt' }, OWNER)).toMatchObject({
      success: false,
      error: 'InvalidPath',
    });
    expect(await tools.code_list_files({ sandbox_id, path: 'notes/' }, OWNER)).toMatchObject({
      success: false,
      error: 'InvalidPath',
    });
    expect((await tools.code_list_files({ sandbox_id }, OWNER)).files).toEqual(['notes']);
    expect(await tools.code_install_package({ sandbox_id, package: 'requests==2.31.0' }, OWNER)).toMatchObject({
      success: false,
      registry: 'pypi',
      error: 'NetworkDisabled',
    });
    expect(
      await tools.code_execute({ language: 'python', code: 'print(1)', sandbox_id }, 'someone-else'),
    ).toMatchObject({ success: false, error: 'SandboxNotFound' });
    expect(await tools.code_destroy_sandbox({ sandbox_id }, OWNER)).toMatchObject({
      success: true,
      message: 'Sandbox destroyed successfully',
    });
    expect(await tools.code_destroy_sandbox({ sandbox_id }, OWNER)).toMatchObject({
      success: false,
      error: 'SandboxNotFound',
    });
  });
});

describe('the reaper', () => {
  it('removes orphaned containers at start and on demand, and leaves known sandboxes alone', async () => {
    const first = testManager();
    await first.start();
    await first.create({ language: 'shell', owner: OWNER });
    await first.create({ language: 'shell', owner: OWNER });
    // first "crashes": its records are gone, its containers are not.
    await first.stop();
    expect(await containersOf(first.managerId)).toHaveLength(2);

    const second = tracked(testManager({}, { managerId: first.managerId }));
    await second.start();
    expect(await containersOf(first.managerId)).toHaveLength(0);

    const kept = await second.create({ language: 'shell', owner: OWNER });
    // An orphan appearing later (another crashed instance under the same id) goes on the next sweep.
    const third = testManager({}, { managerId: first.managerId });
    await third.create({ language: 'shell', owner: OWNER });
    expect(await containersOf(first.managerId)).toHaveLength(2);
    expect(await second.reapOrphans()).toBe(1);
    const left = await containersOf(first.managerId);
    expect(left.map((c) => c.Labels['org.harombe.sandbox'])).toEqual([kept.sandbox_id]);
    expect((await second.execute(kept.sandbox_id, OWNER, { code: 'echo still here' })).stdout).toBe('still here\n');
  });

  it("reaps a lost manager's containers only within its own fleet: two fleets on one Docker host never touch each other's", async () => {
    const fleet = (id: string) => ({ labels: { 'org.harombe.fleet': id } });
    const mine = tracked(testManager({}, fleet('fleet-a')));
    await mine.start();
    const { sandbox_id } = await mine.create({ language: 'shell', owner: OWNER });
    // Another fleet's worker, to which every manager it does not know looks lost.
    const stranger = tracked(testManager({}, fleet('fleet-b')));
    await stranger.start();
    expect(await stranger.reapAbandoned(async () => true)).toBe(0);
    expect((await mine.execute(sandbox_id, OWNER, { code: 'echo untouched' })).stdout).toBe('untouched\n');
    // A worker of the same fleet that finds the manager gone reaps it.
    const sibling = tracked(testManager({}, fleet('fleet-a')));
    await sibling.start();
    expect(await sibling.reapAbandoned(async (managerId) => managerId === mine.managerId)).toBe(1);
    expect(await containersOf(mine.managerId)).toEqual([]);
  });

  it('lets a restarted manager with a persistent registry adopt its sandboxes', async () => {
    const registry = new InMemorySandboxRegistry();
    const first = testManager({}, { registry });
    await first.start();
    const { sandbox_id } = await first.create({ language: 'shell', owner: OWNER });
    await first.execute(sandbox_id, OWNER, { code: 'echo kept > /workspace/file' });
    await first.stop();
    const second = tracked(testManager({}, { registry, managerId: first.managerId }));
    await second.start();
    expect((await second.execute(sandbox_id, OWNER, { code: 'cat /workspace/file' })).stdout).toBe('kept\n');
  });

  it('destroys sandboxes idle for longer than the idle timeout (default 15 minutes)', async () => {
    const clock = new ManualClock();
    const manager = tracked(testManager({}, { clock }));
    expect(manager.config.idle_timeout).toBe(900);
    await manager.start();
    const idle = await manager.create({ language: 'shell', owner: OWNER });
    clock.advance(10 * 60_000);
    const busy = await manager.create({ language: 'shell', owner: OWNER });
    clock.advance(6 * 60_000);
    await manager.execute(busy.sandbox_id, OWNER, { code: 'true' });
    expect(await manager.reapIdle()).toBe(1);
    await expect(manager.execute(idle.sandbox_id, OWNER, { code: 'true' })).rejects.toMatchObject({
      code: 'SandboxNotFound',
    });
    expect((await manager.list(OWNER)).map((s) => s.sandbox_id)).toEqual([busy.sandbox_id]);
  });
});

describe("a kept sandbox's record", () => {
  /** idle_timeout of the sandboxes here: their use is written at most every 10 s (a sixtieth). */
  const IDLE_S = 600;

  it('is written to the registry at most every sixtieth of idle_timeout; idle expiry goes by the exact last use', async () => {
    const clock = new ManualClock();
    const registry = new InMemorySandboxRegistry();
    const manager = tracked(testManager({}, { clock, registry }));
    await manager.start();
    const made = clock.now();
    const { sandbox_id } = await manager.create({ language: 'shell', owner: OWNER, idle_timeout: IDLE_S });
    const stored = async () => (await registry.get(sandbox_id))!;
    const lastUse = async () => Date.parse((await manager.get(sandbox_id, OWNER)).last_used_at);
    expect(await stored()).toMatchObject({ last_used_at: made, executions: 0 });

    clock.advance(9_999);
    await manager.execute(sandbox_id, OWNER, { code: 'true' });
    await manager.settled(sandbox_id);
    expect(await lastUse()).toBe(made + 9_999);
    expect(await stored()).toMatchObject({ last_used_at: made, executions: 0 });

    clock.advance(1);
    await manager.execute(sandbox_id, OWNER, { code: 'true' });
    await manager.settled(sandbox_id);
    expect(await stored()).toMatchObject({ last_used_at: made + 10_000, executions: 2 });

    clock.advance(5_000);
    await manager.execute(sandbox_id, OWNER, { code: 'true' });
    await manager.settled(sandbox_id);
    expect(await stored()).toMatchObject({ last_used_at: made + 10_000, executions: 2 });
    // The registry's copy says it has been idle for idle_timeout; it has not: it stays.
    clock.advance(IDLE_S * 1000);
    expect(await manager.reapIdle()).toBe(0);
    clock.advance(1);
    expect(await manager.reapIdle()).toBe(1);
    await expect(manager.execute(sandbox_id, OWNER, { code: 'true' })).rejects.toMatchObject({
      code: 'SandboxNotFound',
    });
  });

  it('adopted after a crash, counts as used up to one write interval later than recorded, never earlier', async () => {
    const clock = new ManualClock();
    const registry = new InMemorySandboxRegistry();
    const crashed = testManager({}, { clock, registry });
    await crashed.start();
    const made = clock.now();
    const { sandbox_id } = await crashed.create({ language: 'shell', owner: OWNER, idle_timeout: IDLE_S });
    clock.advance(5_000);
    await crashed.execute(sandbox_id, OWNER, { code: 'true' });
    await crashed.settled(sandbox_id);
    expect((await registry.get(sandbox_id))?.last_used_at).toBe(made);
    // Never stopped (its use not written): a restart with the same id and registry adopts the sandbox.
    clock.advance(60_000);
    const restarted = tracked(testManager({}, { clock, registry, managerId: crashed.managerId }));
    await restarted.start();
    const adopted = await restarted.get(sandbox_id, OWNER);
    expect(Date.parse(adopted.last_used_at)).toBe(made + 10_000);
    // Last used at made + 5 s: kept past its idle_timeout by 5 s at most, never destroyed before it.
    clock.advance(made + 10_000 + IDLE_S * 1000 - clock.now());
    expect(await restarted.reapIdle()).toBe(0);
    clock.advance(1);
    expect(await restarted.reapIdle()).toBe(1);
  });

  it('counts an execution that keeps its background processes before it runs: after a crash, no later one gets its user id', async () => {
    const clock = new ManualClock();
    const registry = new InMemorySandboxRegistry();
    const crashed = testManager({}, { clock, registry });
    await crashed.start();
    const { sandbox_id } = await crashed.create({ language: 'shell', owner: OWNER, idle_timeout: IDLE_S });
    const daemon = await crashed.execute(sandbox_id, OWNER, {
      code: 'sleep 300 >/dev/null 2>&1 &\nid -u',
      keep_background: true,
    });
    expect(daemon.exit_code).toBe(0);
    expect(await registry.get(sandbox_id)).toMatchObject({ executions: 1, keepers: true });
    // Never stopped: the restart adopts the sandbox with the daemon still running under its id.
    const restarted = tracked(testManager({}, { clock, registry, managerId: crashed.managerId }));
    await restarted.start();
    const next = await restarted.execute(sandbox_id, OWNER, { code: 'id -u', keep_background: true });
    expect(next.stdout.trim()).not.toBe(daemon.stdout.trim());
    expect(Number(next.stdout)).toBe(Number(daemon.stdout) + 1);
  });

  it("is refused, and removed by the next sweep, once its registry no longer holds it (a fleet that found its worker lost); another owner's never", async () => {
    const registry = new InMemorySandboxRegistry();
    const manager = tracked(testManager({}, { registry }));
    await manager.start();
    const { sandbox_id } = await manager.create({ language: 'shell', owner: OWNER });
    await expect(manager.execute(sandbox_id, 'another-tenant', { code: 'true' })).rejects.toMatchObject({
      code: 'SandboxNotFound',
    });
    expect((await manager.execute(sandbox_id, OWNER, { code: 'echo mine' })).stdout).toBe('mine\n');
    await manager.settled(sandbox_id);
    expect(manager.capacity().kept).toBe(1);

    await registry.delete(sandbox_id);
    await expect(manager.execute(sandbox_id, OWNER, { code: 'true' })).rejects.toMatchObject({
      code: 'SandboxNotFound',
    });
    expect(await manager.reapOrphans()).toBe(1);
    expect(await containersOf(manager.managerId)).toEqual([]);
    expect(manager.capacity().kept).toBe(0);
  });

  it('does not write back at stop a sandbox its registry has forgotten meanwhile', async () => {
    const clock = new ManualClock();
    const registry = new InMemorySandboxRegistry();
    const manager = testManager({}, { clock, registry });
    await manager.start();
    const { sandbox_id } = await manager.create({ language: 'shell', owner: OWNER, idle_timeout: IDLE_S });
    const other = await manager.create({ language: 'shell', owner: OWNER, idle_timeout: IDLE_S });
    // Used within the write interval: both uses wait in the manager's records for the stop.
    clock.advance(1_000);
    await manager.execute(sandbox_id, OWNER, { code: 'true' });
    await manager.execute(other.sandbox_id, OWNER, { code: 'true' });
    await registry.delete(sandbox_id);
    await manager.stop();
    expect(await registry.get(sandbox_id)).toBeUndefined();
    // The other one's use is written at stop, as before.
    expect((await registry.get(other.sandbox_id))?.last_used_at).toBe(clock.now());
    // A restart under the same id adopts the one still held and reaps the forgotten one's container.
    const restarted = tracked(testManager({}, { clock, registry, managerId: manager.managerId }));
    await restarted.start();
    expect((await containersOf(manager.managerId)).map((c) => c.Labels['org.harombe.sandbox'])).toEqual([
      other.sandbox_id,
    ]);
  });
});

describe('the warm pool', () => {
  it('hands out pre-started sandboxes to one owner each and refills in the background', async () => {
    const manager = tracked(testManager({ warm_pool: { python: 2 } }));
    await manager.start();
    await manager.warmPoolFilled();
    expect(manager.warmPoolAvailable('python')).toBe(2);
    const pooledIds = (await containersOf(manager.managerId)).map((c) => c.Labels['org.harombe.sandbox']);

    const a = await manager.create({ language: 'python', owner: 'owner-a' });
    const b = await manager.create({ language: 'python', owner: 'owner-b' });
    expect(pooledIds).toContain(a.sandbox_id);
    expect(pooledIds).toContain(b.sandbox_id);
    expect(a.sandbox_id).not.toBe(b.sandbox_id);
    expect(a.owner).toBe('owner-a');
    await expect(manager.execute(a.sandbox_id, 'owner-b', { code: 'pass' })).rejects.toMatchObject({
      code: 'SandboxNotFound',
    });
    expect((await manager.execute(a.sandbox_id, 'owner-a', { code: 'print("warm")' })).stdout).toBe('warm\n');

    await manager.warmPoolFilled();
    expect(manager.warmPoolAvailable('python')).toBe(2);
    // A used sandbox never returns to the pool.
    await manager.destroy(a.sandbox_id, 'owner-a');
    const c = await manager.create({ language: 'python', owner: 'owner-c' });
    expect([a.sandbox_id, b.sandbox_id]).not.toContain(c.sandbox_id);
    // A request with other limits gets a cold sandbox of its own.
    const custom = await manager.create({ language: 'python', owner: 'owner-c', limits: { max_memory_mb: 256 } });
    expect(custom.limits.max_memory_mb).toBe(256);
  });

  it('removes sandboxes never handed out when it stops', async () => {
    const manager = testManager({ warm_pool: { shell: 1 } });
    await manager.start();
    await manager.warmPoolFilled();
    expect(await containersOf(manager.managerId)).toHaveLength(1);
    await manager.stop();
    expect(await containersOf(manager.managerId)).toHaveLength(0);
  });
});
