import { HarombeClient } from '@harombe/client';
import type { JobView } from '@harombe/core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HarombeMcpServer, LongPollJobFollower, type JobFollower, type JobUpdate } from '../src/index.js';
import { execution, FakeApi, KEY, pendingApproval } from './fake-api.js';

/**
 * The protocol side of the server, fast, against a stand-in for the API: what the real-fleet
 * tests (tests/e2e/test/mcp.test.ts) cannot force, such as heartbeats, a follower that streams
 * output, and an API that answers with something else than its contract.
 */
let api: FakeApi;
let mcp: HarombeMcpServer;
let client: Client;

interface ConnectOptions {
  follower?: JobFollower;
  heartbeatMs?: number;
  baseUrl?: string;
  outageMs?: number;
}

async function connect(options: ConnectOptions = {}) {
  const harombe = new HarombeClient({ baseUrl: options.baseUrl ?? api.baseUrl, apiKey: KEY });
  const polls = { approvalPollSeconds: 1, pollSeconds: 1, ...(options.outageMs ? { outageMs: options.outageMs } : {}) };
  mcp = new HarombeMcpServer({
    client: harombe,
    follower: options.follower ?? new LongPollJobFollower(harombe, polls),
    ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await mcp.connect(serverSide);
  client = new Client({ name: 'test', version: '1' });
  await client.connect(clientSide);
}

function call(name: string, args: Record<string, unknown>, signal?: AbortSignal) {
  const progress: string[] = [];
  const result = client.callTool({ name, arguments: args }, undefined, {
    onprogress: (p) => progress.push(p.message ?? ''),
    ...(signal ? { signal } : {}),
  }) as Promise<CallToolResult>;
  result.catch(() => undefined);
  return { result, progress };
}

const text = (result: CallToolResult): string => (result.content[0] as { text: string }).text;

beforeEach(async () => {
  api = new FakeApi();
  await api.start();
});
afterEach(async () => {
  await client?.close();
  await mcp?.close();
  await api.stop();
});

describe('the MCP server over the API', () => {
  it('sends heartbeats while a job waits for approval, then the result', async () => {
    await connect({ heartbeatMs: 50 });
    api.onSubmit = (job) => api.update(job.job_id, { status: 'awaiting_approval', approval: pendingApproval(60) });
    const pending = call('code_execute', { language: 'python', code: 'print(1)' });
    await vi.waitFor(() => expect(pending.progress.filter((m) => m.startsWith('still waiting')).length).toBe(2), {
      timeout: 10_000,
    });
    expect(pending.progress[0]).toMatch(/^waiting for a person's approval: risk LOW \(Test rule\); approval /);
    api.end(api.job.job_id, 'completed', execution('1\n'));
    const result = await pending.result;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual(execution('1\n'));
    // Every call went with the caller's key.
    expect(new Set(api.requests.map((r) => r.authorization))).toEqual(new Set([`Bearer ${KEY}`]));
  });

  it('relays the output a streaming follower yields as progress notifications (the streaming seam)', async () => {
    const streaming: JobFollower = {
      async *follow(job: JobView): AsyncGenerator<JobUpdate> {
        yield { kind: 'output', stream: 'stdout', text: 'first line\n' };
        yield { kind: 'output', stream: 'stderr', text: 'a warning\n' };
        api.end(job.job_id, 'completed', execution('first line\n'));
        yield { kind: 'job', job: api.jobs.get(job.job_id) as JobView };
      },
    };
    await connect({ follower: streaming });
    const pending = call('code_execute', { language: 'python', code: 'print("first line")' });
    const result = await pending.result;
    expect(pending.progress).toContain('stdout: first line\n');
    expect(pending.progress).toContain('stderr: a warning\n');
    expect(result.structuredContent).toMatchObject({ stdout: 'first line\n' });
  });

  it('cancels the job through the API with the caller’s key when the client cancels', async () => {
    await connect();
    const abort = new AbortController();
    const pending = call('code_execute', { language: 'python', code: 'print(1)' }, abort.signal);
    await vi.waitFor(() => expect(api.jobs.size).toBe(1));
    abort.abort();
    await expect(pending.result).rejects.toThrow();
    await vi.waitFor(() => expect(api.job.status).toBe('cancelled'));
    const cancel = api.requests.find((r) => r.method === 'DELETE');
    expect(cancel).toMatchObject({ path: `/v1/jobs/${api.job.job_id}`, authorization: `Bearer ${KEY}` });
  });

  it('answers a refusal of the API with its code and message, and an unreachable API as ServiceUnavailable', async () => {
    await connect();
    api.refuse = { status: 429, code: 'QuotaExceeded', message: 'acme holds 20 kept sandboxes' };
    const refused = await call('code_create_sandbox', { language: 'python' }).result;
    expect(refused.isError).toBe(true);
    expect(text(refused)).toBe('QuotaExceeded: acme holds 20 kept sandboxes');
    await client.close();
    await mcp.close();

    await connect({ baseUrl: 'http://127.0.0.1:9' });
    const unreachable = await call('code_list_files', { sandbox_id: 'sandbox-0123456789abcdef' }).result;
    expect(unreachable.isError).toBe(true);
    expect(text(unreachable)).toMatch(/^ServiceUnavailable: .*cannot reach http:\/\/127\.0\.0\.1:9/);
  });

  it('follows a job through an API restart, and past a long outage gives up naming the job', async () => {
    await connect();
    api.failLooks = 3;
    api.onSubmit = (job) => api.update(job.job_id, { status: 'running' });
    const pending = call('code_execute', { language: 'python', code: 'print(1)' });
    await vi.waitFor(() => expect(api.failLooks).toBe(0), { timeout: 10_000 });
    api.end(api.job.job_id, 'completed', execution('1\n'));
    expect((await pending.result).structuredContent).toEqual(execution('1\n'));
    await client.close();
    await mcp.close();

    await connect({ outageMs: 1 });
    api.failLooks = Number.POSITIVE_INFINITY;
    const lost = await call('code_execute', { language: 'python', code: 'print(2)' }).result;
    expect(lost.isError).toBe(true);
    const jobId = [...api.jobs.keys()][1] as string;
    expect(text(lost)).toBe(
      `ServiceUnavailable: the API is restarting (job ${jobId}, last seen running, goes on without this call)`,
    );
  });

  it('answers a result that breaks its contract as InternalError, never as structuredContent', async () => {
    await connect();
    api.onSubmit = (job) => api.end(job.job_id, 'completed', { success: true, stdout: 42 });
    const result = await call('code_execute', { language: 'python', code: 'print(1)' }).result;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    expect(text(result)).toMatch(/^InternalError: the result of job .* does not match the code_execute contract/);
  });

  it('answers a failed job with its code first, and the result in structuredContent', async () => {
    await connect();
    api.onSubmit = (job) =>
      api.end(
        job.job_id,
        'failed',
        { success: false, sandbox_id: 'sandbox-0123456789abcdef', message: 'gone', error: 'SandboxLost' },
        'sandbox sandbox-0123456789abcdef was lost with its worker w1',
      );
    const result = await call('code_destroy_sandbox', { sandbox_id: 'sandbox-0123456789abcdef' }).result;
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^SandboxLost: sandbox sandbox-0123456789abcdef was lost with its worker w1\n/);
    expect(result.structuredContent).toEqual({
      success: false,
      sandbox_id: 'sandbox-0123456789abcdef',
      message: 'gone',
      error: 'SandboxLost',
    });
  });

  it('refuses bad arguments before any request, with the API’s codes and every problem’s field', async () => {
    await connect();
    const language = await call('code_execute', { language: 'cobol', code: 'x' }).result;
    expect(language.isError).toBe(true);
    expect(text(language)).toMatch(/^UnsupportedLanguage: code_execute: language: /);
    const two = await call('code_execute', { language: 'python', timeout: -1 }).result;
    expect(text(two)).toMatch(/^InvalidArgument: code_execute: (code|timeout): .*; (code|timeout): /);
    const file = await call('code_write_file', { sandbox_id: 'sandbox-0123456789abcdef', file_path: 'x' }).result;
    expect(text(file)).toMatch(/^InvalidArgument: code_write_file: content: /);
    expect(api.requests).toEqual([]);
  });
});
