import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { JobView } from '@harombe/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { keyOf, resultOf, runApproved, TestFleet } from '../src/index.js';

const run = promisify(execFile);
const cli = createRequire(import.meta.url).resolve('@harombe/cli/main');

let fleet: TestFleet;
beforeAll(async () => {
  fleet = await TestFleet.start({ config: { worker: { concurrency: 4 } } });
});
afterAll(async () => {
  await fleet?.stop();
});

async function harombe(
  args: string[],
  key: 'alice' | 'bob' = 'alice',
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [cli, '--api-url', fleet.apiUrl, '--api-key', keyOf(key), ...args],
      { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('batches', () => {
  it('runs a batch of 200 jobs, approved at once, and streams every result', async () => {
    const alice = fleet.client('alice');
    const bob = fleet.client('bob');
    // Four sandboxes share the batch's work.
    const sandboxes = await Promise.all(
      [0, 1, 2, 3].map(
        async () =>
          resultOf(
            await runApproved(alice, bob, {
              tool: 'code_execute',
              params: { language: 'shell', code: 'true', keep_sandbox: true },
            }),
          ).sandbox_id as string,
      ),
    );
    const jobs = Array.from({ length: 200 }, (_, i) => ({
      tool: 'code_execute',
      params: { language: 'shell', sandbox_id: sandboxes[i % 4], code: `echo $((${i} * 2))` },
    }));
    const batch = await alice.submitBatch({ jobs });
    expect(batch.job_ids).toHaveLength(200);
    const pending = await alice.getBatch(batch.batch_id);
    expect(pending.counts.awaiting_approval).toBe(200);
    expect(await bob.approveBatch(batch.batch_id, 'batch test')).toMatchObject({ decided: 200, already_decided: 0 });
    await expect
      .poll(async () => (await alice.getBatch(batch.batch_id)).counts.completed, { timeout: 300_000, interval: 500 })
      .toBe(200);
    const view = await alice.getBatch(batch.batch_id, { limit: 10 });
    expect(view).toMatchObject({ total: 200, counts: { completed: 200, awaiting_approval: 0, queued: 0, running: 0 } });
    expect(view.jobs).toHaveLength(10);
    expect(view.next_offset).toBe(10);
    const results: JobView[] = [];
    for await (const job of alice.batchResults(batch.batch_id)) results.push(job);
    expect(results).toHaveLength(200);
    const byId = new Map(results.map((job) => [job.job_id, job]));
    batch.job_ids.forEach((id, i) =>
      expect(byId.get(id)?.result).toMatchObject({ success: true, stdout: `${i * 2}\n` }),
    );
  });
});

describe('the harombe command against the fleet', () => {
  it('exec runs one job, waits for its approval, prints its output and exits with its code', async () => {
    const exec = harombe([
      'exec',
      '--language',
      'python',
      '-c',
      'import sys; print("from exec"); print("to stderr", file=sys.stderr); sys.exit(7)',
    ]);
    const mine = await vi.waitFor(
      async () => {
        const pending = await fleet.client('bob').listApprovals();
        const found = pending.find((job) => String(job.params.code).includes('from exec'));
        if (!found) throw new Error('the job of harombe exec is not waiting for approval');
        return found;
      },
      { timeout: 20_000, interval: 200 },
    );
    expect((await fleet.client('bob').approve(mine.approval!.approval_id)).decided).toBe(true);
    const result = await exec;
    expect(result.stdout).toBe('from exec\n');
    expect(result.stderr).toContain('to stderr');
    expect(result.stderr).toContain('waiting for approval');
    expect(result.code).toBe(7);
  });

  it('submit sends a JSONL file as a batch, writes the results as NDJSON, and never submits twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'harombe-submit-'));
    const input = join(dir, 'jobs.jsonl');
    const out = join(dir, 'results.ndjson');
    const created = await runApproved(fleet.client('alice'), fleet.client('bob'), {
      tool: 'code_execute',
      params: { language: 'shell', code: 'true', keep_sandbox: true },
    });
    const sandbox_id = resultOf(created).sandbox_id as string;
    writeFileSync(
      input,
      [1, 2, 3]
        .map((i) =>
          JSON.stringify({ tool: 'code_execute', params: { language: 'shell', sandbox_id, code: `echo line ${i}` } }),
        )
        .join('\n') + '\n',
    );
    const approver = (async () => {
      const batchId = await vi.waitFor(
        async () => {
          const pending = (await fleet.client('bob').listApprovals()).find((job) => job.batch_id);
          if (!pending?.batch_id) throw new Error('the batch of harombe submit is not waiting for approval');
          return pending.batch_id;
        },
        { timeout: 60_000, interval: 200 },
      );
      await fleet.client('bob').approveBatch(batchId);
    })();
    const first = await harombe(['submit', input, '--out', out]);
    await approver;
    expect(first.code, first.stderr).toBe(0);
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as JobView);
    expect(lines.map((job) => job.result?.stdout).sort()).toEqual(['line 1\n', 'line 2\n', 'line 3\n']);

    const approvalsBefore = (await fleet.client('bob').listApprovals()).length;
    const again = await harombe(['submit', input, '--out', join(dir, 'again.ndjson')]);
    expect(again.code, again.stderr).toBe(0);
    expect((await fleet.client('bob').listApprovals()).length).toBe(approvalsBefore);
    const rerun = readFileSync(join(dir, 'again.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as JobView);
    expect(rerun.map((job) => job.job_id).sort()).toEqual(lines.map((job) => job.job_id).sort());
  });
});
