import { isHarombeApiError } from '@harombe/client';
import type { JobView } from '@harombe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { keyOf, resultOf, TestFleet, until } from '../src/index.js';

let fleet: TestFleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

/** Programs the tests run without a person: print(n), and shell's sleep then echo. */
const LOW_PROGRAMS = {
  tools: ['code_execute'],
  risk: 'LOW',
  conditions: [{ param: 'code', matches: String.raw`^print\(\d+\)$|^sleep [0-9.]+; echo \w+$` }],
  description: 'Test programs that run without approval',
};

async function start(config: Record<string, unknown> = {}): Promise<TestFleet> {
  const { security, ...rest } = config as { security?: Record<string, unknown> };
  fleet = await TestFleet.start({
    config: {
      ...rest,
      security: { ...security, policy: { rules: [LOW_PROGRAMS] } },
    },
  });
  return fleet;
}

/** The test fleet's sandbox containers alive now. */
async function liveSandboxes(): Promise<number> {
  return (await (fleet as TestFleet).containers()).length;
}

describe('one-shot and kept sandboxes through the API', () => {
  it('runs a job without sandbox_id in a sandbox of its own that is gone once the job has ended', async () => {
    const f = await start({ security: { sandbox: { warm_pool: { python: 0 } } } });
    const alice = f.client('alice');
    const job = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: 'print(7)' },
      wait_seconds: 60,
    });
    expect(job).toMatchObject({ status: 'completed', result: { stdout: '7\n', sandbox_kept: false } });
    const sandbox_id = resultOf(job).sandbox_id as string;
    expect(sandbox_id).toMatch(/^sandbox-/);
    await until('the one-shot sandbox to be removed', async () => (await liveSandboxes()) === 0);
    expect(await alice.listSandboxes()).toEqual([]);
    const again = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: 'print(8)', sandbox_id },
      wait_seconds: 60,
    });
    expect(again).toMatchObject({ status: 'failed', error: { code: 'SandboxNotFound' } });
  });

  it('keeps a sandbox asked for with keep_sandbox, or made with POST /v1/sandboxes, until it is destroyed', async () => {
    const f = await start();
    const alice = f.client('alice');
    const kept = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: 'print(1)', keep_sandbox: true },
      wait_seconds: 60,
    });
    expect(kept).toMatchObject({ status: 'completed', result: { sandbox_kept: true } });
    const made = await fetch(`${f.apiUrl}/v1/sandboxes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keyOf('alice')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'shell', idle_timeout: 300 }),
    });
    expect(made.status).toBe(201);
    const created = (await made.json()) as JobView;
    expect(created).toMatchObject({ tool: 'code_create_sandbox', risk: 'LOW', status: 'completed' });
    const shell = resultOf(created).sandbox_id as string;
    const listed = await alice.listSandboxes();
    expect(listed.map((sandbox) => sandbox.sandbox_id).sort()).toEqual([resultOf(kept).sandbox_id, shell].sort());
    const shellView = listed.find((sandbox) => sandbox.sandbox_id === shell);
    expect(Date.parse(shellView!.expires_at) - Date.now()).toBeGreaterThan(200_000);
    const inShell = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'shell', code: 'sleep 0; echo kept', sandbox_id: shell },
      wait_seconds: 60,
    });
    expect(inShell).toMatchObject({ status: 'completed', result: { stdout: 'kept\n', sandbox_kept: true } });
    // Another tenant sees none of them.
    expect(await f.client('eve').listSandboxes()).toEqual([]);
    await alice.destroySandbox(shell);
    expect((await alice.listSandboxes()).map((sandbox) => sandbox.sandbox_id)).toEqual([resultOf(kept).sandbox_id]);
    // A network-enabled one needs a person first.
    const network = await alice.submitJob({
      tool: 'code_create_sandbox',
      params: { language: 'python', network_enabled: true, allowed_domains: ['example.com'] },
    });
    expect(network).toMatchObject({ risk: 'CRITICAL', status: 'awaiting_approval' });
  });

  it('refuses a kept sandbox past the tenant quota (429) or past the fleet’s room (503), with nothing made', async () => {
    const f = await start({
      worker: { max_sandboxes: 3 },
      quotas: { max_sandboxes_per_tenant: 1, tenants: { globex: { max_sandboxes_per_tenant: 5 } } },
      security: { sandbox: { warm_pool: { python: 0 } } },
    });
    const alice = f.client('alice');
    const first = await alice.createSandbox({ language: 'shell' });
    expect(first.success).toBe(true);
    const quota = await alice.createSandbox({ language: 'shell' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isHarombeApiError(quota, 'QuotaExceeded')).toBe(true);
    expect(quota).toMatchObject({ status: 429, details: { limit: 1 } });
    // The worker (3 sandboxes, concurrency 2) may keep one only: the fleet is full for anyone.
    await until('the worker to report its capacity', async () => {
      const response = await fetch(`${f.apiUrl}/v1/sandboxes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${keyOf('eve')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ language: 'shell' }),
      });
      if (response.status !== 503) return false;
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await response.json()).toMatchObject({ error: { code: 'CapacityExceeded' } });
      return true;
    });
    expect(await f.client('eve').listSandboxes()).toEqual([]);
    expect(await liveSandboxes()).toBe(1);
    // One-shot jobs still run: kept sandboxes never take the worker's last slots.
    expect(
      await alice.submitJob({
        tool: 'code_execute',
        params: { language: 'python', code: 'print(3)' },
        wait_seconds: 60,
      }),
    ).toMatchObject({ status: 'completed', result: { stdout: '3\n' } });
  });
});

describe('bounded capacity', () => {
  it('leaves jobs queued while the worker is busy and takes them as slots free', async () => {
    const f = await start({
      worker: { concurrency: 1 },
      security: { sandbox: { warm_pool: { shell: 0, python: 0 } } },
    });
    const alice = f.client('alice');
    const jobs = await Promise.all(
      [1, 2, 3].map((i) =>
        alice.submitJob({ tool: 'code_execute', params: { language: 'shell', code: `sleep 1.5; echo job${i}` } }),
      ),
    );
    const views = await until('one job running and two waiting', async () => {
      const now = await Promise.all(jobs.map((job) => alice.getJob(job.job_id)));
      const statuses = now.map((job) => job.status).sort();
      return statuses.join() === 'queued,queued,running' && now;
    });
    expect(views.filter((job) => job.status === 'queued')).toHaveLength(2);
    for (const job of jobs) {
      expect(await alice.waitForJob(job.job_id, { timeoutMs: 60_000 })).toMatchObject({ status: 'completed' });
    }
  });

  it('runs a 200-job one-shot batch to the end without ever holding more sandboxes than max_sandboxes', async () => {
    const f = await start({
      worker: { concurrency: 2, max_sandboxes: 4 },
      security: { sandbox: { warm_pool: { python: 0 } } },
    });
    const alice = f.client('alice');
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await liveSandboxes());
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const batch = await alice.submitBatch({
      jobs: Array.from({ length: 200 }, (_, i) => ({
        tool: 'code_execute',
        params: { language: 'python', code: `print(${i})` },
      })),
    });
    try {
      // A bound for a batch that stops moving, not a speed bar: on two busy cores a cold one-shot
      // job takes a second or more.
      await until(
        'every job of the batch to end',
        async () => (await alice.getBatch(batch.batch_id, { limit: 1 })).counts.completed === 200,
        400_000,
      );
    } finally {
      sampling = false;
      await sampler;
    }
    const results: JobView[] = [];
    for await (const job of alice.batchResults(batch.batch_id)) results.push(job);
    const byId = new Map(results.map((job) => [job.job_id, job]));
    batch.job_ids.forEach((id, i) =>
      expect(byId.get(id)?.result).toMatchObject({ stdout: `${i}\n`, sandbox_kept: false }),
    );
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(4);
    // Nothing waits any more: the warm pool shrinks back to its base (none).
    await until('the sandboxes to be gone', async () => (await liveSandboxes()) === 0);
  }, 420_000);

  it('leaves no container behind when the fleet stops', async () => {
    const f = await start({ security: { sandbox: { warm_pool: { python: 1 } } } });
    const alice = f.client('alice');
    await alice.createSandbox({ language: 'shell' });
    await until('the warm pool and the kept sandbox', async () => (await liveSandboxes()) === 2);
    // The services stop on their own (the fixture's clean-up after them is not what is tested).
    await f.fleet.stop();
    expect(await f.containers()).toEqual([]);
  });
});
