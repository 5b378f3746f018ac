import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkStateMatches,
  defaultStatePath,
  fileSha256,
  formatProgress,
  idempotencyKey,
  newSubmitState,
  parseJobLines,
  planChunks,
  progressDetail,
  readSubmitState,
  sumProgress,
  writeSubmitState,
  type JobLine,
} from '../src/submit-plan.js';
import { harombe, tempDir } from './harombe-cli.js';

const exec = (code: string): string => JSON.stringify({ tool: 'code_execute', params: { language: 'python', code } });

describe('parseJobLines', () => {
  it('reads one job per line, skipping blank lines and \\r, keeping the params as written', () => {
    const text = `${exec('print(1)')}\n\n  \n${exec('print(2)')}\r\n{"tool":"code_list_files","params":{"sandbox_id":"sandbox-0123456789abcdef"},"max_attempts":3}`;
    const { jobs, problems } = parseJobLines(text);
    expect(problems).toEqual([]);
    expect(jobs.map((j) => j.line)).toEqual([1, 4, 5]);
    expect(jobs[0]?.job).toEqual({ tool: 'code_execute', params: { language: 'python', code: 'print(1)' } });
    expect(jobs[2]?.job).toEqual({
      tool: 'code_list_files',
      params: { sandbox_id: 'sandbox-0123456789abcdef' },
      max_attempts: 3,
    });
    expect(jobs[0]?.bytes).toBe(Buffer.byteLength(JSON.stringify(jobs[0]?.job)));
  });

  it('names every bad line by its number and what is wrong', () => {
    const lines = [
      exec('ok'),
      '{"tool": "code_execute", "params": ',
      '"just a string"',
      '{"tool": "rm_rf", "params": {}}',
      '{"tool": "code_execute", "params": {"language": "cobol", "code": "x"}}',
      '{"tool": "code_execute", "params": {"language": "python"}}',
      '{"params": {}}',
      '{"tool": "code_execute", "params": [1]}',
      '{"tool": "code_execute", "params": {"language": "python", "code": "x"}, "idempotency_key": "k"}',
      '{"tool": "code_execute", "params": {"language": "python", "code": "x"}, "max_attempts": 11}',
    ];
    const { jobs, problems } = parseJobLines(lines.join('\n'));
    expect(jobs).toHaveLength(1);
    expect(problems.map((p) => p.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const by = Object.fromEntries(problems.map((p) => [p.line, p.message]));
    expect(by[2]).toMatch(/^not JSON/);
    expect(by[3]).toMatch(/expected an object/);
    expect(by[4]).toMatch(/unknown tool "rm_rf" \(one of code_execute, /);
    expect(by[5]).toMatch(/^params\.language: /);
    expect(by[6]).toMatch(/^params\.code: /);
    expect(by[7]).toBe('tool: missing');
    expect(by[8]).toBe('params: expected an object');
    expect(by[9]).toMatch(/unknown field "idempotency_key"/);
    expect(by[10]).toMatch(/max_attempts/);
  });
});

describe('planChunks', () => {
  const lines = (n: number, bytes = 10): JobLine[] =>
    Array.from({ length: n }, (_, i) => ({ line: i + 1, job: { tool: 'code_execute', params: { i } }, bytes }));

  it('cuts at 10,000 jobs by default', () => {
    const chunks = planChunks(lines(20_001));
    expect(chunks.map((c) => [c.index, c.first_line, c.last_line, c.jobs.length])).toEqual([
      [0, 1, 10_000, 10_000],
      [1, 10_001, 20_000, 10_000],
      [2, 20_001, 20_001, 1],
    ]);
    expect(chunks[1]?.lines[0]).toBe(10_001);
  });

  it('also cuts by size, but never leaves a job out', () => {
    const chunks = planChunks(lines(5, 40), 10_000, 100);
    expect(chunks.map((c) => c.jobs.length)).toEqual([2, 2, 1]);
    expect(planChunks(lines(2, 500), 10_000, 100).map((c) => c.jobs.length)).toEqual([1, 1]);
    expect(planChunks([])).toEqual([]);
  });

  it('is deterministic', () => {
    expect(planChunks(lines(25), 10)).toEqual(planChunks(lines(25), 10));
  });
});

describe('idempotency keys and the state file', () => {
  const sha = fileSha256('{"tool":"code_execute"}\n');

  it('derives keys from the file hash and the chunk index (and a resubmit salt)', () => {
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    expect(fileSha256('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(idempotencyKey(sha, 0)).toBe(`harombe-submit:${sha}:0`);
    expect(idempotencyKey(sha, 3)).toBe(`harombe-submit:${sha}:3`);
    expect(idempotencyKey(sha, 3, 'a1b2')).toBe(`harombe-submit:${sha}:a1b2:3`);
    expect(idempotencyKey(sha, 0)).toBe(idempotencyKey(fileSha256(Buffer.from('{"tool":"code_execute"}\n')), 0));
    expect(idempotencyKey(sha, 9999, 'ffffffffffffffff').length).toBeLessThanOrEqual(200);
  });

  it('the state file sits next to the input and round-trips', () => {
    const dir = tempDir();
    const input = join(dir, 'jobs.jsonl');
    expect(defaultStatePath(input)).toBe(`${input}.harombe-state.json`);
    const path = defaultStatePath(input);
    expect(readSubmitState(path)).toBeUndefined();
    const state = newSubmitState(input, sha, 3, 1);
    state.chunks.push({
      index: 0,
      first_line: 1,
      last_line: 3,
      jobs: 3,
      idempotency_key: idempotencyKey(sha, 0),
      batch_id: 'batch-000000000000000000000001',
      submitted_at: 'now',
    });
    writeSubmitState(path, state);
    expect(readSubmitState(path)).toEqual(state);
    expect(existsSync(`${path}.${process.pid}.tmp`)).toBe(false);
    writeFileSync(path, '{"something": "else"}');
    expect(() => readSubmitState(path)).toThrow(/not one harombe submit wrote/);
  });

  it('refuses a state recorded for another version of the file', () => {
    const chunks = planChunks([{ line: 1, job: { tool: 'code_execute', params: {} }, bytes: 10 }]);
    const state = newSubmitState('jobs.jsonl', sha, 1, 1);
    expect(() => checkStateMatches(state, sha, chunks, 's.json')).not.toThrow();
    expect(() => checkStateMatches(state, fileSha256('changed'), chunks, 's.json')).toThrow(
      /different version of jobs\.jsonl.*--resubmit/,
    );
    state.chunks.push({
      index: 0,
      first_line: 2,
      last_line: 9,
      jobs: 8,
      idempotency_key: 'k',
      batch_id: 'b',
      submitted_at: 'now',
    });
    expect(() => checkStateMatches(state, sha, chunks, 's.json')).toThrow(/cuts differently/);
  });
});

describe('progress', () => {
  it('sums the batches and counts finished jobs', () => {
    const progress = sumProgress([
      { total: 10, counts: { completed: 4, failed: 1, running: 2, queued: 3 } },
      { total: 5, counts: { awaiting_approval: 2, denied: 1, queued: 2 } },
    ]);
    expect(progress).toMatchObject({ total: 15, finished: 6 });
    expect(formatProgress(progress)).toBe(
      '6/15 finished (40%): 4 completed, 1 denied, 1 failed; 2 running, 5 queued; 2 awaiting approval',
    );
    expect(formatProgress(sumProgress([{ total: 2, counts: { completed: 2 } }]))).toBe(
      '2/2 finished (100%): 2 completed',
    );
    expect(formatProgress(sumProgress([{ total: 3, counts: { queued: 3 } }]))).toBe('0/3 finished (0%); 3 queued');
    expect(progressDetail(progress)).toBe('4 completed, 1 denied, 1 failed; 2 running, 5 queued; 2 awaiting approval');
  });
});

describe('harombe submit: the file is checked before anything is submitted', () => {
  it('lists the bad lines by number, submits nothing, exits 2', () => {
    const cwd = tempDir();
    writeFileSync(
      join(cwd, 'jobs.jsonl'),
      [
        exec('print(1)'),
        'oops',
        exec('print(3)'),
        '{"tool":"code_execute","params":{"language":"perl","code":"1"}}',
      ].join('\n'),
    );
    // A key and an address are set: were anything sent, the error would be a connection one.
    const run = harombe(['submit', 'jobs.jsonl'], {
      cwd,
      env: { HAROMBE_API_KEY: 'hk_x', HAROMBE_API_URL: 'http://127.0.0.1:1' },
    });
    expect(run.stderr).toMatch(
      /^harombe: InvalidArgument: jobs\.jsonl: 2 bad lines, nothing was submitted:\n {2}line 2: not JSON.*\n {2}line 4: params\.language: /,
    );
    expect(run.status).toBe(2);
    expect(existsSync(join(cwd, 'jobs.jsonl.harombe-state.json'))).toBe(false);
  });

  it('refuses an empty file and a missing one', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'empty.jsonl'), '\n\n');
    expect(harombe(['submit', 'empty.jsonl'], { cwd }).stderr).toMatch(/empty\.jsonl holds no jobs/);
    expect(harombe(['submit', 'nope.jsonl'], { cwd }).stderr).toMatch(/cannot read nope\.jsonl: no such file/);
  });

  it('a valid file without a key: says how to get one', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'jobs.jsonl'), `${exec('print(1)')}\n`);
    const run = harombe(['submit', 'jobs.jsonl'], { cwd });
    expect(run.stderr).toMatch(/^harombe: Unauthorized: no API key to submit jobs with/);
    expect(run.status).toBe(2);
  });

  it('refuses an --out it cannot write, before submitting', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'jobs.jsonl'), `${exec('print(1)')}\n`);
    const run = harombe(['submit', 'jobs.jsonl', '--out', 'missing/dir/r.ndjson'], {
      cwd,
      env: { HAROMBE_API_KEY: 'hk_x', HAROMBE_API_URL: 'http://127.0.0.1:1' },
    });
    expect(run.stderr).toMatch(/^harombe: InvalidArgument: cannot write missing\/dir\/r\.ndjson: no such directory/);
    expect(run.status).toBe(2);
    expect(existsSync(join(cwd, 'jobs.jsonl.harombe-state.json'))).toBe(false);
  });

  it('--dry-run checks the file and says how it would be cut', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'jobs.jsonl'), `${exec('print(1)')}\n${exec('print(2)')}\n`);
    const run = harombe(['submit', '--dry-run', 'jobs.jsonl'], { cwd });
    expect(run.stderr).toBe('jobs.jsonl: 2 valid jobs, 1 batch\n');
    expect(run.status).toBe(0);
    expect(readFileSync(join(cwd, 'jobs.jsonl'), 'utf8')).toContain('print(2)');
  });
});
