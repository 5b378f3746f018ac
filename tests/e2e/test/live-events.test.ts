import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { HarombeApiError, type JobStreamEvent } from '@harombe/client';
import { BatchJobEvent, ExecutionResult, JobStatusEvent, OutputEvent, type JobView } from '@harombe/core';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyOf, resultOf, runApproved, TestFleet, until } from '../src/index.js';

const MIB = 1_048_576;
const MARKER = '\n[OUTPUT TRUNCATED]';
const cli = createRequire(import.meta.url).resolve('@harombe/cli/main');

let fleet: TestFleet;
beforeAll(async () => {
  // Outputs up to the ceiling callers may have, so results at their largest go through.
  // Bodies up to 16 MiB: files of max_file_bytes (8 MiB) go through the API, past its 2 MiB default.
  fleet = await TestFleet.start({
    config: {
      api: { max_body_bytes: 16 * MIB },
      security: { sandbox: { limits: { max_output_bytes: 16 * MIB } } },
    },
  });
});
afterAll(async () => {
  await fleet?.stop();
});

const alice = () => fleet.client('alice');
const bob = () => fleet.client('bob');

interface Received {
  event: string;
  id: string | undefined;
  data: string;
}

/** Reads a job's events with the eventsource library (alice's key) until the server says it has no more (204). */
function withLibrary(jobId: string): { received: Received[]; done: Promise<void>; close(): void } {
  const received: Received[] = [];
  const source = new EventSource(`${fleet.apiUrl}/v1/jobs/${jobId}/events`, {
    fetch: (input, init) =>
      fetch(input, { ...init, headers: { ...init?.headers, authorization: `Bearer ${keyOf('alice')}` } }),
  });
  for (const type of ['status', 'stdout', 'stderr'])
    source.addEventListener(type, (event) =>
      received.push({ event: type, id: event.lastEventId || undefined, data: event.data as string }),
    );
  const done = new Promise<void>((resolve) =>
    source.addEventListener('error', (event) => {
      if ((event as unknown as { code?: number }).code === 204) {
        source.close();
        resolve();
      }
    }),
  );
  return { received, done, close: () => source.close() };
}

/** Reads a job's events with our client until its end. */
function withClient(jobId: string): { received: Received[]; done: Promise<void> } {
  const received: Received[] = [];
  const done = (async () => {
    for await (const event of alice().streamJob(jobId)) received.push(asReceived(event));
  })();
  return { received, done };
}

const asReceived = (event: JobStreamEvent): Received => ({
  event: event.type,
  id: event.id,
  data: JSON.stringify(event.data),
});
const textOf = (received: readonly Received[], stream: 'stdout' | 'stderr'): string =>
  received
    .filter((r) => r.event === stream)
    .map((r) => OutputEvent.parse(JSON.parse(r.data)).text)
    .join('');
const statusesOf = (received: readonly Received[]): JobStatusEvent[] =>
  received.filter((r) => r.event === 'status').map((r) => JobStatusEvent.parse(JSON.parse(r.data)));

function expectIncreasingIds(received: readonly Received[]): void {
  const ids = received.map((r) => r.id!.split('-').map(BigInt) as [bigint, bigint]);
  for (let i = 1; i < ids.length; i += 1) {
    const [a, b] = [ids[i - 1]!, ids[i]!];
    expect(b[0] > a[0] || (b[0] === a[0] && b[1] > a[1])).toBe(true);
  }
}

describe('live events of real jobs', () => {
  it('streams a job to our client and the eventsource library: the approval, a line while the program still runs, the end', async () => {
    const job = await alice().submitJob({
      tool: 'code_execute',
      params: {
        language: 'python',
        // Were output sent only at the end, this would run for 10 minutes and print "second".
        code: 'import time\nprint("first")\ntime.sleep(600)\nprint("second")',
        timeout: 600,
      },
    });
    const library = withLibrary(job.job_id);
    const client = withClient(job.job_id);
    try {
      await expect.poll(() => statusesOf(client.received).length).toBeGreaterThan(0);
      await bob().approve(job.approval!.approval_id, 'live');
      for (const reader of [library, client])
        await expect.poll(() => textOf(reader.received, 'stdout'), { timeout: 60_000 }).toBe('first\n');
      // The line came while the job runs: nobody has seen its end.
      expect((await alice().getJob(job.job_id)).status).toBe('running');
      await alice().cancelJob(job.job_id);
      await Promise.all([library.done, client.done]);
    } finally {
      library.close();
    }
    for (const [name, reader] of Object.entries({ library, client })) {
      expect(
        statusesOf(reader.received).map((event) => [event.transition, event.status]),
        name,
      ).toEqual([
        ['submit', 'awaiting_approval'],
        ['approve', 'queued'],
        ['start', 'running'],
        ['cancel', 'cancelled'],
      ]);
      expect(statusesOf(reader.received)[0]).toMatchObject({ risk: 'HIGH', approval: { status: 'pending' } });
      expect(statusesOf(reader.received)[1]).toMatchObject({ approval: { status: 'approved', decided_by: 'bob' } });
      expect(textOf(reader.received, 'stdout'), name).toBe('first\n');
      expectIncreasingIds(reader.received);
    }
    expect(library.received.map((r) => r.id)).toEqual(client.received.map((r) => r.id));
  });

  it('carries output at max_output_bytes through the stream, the API and the client: each stream whole, the cut marked once; a finished job replays', async () => {
    const code = [
      'import sys',
      `sys.stderr.write("e" * ${16 * MIB})`,
      // One byte past the cap, in two-byte characters.
      `sys.stdout.write("é" * ${8 * MIB} + "x")`,
    ].join('\n');
    const job = await alice().submitJob({ tool: 'code_execute', params: { language: 'python', code } });
    const live = withClient(job.job_id);
    await bob().approve(job.approval!.approval_id, 'large');
    await live.done;
    const ended = await alice().waitForJob(job.job_id, { timeoutMs: 120_000 });
    const result = ExecutionResult.parse(resultOf(ended));
    expect(result.exit_code, result.stderr.slice(0, 300)).toBe(0);
    expect(result.stdout === 'é'.repeat(8 * MIB) + MARKER).toBe(true);
    expect(result.stderr === 'e'.repeat(16 * MIB)).toBe(true);
    expect(textOf(live.received, 'stdout') === result.stdout).toBe(true);
    expect(textOf(live.received, 'stderr') === result.stderr).toBe(true);
    const end = statusesOf(live.received).at(-1)!;
    expect(end.status).toBe('completed');
    expect((end.result as ExecutionResult).stdout === result.stdout).toBe(true);

    // The finished job, replayed to the library from its first event: the same, then it closes.
    const replay = withLibrary(job.job_id);
    await replay.done;
    expect(replay.received.map((r) => r.id)).toEqual(live.received.map((r) => r.id));
    expect(textOf(replay.received, 'stdout') === result.stdout).toBe(true);
    expect(textOf(replay.received, 'stderr') === result.stderr).toBe(true);
  });

  it('streams a batch’s job ends and counts to the client, and its NDJSON results carry outputs at the cap whole', async () => {
    const job = (i: number) => ({
      tool: 'code_execute',
      params: { language: 'python', code: `import sys\nsys.stdout.write("${i}" * ${16 * MIB})` },
    });
    const batch = await alice().submitBatch({ jobs: [job(1), job(2)] });
    const events: unknown[] = [];
    const followed = (async () => {
      for await (const event of alice().streamBatch(batch.batch_id)) events.push(event);
    })();
    await bob().approveBatch(batch.batch_id, 'large batch');
    await followed;
    const ends = events
      .filter((event) => (event as { type: string }).type === 'job')
      .map((event) => BatchJobEvent.parse((event as { data: unknown }).data));
    expect(ends.map((end) => end.job_id).sort()).toEqual([...batch.job_ids].sort());
    expect(ends.at(-1)).toMatchObject({ total: 2, counts: { completed: 2, running: 0, queued: 0 }, success: true });

    const results: JobView[] = [];
    for await (const view of alice().batchResults(batch.batch_id)) results.push(view);
    expect(results.map((view) => view.job_id)).toEqual(batch.job_ids);
    results.forEach((view, i) =>
      expect(ExecutionResult.parse(view.result).stdout === String(i + 1).repeat(16 * MIB)).toBe(true),
    );
  });
});

describe('stdin through the API', () => {
  it('feeds stdin to python, javascript and shell; a program that does not read it ends normally', async () => {
    const input = `${'é€😀 line\n'.repeat(10_000)}end`;
    const echo = {
      python: 'import sys\nsys.stdout.write(sys.stdin.read())',
      javascript: "process.stdout.write(require('fs').readFileSync(0, 'utf8'))",
      shell: 'cat',
    } as const;
    for (const [language, code] of Object.entries(echo)) {
      const job = await runApproved(alice(), bob(), {
        tool: 'code_execute',
        params: { language, code, stdin: input },
      });
      const result = ExecutionResult.parse(resultOf(job));
      expect(result.exit_code, `${language}: ${result.stderr.slice(0, 300)}`).toBe(0);
      expect(result.stdout === input, language).toBe(true);
    }
    const unread = await runApproved(alice(), bob(), {
      tool: 'code_execute',
      params: { language: 'python', code: 'print("never read")', stdin: 'x'.repeat(900_000) },
    });
    expect(resultOf(unread)).toMatchObject({ exit_code: 0, stdout: 'never read\n', error: null });
  });

  it('counts stdin with the code against max_code_bytes: refused at submission, naming stdin', async () => {
    const code = 'import sys\nprint(len(sys.stdin.read()))';
    const error = await alice()
      .submitJob({
        tool: 'code_execute',
        params: { language: 'python', code, stdin: 'x'.repeat(MIB - Buffer.byteLength(code) + 1) },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HarombeApiError);
    expect(error).toMatchObject({ status: 413, code: 'PayloadTooLarge', details: { field: 'params.stdin' } });
  });
});

describe('files at max_file_bytes through the API', () => {
  it('writes and reads back a file of exactly 8 MiB of multi-byte text; one byte more is refused at submission', async () => {
    const first = await runApproved(alice(), bob(), {
      tool: 'code_execute',
      params: { language: 'python', code: 'pass', keep_sandbox: true },
    });
    const sandbox_id = resultOf(first).sandbox_id as string;
    // 8 MiB exactly: 1-, 2-, 3- and 4-byte characters.
    const content = 'aé€😀'.repeat(838_860) + 'é€abc';
    expect(Buffer.byteLength(content)).toBe(8 * MIB);
    const write = await runApproved(alice(), bob(), {
      tool: 'code_write_file',
      params: { sandbox_id, file_path: 'big.txt', content },
    });
    expect(resultOf(write)).toMatchObject({ success: true, error: null });
    const read = await runApproved(alice(), bob(), {
      tool: 'code_read_file',
      params: { sandbox_id, file_path: 'big.txt' },
    });
    expect(resultOf(read).content === content).toBe(true);
    const over = await alice()
      .submitJob({ tool: 'code_write_file', params: { sandbox_id, file_path: 'over.txt', content: `${content}z` } })
      .catch((e: unknown) => e);
    expect(over).toMatchObject({ status: 413, code: 'PayloadTooLarge', details: { field: 'params.content' } });
    await alice().destroySandbox(sandbox_id);
  });
});

describe('harombe exec', () => {
  it('prints the output as the program writes it, and feeds it what is piped with --stdin-file -', async () => {
    const child = spawn(
      process.execPath,
      [
        cli,
        '--api-url',
        fleet.apiUrl,
        '--api-key',
        keyOf('alice'),
        'exec',
        '--language',
        'python',
        '--stdin-file',
        '-',
        '--timeout',
        '600',
        '-c',
        'import sys, time\nprint(sys.stdin.read().upper())\ntime.sleep(600)\nprint("never")',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.stdin.end('piped é input');
    const pending = await until('the exec job waiting for approval', async () =>
      (await bob().listApprovals()).find((job) => String(job.params.code).includes('never')),
    );
    expect(pending.params.stdin).toBe('piped é input');
    await bob().approve(pending.approval!.approval_id, 'live exec');
    // Printed while the program sleeps: the job still runs.
    await expect.poll(() => stdout, { timeout: 60_000 }).toBe('PIPED É INPUT\n');
    expect((await alice().getJob(pending.job_id)).status).toBe('running');
    await alice().cancelJob(pending.job_id);
    expect(await exited).toBe(1);
    expect(stdout).toBe('PIPED É INPUT\n');
    expect(stderr).toContain('waiting for approval');
    expect(stderr).toContain('approved by bob: live exec');
    expect(stderr).toMatch(/harombe: Cancelled: /);
  });
});
