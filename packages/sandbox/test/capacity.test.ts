import { afterEach, describe, expect, it } from 'vitest';
import type { SandboxManager, SandboxManagerOptions } from '../src/index.js';
import { containersOf, testManager } from './fixtures.js';

const OWNER = 'tenant-a';
const managers: SandboxManager[] = [];

async function started(options: SandboxManagerOptions = {}, config = {}): Promise<SandboxManager> {
  const manager = testManager(config, options);
  managers.push(manager);
  await manager.start();
  return manager;
}

afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.stop({ destroySandboxes: true });
});

describe('one-shot sandboxes', () => {
  it('run one program and are removed once it has ended; the result says the sandbox is gone', async () => {
    const manager = await started();
    const result = await manager.runOnce({ language: 'python', owner: OWNER, code: 'print("once")' });
    expect(result).toMatchObject({ success: true, stdout: 'once\n', sandbox_kept: false });
    expect(result.sandbox_id).toMatch(/^sandbox-[0-9a-f]{16}$/);
    await expect.poll(async () => (await containersOf(manager.managerId)).length).toBe(0);
    expect(manager.capacity().in_use).toBe(0);
    await expect(manager.get(result.sandbox_id!, OWNER)).rejects.toMatchObject({ code: 'SandboxNotFound' });
    expect(await manager.list(OWNER)).toEqual([]);
  });

  it('take a ready sandbox from the warm pool, which refills', async () => {
    const manager = await started({}, { warm_pool: { shell: 1 } });
    await manager.warmPoolFilled();
    const [pooled] = await containersOf(manager.managerId);
    const result = await manager.runOnce({ language: 'shell', owner: OWNER, code: 'echo warm' });
    expect(result.sandbox_id).toBe(pooled?.Labels['org.harombe.sandbox']);
    await expect.poll(() => manager.warmPoolAvailable('shell'), { timeout: 15_000 }).toBe(1);
  });
});

describe('capacity', () => {
  it('never has more sandboxes alive than max_sandboxes: executions beyond it wait for a slot', async () => {
    const manager = await started({ maxSandboxes: 2, oneShotReserve: 1 });
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, manager.capacity().in_use);
      // A sample Docker fails to answer is skipped: the manager's own count was taken above.
      void containersOf(manager.managerId).then(
        (list) => (peak = Math.max(peak, list.length)),
        () => undefined,
      );
    }, 20);
    try {
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => manager.runOnce({ language: 'shell', owner: OWNER, code: `echo ${i}` })),
      );
      expect(results.map((r) => r.stdout)).toEqual(['0\n', '1\n', '2\n', '3\n', '4\n', '5\n']);
    } finally {
      clearInterval(sampler);
    }
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(2);
    await expect.poll(async () => (await containersOf(manager.managerId)).length).toBe(0);
  });

  it('keeps a share for one-shot executions: past it a kept sandbox is refused with CapacityExceeded, nothing made', async () => {
    const manager = await started({ maxSandboxes: 3, oneShotReserve: 1 });
    expect(manager.capacity()).toMatchObject({ max: 3, kept_limit: 2, kept_free: 2 });
    const kept = [
      await manager.create({ language: 'shell', owner: OWNER }),
      await manager.create({ language: 'shell', owner: 'tenant-b' }),
    ];
    expect(manager.capacity()).toMatchObject({ kept: 2, kept_free: 0 });
    await expect(manager.create({ language: 'shell', owner: OWNER })).rejects.toMatchObject({
      code: 'CapacityExceeded',
    });
    expect((await containersOf(manager.managerId)).length).toBe(2);
    // The reserved slot still runs one-shot executions.
    expect(await manager.runOnce({ language: 'shell', owner: OWNER, code: 'echo still' })).toMatchObject({
      stdout: 'still\n',
    });
    // A destroyed kept sandbox gives its place back.
    await manager.destroy(kept[0]!.sandbox_id, OWNER);
    expect(manager.capacity()).toMatchObject({ kept: 1, kept_free: 1 });
    await manager.create({ language: 'shell', owner: OWNER });
  });

  it('lives on, kept, until its own idle_timeout', async () => {
    const manager = await started();
    const sandbox = await manager.create({ language: 'shell', owner: OWNER, idle_timeout: 120 });
    expect(Date.parse(sandbox.expires_at) - Date.parse(sandbox.last_used_at)).toBe(120_000);
    const result = await manager.execute(sandbox.sandbox_id, OWNER, { code: 'echo kept' });
    expect(result).toMatchObject({ stdout: 'kept\n', sandbox_kept: true });
    expect((await manager.list(OWNER)).map((s) => s.sandbox_id)).toEqual([sandbox.sandbox_id]);
  });
});

describe('the warm pool follows demand', () => {
  it('grows for waiting jobs as far as free slots allow, and shrinks back to its base once none wait', async () => {
    const manager = await started({ maxSandboxes: 3, poolShrinkAfterMs: 200 }, { warm_pool: { shell: 1 } });
    await manager.warmPoolFilled();
    expect(manager.warmPoolAvailable('shell')).toBe(1);
    manager.setDemand(10);
    await expect.poll(() => manager.warmPoolAvailable('shell'), { timeout: 30_000 }).toBe(3);
    expect(manager.capacity().in_use).toBe(3);
    manager.setDemand(0);
    await expect.poll(() => manager.warmPoolAvailable('shell'), { timeout: 15_000 }).toBe(1);
    await expect.poll(async () => (await containersOf(manager.managerId)).length).toBe(1);
  });
});

describe('stopping', () => {
  it('removes every sandbox the manager made: pooled, kept and one-shot ones being removed', async () => {
    const manager = testManager({ warm_pool: { shell: 1 } });
    await manager.start();
    await manager.warmPoolFilled();
    await manager.create({ language: 'python', owner: OWNER });
    await manager.runOnce({ language: 'shell', owner: OWNER, code: 'true' });
    await manager.stop({ destroySandboxes: true });
    expect(await containersOf(manager.managerId)).toEqual([]);
    expect(manager.capacity().in_use).toBe(0);
  });
});
