import { HarombeApiError } from '@harombe/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultOf, runApproved, TestFleet } from '../src/index.js';

let fleet: TestFleet;
beforeAll(async () => {
  fleet = await TestFleet.start();
});
afterAll(async () => {
  await fleet?.stop();
});

const alice = () => fleet.client('alice');
const bob = () => fleet.client('bob');

describe('every tool through the API, on one persistent sandbox', () => {
  it('executes, writes, reads, lists and destroys, each as its own job', async () => {
    const first = await runApproved(alice(), bob(), {
      tool: 'code_execute',
      params: { language: 'python', code: 'print("hello", 6 * 7)', keep_sandbox: true },
    });
    expect(first.status).toBe('completed');
    expect(first.risk).toBe('HIGH');
    expect(first.approval).toMatchObject({ status: 'approved', decided_by: 'bob', channel: 'api' });
    const execution = resultOf(first);
    expect(execution).toMatchObject({ success: true, stdout: 'hello 42\n', stderr: '', exit_code: 0, error: null });
    expect(Object.keys(execution).sort()).toEqual([
      'error',
      'execution_time',
      'exit_code',
      'sandbox_id',
      'sandbox_kept',
      'stderr',
      'stdout',
      'success',
    ]);
    const sandbox_id = execution.sandbox_id as string;
    expect(sandbox_id).toMatch(/^sandbox-[0-9a-f]{16}$/);

    const write = await runApproved(alice(), bob(), {
      tool: 'code_write_file',
      params: { sandbox_id, file_path: 'data/input.txt', content: 'from a file\n' },
    });
    expect(write.risk).toBe('MEDIUM');
    expect(resultOf(write)).toEqual({ success: true, sandbox_id, file_path: 'data/input.txt', error: null });

    const reads = await runApproved(alice(), bob(), {
      tool: 'code_execute',
      params: {
        language: 'python',
        sandbox_id,
        code: 'print(open("data/input.txt").read().upper(), end="")\nopen("out.txt","w").write("written by code")',
      },
    });
    expect(resultOf(reads)).toMatchObject({ success: true, sandbox_id, stdout: 'FROM A FILE\n' });

    const list = await runApproved(alice(), bob(), { tool: 'code_list_files', params: { sandbox_id } });
    expect(list.risk).toBe('MEDIUM');
    expect(resultOf(list)).toMatchObject({ success: true, sandbox_id, path: '.' });
    expect(resultOf(list).files).toEqual(expect.arrayContaining(['data', 'out.txt']));

    const read = await runApproved(alice(), bob(), {
      tool: 'code_read_file',
      params: { sandbox_id, file_path: 'out.txt' },
    });
    expect(resultOf(read)).toEqual({
      success: true,
      sandbox_id,
      file_path: 'out.txt',
      content: 'written by code',
      error: null,
    });

    const sandboxes = await alice().listSandboxes();
    expect(sandboxes.map((s) => s.sandbox_id)).toContain(sandbox_id);

    const destroy = await runApproved(alice(), bob(), { tool: 'code_destroy_sandbox', params: { sandbox_id } });
    expect(destroy.risk).toBe('LOW');
    expect(destroy.approval).toBeNull();
    expect(resultOf(destroy)).toMatchObject({ success: true, sandbox_id });
    expect((await alice().listSandboxes()).map((s) => s.sandbox_id)).not.toContain(sandbox_id);

    const after = await runApproved(alice(), bob(), {
      tool: 'code_read_file',
      params: { sandbox_id, file_path: 'out.txt' },
    });
    expect(after.status).toBe('failed');
    expect(resultOf(after)).toMatchObject({ success: false, error: 'SandboxNotFound' });
  });

  it('answers code_install_package with NetworkDisabled on a deployment without egress', async () => {
    const created = await runApproved(alice(), bob(), {
      tool: 'code_execute',
      params: { language: 'python', code: 'pass', keep_sandbox: true },
    });
    const sandbox_id = resultOf(created).sandbox_id as string;
    const install = await runApproved(alice(), bob(), {
      tool: 'code_install_package',
      params: { sandbox_id, package: 'requests', registry: 'pypi' },
    });
    expect(install.risk).toBe('HIGH');
    expect(resultOf(install)).toMatchObject({
      success: false,
      sandbox_id,
      package: 'requests',
      registry: 'pypi',
      error: 'NetworkDisabled',
    });
  });

  it('runs JavaScript and shell, with stdout and stderr apart and the exit code kept', async () => {
    const js = await runApproved(alice(), bob(), {
      tool: 'code_execute',
      params: {
        language: 'javascript',
        code: 'console.log([1,2,3].reduce((a,b)=>a+b)); console.error("warn"); process.exit(3)',
      },
    });
    expect(resultOf(js)).toMatchObject({ success: false, stdout: '6\n', stderr: 'warn\n', exit_code: 3, error: null });
    expect(js.status).toBe('completed');
    const sh = await runApproved(alice(), bob(), {
      tool: 'code_execute',
      params: { language: 'shell', code: 'echo out; echo err >&2' },
    });
    expect(resultOf(sh)).toMatchObject({ success: true, stdout: 'out\n', stderr: 'err\n', exit_code: 0 });
  });

  it('keeps a timed-out program’s output and reports TimeoutError', async () => {
    const job = await runApproved(alice(), bob(), {
      tool: 'code_execute',
      params: { language: 'python', code: 'import time\nprint("before", flush=True)\ntime.sleep(30)', timeout: 1 },
    });
    expect(resultOf(job)).toMatchObject({ success: false, stdout: 'before\n', exit_code: -1, error: 'TimeoutError' });
  });
});

describe('risk and approvals', () => {
  it('classifies dangerous code as CRITICAL, wherever it is', async () => {
    const code = 'x = 1\ny = 2\nz = 3\nprint(x)\nimport subprocess\n';
    const job = await alice().submitJob({ tool: 'code_execute', params: { language: 'python', code } });
    expect(job).toMatchObject({ status: 'awaiting_approval', risk: 'CRITICAL' });
    expect(job.risk_matched).toContain('subprocess');
    await alice().cancelJob(job.job_id);
  });

  it('denies with a reason: the job ends denied with ApprovalDenied and never runs', async () => {
    const job = await alice().submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: 'open("/tmp/ran","w")' },
    });
    const decision = await bob().deny(job.approval!.approval_id, 'not today');
    expect(decision.status).toBe('denied');
    const ended = await alice().getJob(job.job_id);
    expect(ended).toMatchObject({
      status: 'denied',
      started_at: null,
      approval: { status: 'denied', decided_by: 'bob', reason: 'not today' },
    });
    expect(ended.result).toMatchObject({ success: false, exit_code: -1, error: 'ApprovalDenied' });
    expect(ended.error?.code).toBe('ApprovalDenied');
  });

  it('refuses self-approval, approval without the scope, and lists pending approvals to approvers only', async () => {
    const carol = fleet.client('carol');
    const job = await carol.submitJob({ tool: 'code_execute', params: { language: 'python', code: 'print(1)' } });
    await expect(carol.approve(job.approval!.approval_id)).rejects.toMatchObject({
      code: 'SelfApprovalForbidden',
      status: 403,
    });
    await expect(alice().approve(job.approval!.approval_id)).rejects.toMatchObject({ code: 'Forbidden', status: 403 });
    await expect(alice().listApprovals()).rejects.toMatchObject({ code: 'Forbidden' });
    const pending = await bob().listApprovals();
    expect(pending.map((p) => p.job_id)).toContain(job.job_id);
    expect((await fleet.client('eve').listApprovals()).map((p) => p.job_id)).not.toContain(job.job_id);
    await carol.cancelJob(job.job_id);
  });

  it('takes the first of two simultaneous decisions and refuses the other', async () => {
    const job = await alice().submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("raced")' },
    });
    const id = job.approval!.approval_id;
    const outcomes = await Promise.allSettled([bob().approve(id, 'yes'), fleet.client('carol').deny(id, 'no')]);
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(HarombeApiError);
    expect(lost[0]!.reason).toMatchObject({ code: 'AlreadyDecided', status: 409 });
    const ended = await alice().waitForJob(job.job_id);
    expect(['completed', 'denied']).toContain(ended.status);
    expect(ended.approval!.status).toBe(ended.status === 'completed' ? 'approved' : 'denied');
  });

  it('expires an unanswered approval, and a decision after expiry changes nothing', async () => {
    const job = await alice().submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("EXPIRES_IN_2S")' },
    });
    expect(job.approval!.expires_at).not.toBeNull();
    const ended = await alice().waitForJob(job.job_id, { timeoutMs: 20_000 });
    expect(ended).toMatchObject({
      status: 'expired',
      started_at: null,
      approval: { status: 'expired', channel: 'timeout' },
      error: { code: 'ApprovalTimeout' },
    });
    expect(ended.result).toMatchObject({ success: false, error: 'ApprovalTimeout' });
    await expect(bob().approve(job.approval!.approval_id)).rejects.toMatchObject({ code: 'AlreadyDecided' });
    expect((await alice().getJob(job.job_id)).status).toBe('expired');
  });
});

describe('job controls', () => {
  it('returns the same job for the same idempotency key, and never runs it twice', async () => {
    const request = {
      tool: 'code_execute',
      params: { language: 'shell', code: 'echo once' },
      idempotency_key: `idem-${Date.now()}`,
    };
    const [a, b] = await Promise.all([alice().submitJob(request), alice().submitJob(request)]);
    expect(b.job_id).toBe(a.job_id);
    const c = await alice().submitJob(request);
    expect(c.job_id).toBe(a.job_id);
    expect((await bob().listApprovals()).filter((p) => p.job_id === a.job_id)).toHaveLength(1);
    // Another tenant using the same key gets a job of its own.
    const other = await fleet.client('eve').submitJob(request);
    expect(other.job_id).not.toBe(a.job_id);
    await alice().cancelJob(a.job_id);
    await fleet.client('eve').cancelJob(other.job_id);
  });

  it('answers with the finished job when wait_seconds is given', async () => {
    // code_destroy_sandbox is LOW: it runs without a person.
    const created = await runApproved(alice(), bob(), {
      tool: 'code_execute',
      params: { language: 'shell', code: 'true', keep_sandbox: true },
    });
    const sandbox_id = resultOf(created).sandbox_id as string;
    const response = await fetch(`${fleet.apiUrl}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer test-key-alice-0123456789abcdef`, 'content-type': 'application/json' },
      body: JSON.stringify({ tool: 'code_destroy_sandbox', params: { sandbox_id }, wait_seconds: 30 }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'completed', result: { success: true, sandbox_id } });
    const polled = await fetch(`${fleet.apiUrl}/v1/jobs/${created.job_id}?wait_seconds=1`, {
      headers: { authorization: `Bearer test-key-alice-0123456789abcdef` },
    });
    expect(polled.status).toBe(200);
  });

  it('cancels a job awaiting approval, and a running one (its process is killed)', async () => {
    const waiting = await alice().submitJob({ tool: 'code_execute', params: { language: 'python', code: 'print(1)' } });
    const cancelled = await alice().cancelJob(waiting.job_id);
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      approval: { status: 'cancelled' },
      error: { code: 'Cancelled' },
    });
    await expect(bob().approve(waiting.approval!.approval_id)).rejects.toMatchObject({ code: 'AlreadyDecided' });
    await expect(alice().cancelJob(waiting.job_id)).rejects.toMatchObject({ code: 'Conflict', status: 409 });

    const created = await runApproved(alice(), bob(), {
      tool: 'code_execute',
      params: { language: 'shell', code: 'true', keep_sandbox: true },
    });
    const sandbox_id = resultOf(created).sandbox_id as string;
    const long = await alice().submitJob({
      tool: 'code_execute',
      params: { language: 'shell', sandbox_id, code: 'echo started; sleep 4; echo never > marker.txt' },
    });
    await bob().approve(long.approval!.approval_id);
    await expect.poll(async () => (await alice().getJob(long.job_id)).status, { timeout: 10_000 }).toBe('running');
    const stopped = await alice().cancelJob(long.job_id);
    expect(stopped.status).toBe('cancelled');
    // Not a condition but an absence: past the program's `sleep 4`, a process that outlived the
    // cancel would have written marker.txt.
    await new Promise((r) => setTimeout(r, 5000));
    const list = await runApproved(alice(), bob(), { tool: 'code_list_files', params: { sandbox_id } });
    expect(resultOf(list).files).not.toContain('marker.txt');
    expect((await alice().getJob(long.job_id)).status).toBe('cancelled');
  });
});
