import Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { resultOf, runApproved, TestFleet, until } from '../src/index.js';

let fleet: TestFleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

const docker = new Docker();
async function containersOf(sandboxId: string): Promise<number> {
  return (await docker.listContainers({ all: true, filters: { label: [`org.harombe.sandbox=${sandboxId}`] } })).length;
}

/** Containers a worker made (sandboxes, pooled or kept or one-shot), wherever they stand. */
async function containersOfWorker(workerId: string): Promise<number> {
  const label = `org.harombe.manager=harombe-worker-${workerId}`;
  return (await docker.listContainers({ all: true, filters: { label: [label] } })).length;
}

function workerProcess(f: TestFleet, workerId: string) {
  const found = f.fleet.workers.find((w) => w.workerId === workerId);
  if (!found) throw new Error(`no worker process ${workerId}`);
  return found;
}

describe('a fleet of workers', () => {
  it('shares the execution queue between two workers', async () => {
    fleet = await TestFleet.start({ workers: 2 });
    const alice = fleet.client('alice');
    const bob = fleet.client('bob');
    const jobs = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        runApproved(alice, bob, { tool: 'code_execute', params: { language: 'shell', code: `echo job ${i}` } }),
      ),
    );
    expect(jobs.map((job) => resultOf(job).stdout)).toEqual(Array.from({ length: 6 }, (_, i) => `job ${i}\n`));
    expect(new Set(jobs.map((job) => job.worker_id)).size).toBe(2);
  });

  it('ends the job of a worker killed mid-job as WorkerLost, reaps its container, and leaves other jobs alone', async () => {
    fleet = await TestFleet.start({ workers: 2 });
    const alice = fleet.client('alice');
    const bob = fleet.client('bob');
    // One sandbox on each worker.
    const sandboxes: Record<string, string> = {};
    while (Object.keys(sandboxes).length < 2) {
      const job = await runApproved(alice, bob, {
        tool: 'code_execute',
        params: { language: 'shell', code: 'true', keep_sandbox: true },
      });
      sandboxes[job.worker_id as string] ??= resultOf(job).sandbox_id as string;
    }
    const [doomedWorker, survivor] = Object.keys(sandboxes) as [string, string];
    const doomedSandbox = sandboxes[doomedWorker] as string;
    expect(await containersOf(doomedSandbox)).toBe(1);

    const doomed = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'shell', sandbox_id: doomedSandbox, code: 'echo started; sleep 60' },
    });
    const spared = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'shell', sandbox_id: sandboxes[survivor], code: 'sleep 3; echo spared' },
    });
    await bob.approve(doomed.approval!.approval_id);
    await bob.approve(spared.approval!.approval_id);
    await until('the doomed job to run', async () => (await alice.getJob(doomed.job_id)).status === 'running');
    workerProcess(fleet, doomedWorker).kill('SIGKILL');

    const lost = await alice.waitForJob(doomed.job_id, { timeoutMs: 30_000 });
    expect(lost).toMatchObject({
      status: 'failed',
      error: { code: 'WorkerLost' },
      result: { success: false, error: 'WorkerLost' },
    });
    const other = await alice.waitForJob(spared.job_id, { timeoutMs: 30_000 });
    expect(other).toMatchObject({ status: 'completed', result: { stdout: 'spared\n' } });

    // Its sandbox is gone with it: jobs naming it fail SandboxLost, and a worker on the host reaps the container.
    const orphan = await runApproved(alice, bob, { tool: 'code_list_files', params: { sandbox_id: doomedSandbox } });
    expect(orphan).toMatchObject({ status: 'failed', error: { code: 'SandboxLost' } });
    // The directory forgets it: the tenant's list no longer shows a sandbox of a worker that is gone.
    await until('the lost sandbox to leave the list', async () =>
      (await alice.listSandboxes()).every((sandbox) => sandbox.sandbox_id !== doomedSandbox),
    );
    expect((await alice.listSandboxes()).map((sandbox) => sandbox.sandbox_id)).toEqual([sandboxes[survivor]]);
    await fleet.fleet.startWorker();
    await until('the orphaned container to be reaped', async () => (await containersOf(doomedSandbox)) === 0, 60_000);
    // And everything else it had made, its warm pool included.
    await until(
      'every container of the lost worker to be reaped',
      async () => (await containersOfWorker(doomedWorker)) === 0,
    );
  });

  it('runs a job again after its worker is lost when the submitter asked for attempts', async () => {
    fleet = await TestFleet.start({ workers: 2 });
    const alice = fleet.client('alice');
    const job = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'shell', code: 'sleep 4; echo finally' },
      max_attempts: 2,
    });
    await fleet.client('bob').approve(job.approval!.approval_id);
    const running = await until('the job to run', async () => {
      const view = await alice.getJob(job.job_id);
      return view.status === 'running' && view;
    });
    workerProcess(fleet, running.worker_id as string).kill('SIGKILL');
    const ended = await alice.waitForJob(job.job_id, { timeoutMs: 60_000 });
    expect(ended).toMatchObject({ status: 'completed', attempts: 2, result: { stdout: 'finally\n' } });
    expect(ended.worker_id).not.toBe(running.worker_id);
    // The other worker reaps what the lost one left: its one-shot sandbox and its warm pool.
    await until(
      'the lost worker’s containers to be reaped',
      async () => (await containersOfWorker(running.worker_id as string)) === 0,
    );
  });

  it('finishes running jobs on SIGTERM, then cancels what outlives the shutdown deadline', async () => {
    fleet = await TestFleet.start({ config: { worker: { shutdown_deadline_seconds: 4 } } });
    const alice = fleet.client('alice');
    const bob = fleet.client('bob');
    const short = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'shell', code: 'sleep 1; echo finished' },
    });
    const long = await alice.submitJob({ tool: 'code_execute', params: { language: 'shell', code: 'sleep 60' } });
    await bob.approve(short.approval!.approval_id);
    await bob.approve(long.approval!.approval_id);
    await until(
      'both jobs to run',
      async () =>
        (await alice.getJob(short.job_id)).status === 'running' &&
        (await alice.getJob(long.job_id)).status === 'running',
    );
    const worker = fleet.fleet.workers[0]!;
    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(await alice.getJob(short.job_id)).toMatchObject({ status: 'completed', result: { stdout: 'finished\n' } });
    const longEnded = await alice.getJob(long.job_id);
    expect(longEnded, JSON.stringify(longEnded)).toMatchObject({ status: 'cancelled', error: { code: 'Cancelled' } });

    // With no worker at all, a job waits queued, and can be cancelled there.
    expect(fleet.fleet.workers.filter((w) => w.running)).toEqual([]);
    const waiting = await alice.submitJob({ tool: 'code_execute', params: { language: 'shell', code: 'echo never' } });
    expect((await bob.approve(waiting.approval!.approval_id)).status).toBe('queued');
    expect((await alice.getJob(waiting.job_id)).status).toBe('queued');
    expect(await alice.cancelJob(waiting.job_id)).toMatchObject({ status: 'cancelled', started_at: null });
    // A worker arriving later does not run it: it runs a job queued after it, and leaves it cancelled.
    await fleet.fleet.startWorker();
    const later = await runApproved(alice, bob, {
      tool: 'code_execute',
      params: { language: 'shell', code: 'echo later' },
    });
    expect(later).toMatchObject({ status: 'completed', result: { stdout: 'later\n' } });
    expect(await alice.getJob(waiting.job_id)).toMatchObject({ status: 'cancelled', started_at: null });
  });
});

describe('a worker without Redis', () => {
  it.each([
    // Frozen, Redis reads what the worker sent once it thaws: the job's cancel. Gone, nothing
    // the worker sent arrives: the fleet finds the worker lost.
    [
      'frozen (it answers nothing)',
      (f: TestFleet) => f.redis.freeze(),
      (f: TestFleet) => f.redis.thaw(),
      ['cancelled', 'Cancelled'],
    ],
    [
      'gone (nothing listens)',
      (f: TestFleet) => f.redis.halt(),
      (f: TestFleet) => f.redis.resume(),
      ['failed', 'WorkerLost'],
    ],
  ])(
    'stops when Redis is %s: it exits, and removes every sandbox it made',
    { timeout: 120_000 },
    async (_, loseRedis, bringRedisBack, end) => {
      fleet = await TestFleet.start({ config: { worker: { shutdown_deadline_seconds: 2 } } });
      const alice = fleet.client('alice');
      const bob = fleet.client('bob');
      await runApproved(alice, bob, {
        tool: 'code_execute',
        params: { language: 'shell', code: 'true', keep_sandbox: true },
      });
      const long = await alice.submitJob({ tool: 'code_execute', params: { language: 'shell', code: 'sleep 60' } });
      await bob.approve(long.approval!.approval_id);
      await until('the job to run', async () => (await alice.getJob(long.job_id)).status === 'running');
      const worker = fleet.fleet.workers[0]!;
      const workerId = worker.workerId as string;
      // The warm pool's, the kept sandbox and the running job's.
      await until('three sandboxes', async () => (await containersOfWorker(workerId)) === 3);

      await loseRedis(fleet);
      worker.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      expect(await containersOfWorker(workerId)).toBe(0);

      // Redis back, the job the worker could not end is not left running.
      await bringRedisBack(fleet);
      const ended = await alice.waitForJob(long.job_id, { timeoutMs: 60_000 });
      expect([ended.status, ended.error?.code]).toEqual(end);
    },
  );
});

describe('restarts', () => {
  it('restarts a service that dies under supervision, as harombe up does, and says so', async () => {
    fleet = await TestFleet.start({ supervise: true });
    const worker = fleet.fleet.workers[0]!;
    const lostId = worker.workerId as string;
    worker.kill('SIGKILL');
    await until('the report of the dead worker', async () =>
      fleet!.reports.some((r) => /worker exited \(signal SIGKILL\)/.test(r)),
    );
    await until('a new worker', async () => fleet!.fleet.workers.some((w) => w.workerId && w.workerId !== lostId));
    expect(fleet.reports).toContain('the worker is back');
    const job = await runApproved(fleet.client('alice'), fleet.client('bob'), {
      tool: 'code_execute',
      params: { language: 'shell', code: 'echo served' },
    });
    expect(job).toMatchObject({ status: 'completed', result: { stdout: 'served\n' } });
    await until('the dead worker’s containers to be reaped', async () => (await containersOfWorker(lostId)) === 0);
  });

  it('expires approvals on time even when the API, the worker and the approval service all died meanwhile', async () => {
    fleet = await TestFleet.start();
    const alice = fleet.client('alice');
    const job = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("EXPIRES_IN_2S")' },
    });
    for (const service of [fleet.fleet.api!, fleet.fleet.approval!, fleet.fleet.workers[0]!]) service.kill('SIGKILL');
    // Its deadline passes while nothing runs.
    const deadline = Date.parse(job.approval!.expires_at as string);
    await expect.poll(() => Date.now(), { timeout: 10_000, interval: 100 }).toBeGreaterThan(deadline);
    await fleet.fleet.startApproval();
    await fleet.fleet.startWorker();
    await fleet.fleet.startApi();
    const ended = await fleet.client('alice').waitForJob(job.job_id, { timeoutMs: 10_000 });
    expect(ended).toMatchObject({
      status: 'expired',
      error: { code: 'ApprovalTimeout' },
      approval: { status: 'expired' },
    });
  });

  it('keeps accepted jobs through a Redis restart (append-only file) and finishes them', async () => {
    fleet = await TestFleet.start();
    const alice = fleet.client('alice');
    const bob = fleet.client('bob');
    const created = await runApproved(alice, bob, {
      tool: 'code_execute',
      params: { language: 'shell', code: 'true', keep_sandbox: true },
    });
    const sandbox_id = resultOf(created).sandbox_id as string;
    const jobs = await Promise.all(
      [1, 2, 3].map((i) =>
        alice.submitJob({
          tool: 'code_execute',
          params: { language: 'shell', sandbox_id, code: `sleep 1; echo ${i}` },
        }),
      ),
    );
    await bob.approve(jobs[0]!.approval!.approval_id);
    await fleet.redis.restart();
    for (const job of jobs.slice(1)) await bob.approve(job.approval!.approval_id);
    const ended = await Promise.all(jobs.map((job) => alice.waitForJob(job.job_id, { timeoutMs: 60_000 })));
    expect(ended.map((job) => [job.status, resultOf(job).stdout])).toEqual([
      ['completed', '1\n'],
      ['completed', '2\n'],
      ['completed', '3\n'],
    ]);
  });
});
