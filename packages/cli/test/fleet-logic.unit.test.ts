import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { HarombeClient } from '@harombe/client';
import type { JobView } from '@harombe/core';
import { describe, expect, it, vi } from 'vitest';
import { formatApprovalsTable } from '../src/commands/approvals.js';
import { approvalWaitingLine, execExitCode, execOnFleet, reportExecution, stdinText } from '../src/commands/exec.js';
import { submitFile } from '../src/commands/submit.js';
import { defaultStatePath, fileSha256, idempotencyKey, readSubmitState } from '../src/submit-plan.js';
import { awaitingApproval, executionResult, FakeApi, jobView } from './fake-api.js';
import { tempDir } from './harombe-cli.js';

// The CLI's own logic against a stand-in for the API (test/fake-api.ts): what it prints, the
// exit status, and what it sends. The fleet itself is exercised by the end-to-end tests.

function io() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } },
  };
}

function clientOf(api: FakeApi): HarombeClient {
  return new HarombeClient({ baseUrl: 'http://fleet.test', apiKey: 'hk_test', fetch: api.fetch });
}

const ended = (job: JobView, patch: Partial<JobView>): JobView => ({
  ...job,
  finished_at: '2030-01-01T00:00:05.000Z',
  ...patch,
});

describe('exec', () => {
  it("says it waits for approval, then prints the output and exits with the program's code", async () => {
    const api = new FakeApi();
    const pending = awaitingApproval(jobView());
    const approval = { ...pending.approval!, status: 'approved' as const, decided_by: 'bob', reason: 'fine' };
    api.jobScript = [
      pending,
      pending,
      { ...pending, status: 'queued', approval },
      ended(pending, {
        status: 'completed',
        approval,
        result: executionResult({ stdout: 'out\n', stderr: 'err\n', exit_code: 3, success: false }),
      }),
    ];
    const { out, io: streams } = io();
    const code = await execOnFleet(clientOf(api), { language: 'python', code: 'x' }, { io: streams });
    expect(out.stderr).toBe(
      `waiting for approval (approval ${pending.approval!.approval_id}, risk HIGH: network access requested, expires 2030-01-01T00:10:00.000Z); ` +
        `an approver: harombe approvals approve|deny ${pending.approval!.approval_id}\n` +
        'approved by bob: fine\nerr\n',
    );
    expect(out.stdout).toBe('out\n');
    expect(code).toBe(3);
    expect(api.requests[0]).toMatchObject({
      method: 'POST',
      path: '/v1/jobs',
      body: { tool: 'code_execute', params: { language: 'python', code: 'x' } },
    });
  });

  it('reports the approval once, also when the job had ended by the next look', async () => {
    const api = new FakeApi();
    const pending = awaitingApproval(jobView());
    const approval = { ...pending.approval!, status: 'approved' as const, decided_by: 'carol' };
    api.jobScript = [
      pending,
      ended(pending, { status: 'completed', approval, result: executionResult({ stdout: 'hi\n' }) }),
    ];
    const { out, io: streams } = io();
    expect(await execOnFleet(clientOf(api), { language: 'python', code: 'x' }, { io: streams })).toBe(0);
    expect(out.stderr).toMatch(/^waiting for approval \(.*\); an approver: .*\napproved by carol\n$/);
    expect(out.stdout).toBe('hi\n');
  });

  it('a denied job: harombe: <code>: <message>, exit 1', async () => {
    const api = new FakeApi();
    const pending = awaitingApproval(jobView());
    api.jobScript = [
      pending,
      ended(pending, {
        status: 'denied',
        error: { code: 'ApprovalDenied', message: 'denied by bob: no network' },
        result: executionResult({
          success: false,
          stderr: 'denied by bob: no network',
          exit_code: -1,
          error: 'ApprovalDenied',
        }),
      }),
    ];
    const { out, io: streams } = io();
    expect(await execOnFleet(clientOf(api), { language: 'python', code: 'x' }, { io: streams })).toBe(1);
    expect(out.stderr).toMatch(/waiting for approval .*\nharombe: ApprovalDenied: denied by bob: no network\n$/);
    expect(out.stdout).toBe('');
  });

  it('writes the output as the live events bring it, and only the rest of the result after', async () => {
    const api = new FakeApi();
    const running = jobView({ status: 'running' });
    api.jobScript = [
      running,
      ended(running, {
        status: 'completed',
        result: executionResult({ stdout: 'one\ntwo\nthree\n', stderr: 'warn\n', exit_code: 0 }),
      }),
    ];
    const pieces: string[] = [];
    // Two lines and the warning arrive live; the third line only with the result.
    api.liveOutput = [
      { stream: 'stdout', text: 'one\n' },
      { stream: 'stderr', text: 'warn\n' },
      { stream: 'stdout', text: 'two\n' },
    ];
    const { out, io: streams } = io();
    const spying = {
      stdout: { write: (t: string) => (pieces.push(`out:${t}`), streams.stdout.write(t)) },
      stderr: { write: (t: string) => (pieces.push(`err:${t}`), streams.stderr.write(t)) },
    };
    expect(await execOnFleet(clientOf(api), { language: 'python', code: 'x' }, { io: spying })).toBe(0);
    expect(out).toEqual({ stdout: 'one\ntwo\nthree\n', stderr: 'warn\n' });
    expect(pieces.filter((p) => p !== 'out:' && p !== 'err:')).toEqual([
      'out:one\n',
      'err:warn\n',
      'out:two\n',
      'out:three\n',
    ]);
    // Only the job's submission and its events: no polling.
    expect(api.requests.map((r) => `${r.method} ${r.path.replace(/job-\w+/, 'ID')}`)).toEqual([
      'POST /v1/jobs',
      'GET /v1/jobs/ID/events',
    ]);
  });

  it('a job run again after its worker was lost: says so, and the second attempt’s output is written whole', async () => {
    const api = new FakeApi();
    const running = jobView({ status: 'running' });
    api.jobScript = [
      running,
      { ...running, status: 'queued' },
      running,
      ended(running, { status: 'completed', result: executionResult({ stdout: 'again\n' }) }),
    ];
    const { out, io: streams } = io();
    expect(await execOnFleet(clientOf(api), { language: 'python', code: 'x' }, { io: streams })).toBe(0);
    expect(out.stderr).toBe("\nharombe: the job's worker was lost; it runs again\n");
    expect(out.stdout).toBe('again\n');
  });

  it('says so when the live output does not lead to the result, and writes the result whole', () => {
    const job = jobView({ status: 'completed', result: executionResult({ stdout: 'abc\n' }) });
    const { out, io: streams } = io();
    expect(reportExecution(job, streams, { stdout: 'xy', stderr: '' })).toBe(0);
    expect(out.stdout).toBe('abc\n');
    expect(out.stderr).toBe('\nharombe: the live stdout missed some of the output; all of it follows\n');
  });

  it('--stdin-file: a file, or "-" for what is piped, never both the program and its stdin from "-"', () => {
    const dir = tempDir();
    const file = join(dir, 'input.txt');
    writeFileSync(file, 'é input\n');
    expect(stdinText(undefined, undefined)).toBeUndefined();
    expect(stdinText(file, undefined)).toBe('é input\n');
    expect(stdinText('-', 'prog.py', () => 'piped')).toBe('piped');
    expect(() => stdinText('-', '-', () => 'piped')).toThrow(/cannot both come from "-"/);
    expect(() => stdinText(join(dir, 'missing'), undefined)).toThrow(/missing/);
  });

  it('--wait runs out: cancels the job, TimeoutError, exit 124', async () => {
    const api = new FakeApi();
    api.jobScript = [awaitingApproval(jobView())];
    const { out, io: streams } = io();
    expect(await execOnFleet(clientOf(api), { language: 'shell', code: 'x' }, { io: streams, waitSeconds: 0.3 })).toBe(
      124,
    );
    expect(out.stderr).toMatch(
      /harombe: TimeoutError: job job-\w+ did not end within 0\.3 s \(last seen awaiting_approval\); cancelled\n$/,
    );
    expect(api.requests.at(-1)).toMatchObject({ method: 'DELETE' });
  });

  it('an interrupt cancels the job: exit 130', async () => {
    const api = new FakeApi();
    api.jobScript = [jobView({ status: 'running' })];
    const interrupt = new AbortController();
    const { out, io: streams } = io();
    const exec = execOnFleet(
      clientOf(api),
      { language: 'shell', code: 'x' },
      { io: streams, signal: interrupt.signal },
    );
    // Ctrl-C once the job exists and is being waited for.
    await vi.waitFor(() => expect(api.requests.filter((r) => r.method === 'GET')).not.toEqual([]));
    interrupt.abort();
    expect(await exec).toBe(130);
    expect(out.stderr).toMatch(/harombe: Cancelled: interrupted; job job-\w+ cancelled\n$/);
  });

  it('exit codes and messages of ended jobs', () => {
    const timeout = jobView({
      status: 'completed',
      result: executionResult({
        success: false,
        exit_code: -1,
        error: 'TimeoutError',
        stdout: 'tick\n',
        execution_time: 2,
      }),
    });
    const { out, io: streams } = io();
    expect(reportExecution(timeout, streams)).toBe(124);
    expect(out).toEqual({
      stdout: 'tick\n',
      stderr: 'harombe: TimeoutError: the program ran past its time limit (stopped after 2 s)\n',
    });
    expect(execExitCode(jobView({ status: 'completed', result: executionResult({ exit_code: 0 }) }))).toBe(0);
    expect(
      execExitCode(
        jobView({
          status: 'completed',
          result: executionResult({ exit_code: 0, error: 'MemoryLimitExceeded', success: false }),
        }),
      ),
    ).toBe(1);
    expect(
      execExitCode(
        jobView({
          status: 'completed',
          result: executionResult({ exit_code: 137, error: 'MemoryLimitExceeded', success: false }),
        }),
      ),
    ).toBe(137);
    expect(execExitCode(jobView({ status: 'failed', error: { code: 'WorkerLost', message: 'lost' } }))).toBe(1);
    const failed = io();
    expect(
      reportExecution(
        jobView({ status: 'failed', result: null, error: { code: 'WorkerLost', message: 'worker w1 went away' } }),
        failed.io,
      ),
    ).toBe(1);
    expect(failed.out.stderr).toBe('harombe: WorkerLost: worker w1 went away\n');
    expect(approvalWaitingLine(awaitingApproval(jobView(), '2030-02-02T00:00:00.000Z'))).toMatch(
      /^waiting for approval \(approval (approval-\w+), risk HIGH: network access requested, expires 2030-02-02T00:00:00\.000Z\); an approver: harombe approvals approve\|deny \1$/,
    );
  });

  it('shows what the policy matched, and how, while a job waits and in the approvals list', () => {
    const matched = "os.system (through getattr with a built string): getattr(os, 'sys'+'tem'";
    const job = { ...awaitingApproval(jobView()), risk: 'CRITICAL' as const, risk_matched: matched };
    expect(approvalWaitingLine(job)).toContain(`, matched: ${matched}, expires`);
    const [header, row] = formatApprovalsTable([job]).split('\n');
    expect(header).toMatch(/^APPROVAL_ID\s+JOB_ID\s+RISK\s+TOOL\s+REASON\s+MATCHED\s+EXPIRES$/);
    expect(row).toContain(`CRITICAL  code_execute  network access requested  ${matched}  2030-`);
    expect(formatApprovalsTable([awaitingApproval(jobView())]).split('\n')[1]).toMatch(
      /network access requested\s+-\s+2030/,
    );
  });
});

describe('submit', () => {
  const line = (i: number): string =>
    JSON.stringify({ tool: 'code_execute', params: { language: 'python', code: `print(${i})` } });

  function jobsFile(n: number): { dir: string; path: string } {
    const dir = tempDir();
    const path = join(dir, 'jobs.jsonl');
    writeFileSync(path, `${Array.from({ length: n }, (_, i) => line(i + 1)).join('\n')}\n`);
    return { dir, path };
  }

  const quiet = () => ({ stderr: new PassThrough(), stdout: new PassThrough(), lineIntervalMs: 0 });

  it('submits with idempotency keys, records the batch, waits, writes every result, exit 0', async () => {
    const api = new FakeApi();
    const { dir, path } = jobsFile(3);
    const out = join(dir, 'results.ndjson');
    const stderr = new PassThrough();
    let progress = '';
    stderr.on('data', (chunk: Buffer) => (progress += chunk.toString()));
    expect(await submitFile(clientOf(api), path, { ...quiet(), stderr, out })).toBe(0);
    const sha = fileSha256(readFileSync(path));
    expect(api.batchKeysSubmitted()).toEqual([idempotencyKey(sha, 0)]);
    const results = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as JobView);
    expect(results.map((j) => j.params.code)).toEqual(['print(1)', 'print(2)', 'print(3)']);
    expect(readSubmitState(defaultStatePath(path))?.chunks).toMatchObject([
      { index: 0, first_line: 1, last_line: 3, jobs: 3 },
    ]);
    expect(progress).toMatch(/batch 1\/1 \(lines 1-3, 3 jobs\): submitted as batch-/);
    expect(progress).toMatch(/0\/3 finished \(0%\); 3 queued/);
    expect(progress).toMatch(/3\/3 results written to .*results\.ndjson: 3 succeeded/);
    // Progress from the batch's events, each job's end as it comes: no polling.
    expect(progress).toMatch(/1\/3 finished[^]*2\/3 finished[^]*3\/3 finished/);
    expect(api.requests.map((r) => `${r.method} ${r.path.replace(/batch-\w+/, 'ID')}`)).toEqual([
      'POST /v1/batches',
      'GET /v1/batches/ID',
      'GET /v1/batches/ID/events',
      'GET /v1/batches/ID/results',
    ]);
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it('a job that did not succeed makes the exit status 1', async () => {
    const api = new FakeApi();
    api.outcome = (_job, index) =>
      index === 1
        ? { status: 'completed', result: executionResult({ success: false, exit_code: 1 }) }
        : { status: 'completed', result: executionResult() };
    const { path } = jobsFile(2);
    const stdout = new PassThrough();
    let written = '';
    stdout.on('data', (chunk: Buffer) => (written += chunk.toString()));
    expect(await submitFile(clientOf(api), path, { ...quiet(), stdout })).toBe(1);
    expect(written.trim().split('\n')).toHaveLength(2);
  });

  it('re-running after an interruption submits no batch twice', async () => {
    const api = new FakeApi();
    api.pollsBeforeDone = 0;
    const { path } = jobsFile(10_001); // two batches: 10,000 + 1
    const sha = fileSha256(readFileSync(path));
    api.failBatchSubmissions.add(2); // the second batch's request fails: as if interrupted there
    await expect(submitFile(clientOf(api), path, { ...quiet(), out: join(tempDir(), 'r.ndjson') })).rejects.toThrow(
      /try again/,
    );
    expect(readSubmitState(defaultStatePath(path))?.chunks.map((c) => c.index)).toEqual([0]);

    expect(await submitFile(clientOf(api), path, { ...quiet(), out: join(tempDir(), 'r.ndjson') })).toBe(0);
    // Batch 0 was not sent again (the state file); batch 1 was sent with the same key as before.
    expect(api.batchKeysSubmitted()).toEqual([idempotencyKey(sha, 0), idempotencyKey(sha, 1), idempotencyKey(sha, 1)]);
    expect(api.batches.size).toBe(2);

    // Without the state file, the keys still make the API answer the batches it has.
    rmSync(defaultStatePath(path));
    expect(await submitFile(clientOf(api), path, { ...quiet(), wait: false })).toBe(0);
    expect(api.batches.size).toBe(2);

    // --resubmit: new keys, new batches.
    expect(await submitFile(clientOf(api), path, { ...quiet(), wait: false, resubmit: true })).toBe(0);
    expect(api.batches.size).toBe(4);
    const salt = readSubmitState(defaultStatePath(path))?.salt;
    expect(salt).toMatch(/^[0-9a-f]{16}$/);
    expect(api.batchKeysSubmitted().slice(-2)).toEqual([idempotencyKey(sha, 0, salt), idempotencyKey(sha, 1, salt)]);
  });

  it('refuses to go on when the file changed since its batches were submitted', async () => {
    const api = new FakeApi();
    const { path } = jobsFile(2);
    await submitFile(clientOf(api), path, { ...quiet(), wait: false });
    writeFileSync(path, `${line(1)}\n`);
    await expect(submitFile(clientOf(api), path, { ...quiet(), wait: false })).rejects.toThrow(
      /different version .*--resubmit/,
    );
  });

  it('tells an API refusal by the line of the file', async () => {
    const api = new FakeApi();
    const refuse = api.fetch;
    const fetchRefusing: typeof fetch = async (input, init) =>
      init?.method === 'POST'
        ? new Response(
            JSON.stringify({
              error: {
                code: 'PayloadTooLarge',
                message: 'jobs.1.params.code: larger than 10 bytes',
                details: { field: 'jobs.1.params.code' },
              },
            }),
            { status: 413 },
          )
        : refuse(input, init);
    const { path } = jobsFile(3);
    const client = new HarombeClient({ baseUrl: 'http://fleet.test', apiKey: 'k', fetch: fetchRefusing });
    await expect(submitFile(client, path, quiet())).rejects.toThrow(
      /^line 2: params\.code: larger than 10 bytes \(batch 1, lines 1-3, was refused\)$/,
    );
  });
});
