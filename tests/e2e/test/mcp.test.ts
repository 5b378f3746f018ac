import { request as httpRequest } from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOOLS, type JobView, type ToolName } from '@harombe/core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { keyOf, postAskingFirst, TestFleet, type TestKeyName } from '../src/index.js';

/** `harombe`'s entry point: the stdio server is the command an MCP client would start. */
const CLI = createRequire(import.meta.url).resolve('@harombe/cli/main');
/** An empty HAROMBE_HOME: the stdio server must take its key and URL from the environment alone. */
const HOME = mkdtempSync(join(tmpdir(), 'harombe-mcp-home-'));

let fleet: TestFleet;
beforeAll(async () => {
  fleet = await TestFleet.start({ mcp: true, config: { api: { max_body_bytes: 1_048_576 } } });
});
afterAll(async () => {
  await fleet?.stop();
});

const alice = () => fleet.client('alice');
const bob = () => fleet.client('bob');

type Kind = 'stdio' | 'http';

/** An MCP client of the SDK, connected as `key` over `kind`; stderr of a stdio server is kept for failures. */
async function connect(
  kind: Kind,
  key: string,
): Promise<{ client: Client; stderr: string[]; close: () => Promise<void> }> {
  const apiKey = key in { alice: 1, bob: 1, carol: 1, audrey: 1, eve: 1 } ? keyOf(key as TestKeyName) : key;
  const client = new Client({ name: 'harombe-e2e', version: '1.0.0' });
  const stderr: string[] = [];
  if (kind === 'stdio') {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp'],
      env: { PATH: process.env.PATH ?? '', HAROMBE_HOME: HOME, HAROMBE_API_URL: fleet.apiUrl, HAROMBE_API_KEY: apiKey },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    await client.connect(transport);
    return { client, stderr, close: () => client.close() };
  }
  const transport = new StreamableHTTPClientTransport(new URL(fleet.mcpUrl), {
    requestInit: { headers: { authorization: `Bearer ${apiKey}` } },
  });
  await client.connect(transport);
  // Closing the SDK's client leaves the session to time out; ending it is a DELETE of its own.
  const close = async (): Promise<void> => {
    await transport.terminateSession();
    await client.close();
  };
  return { client, stderr, close };
}

interface Call {
  result: Promise<CallToolResult>;
  /** The messages of the call's progress notifications, as they came. */
  progress: string[];
}

/** A tool call that listens to its progress and waits as long as it keeps hearing of it. */
function call(client: Client, name: string, args: Record<string, unknown>, signal?: AbortSignal): Call {
  const progress: string[] = [];
  const result = client.callTool({ name, arguments: args }, undefined, {
    onprogress: (p) => progress.push(p.message ?? ''),
    resetTimeoutOnProgress: true,
    timeout: 90_000,
    ...(signal ? { signal } : {}),
  }) as Promise<CallToolResult>;
  // Rejections are awaited by the tests that expect them.
  result.catch(() => undefined);
  return { result, progress };
}

const textOf = (result: CallToolResult): string =>
  result.content.map((part) => (part.type === 'text' ? part.text : `[${part.type}]`)).join('\n');

/** The pending approval of acme's job that `match` picks, once the API shows it. */
async function pendingJob(match: (job: JobView) => boolean): Promise<JobView> {
  return vi.waitFor(
    async () => {
      const job = (await bob().listApprovals()).find(match);
      if (!job) throw new Error('no such pending approval yet');
      return job;
    },
    { timeout: 30_000, interval: 100 },
  );
}

/** Bob approves the pending job `match` picks (each call made by the tests is told apart by its params). */
async function approve(match: (job: JobView) => boolean): Promise<JobView> {
  const job = await pendingJob(match);
  await bob().approve(job.approval?.approval_id as string, 'e2e');
  return job;
}

const withCode = (marker: string) => (job: JobView) =>
  (typeof job.params.code === 'string' ? job.params.code : '').includes(marker);
const withParams = (tool: ToolName, params: Record<string, unknown>) => (job: JobView) =>
  job.tool === tool && Object.entries(params).every(([key, value]) => job.params[key] === value);

describe.each<Kind>(['stdio', 'http'])('MCP over %s, against a real fleet', (kind) => {
  let client: Client;
  let stderr: string[];
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ client, stderr, close } = await connect(kind, 'alice'));
  });
  afterAll(async () => {
    await close?.();
  });
  const marker = (what: string) => `${kind}-${what}-${Math.random().toString(16).slice(2, 10)}`;

  it('lists the seven tools, their schemas generated from the core contracts, with descriptions to act on', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(Object.keys(TOOLS).sort());
    for (const tool of tools) {
      const contract = TOOLS[tool.name as ToolName];
      const input = z.toJSONSchema(contract.params, { io: 'input', target: 'draft-7' }) as Record<string, unknown>;
      const properties = { ...(tool.inputSchema.properties as Record<string, Record<string, unknown>>) };
      // The same schema, each parameter with a description added.
      for (const [name, property] of Object.entries(properties)) {
        expect(property.description, `${tool.name}.${name}`).toEqual(expect.any(String));
        const rest = { ...property };
        delete rest.description;
        properties[name] = rest;
      }
      expect({ ...tool.inputSchema, properties }, tool.name).toEqual(input);
      expect(tool.outputSchema, tool.name).toEqual(
        z.toJSONSchema(contract.result, { io: 'output', target: 'draft-7' }),
      );
      expect(tool.description, tool.name).toMatch(/Approval:/);
    }
    const execute = tools.find((tool) => tool.name === 'code_execute')?.description ?? '';
    for (const fact of ['one-shot sandbox', 'keep_sandbox: true', '30 s per run', '512 MiB', 'HIGH risk', '60 s'])
      expect(execute).toContain(fact);
    expect(tools.find((tool) => tool.name === 'code_destroy_sandbox')?.description).toContain('LOW risk');
  });

  it('runs every tool as a job of the API with the caller’s key, answering text and the exact result', async () => {
    // code_create_sandbox: LOW without network, it runs at once.
    const created = await call(client, 'code_create_sandbox', { language: 'python' }).result;
    expect(created.isError, textOf(created)).toBeFalsy();
    const sandbox_id = created.structuredContent?.sandbox_id as string;
    expect(sandbox_id).toMatch(/^sandbox-[0-9a-f]{16}$/);
    expect(created.structuredContent).toMatchObject({ success: true, language: 'python', network_enabled: false });
    expect(textOf(created)).toContain(`sandbox_id: ${sandbox_id}`);
    expect((await alice().listSandboxes()).map((s) => s.sandbox_id)).toContain(sandbox_id);

    const code = `print("hello from", "${kind}")\nopen("made.txt", "w").write("by code")`;
    const execute = call(client, 'code_execute', { language: 'python', code, sandbox_id });
    const executeJob = await approve(withCode(`"${kind}")\nopen("made.txt"`));
    const executed = await execute.result;
    expect(executed.isError, textOf(executed)).toBeFalsy();
    expect(executed.structuredContent).toMatchObject({
      success: true,
      sandbox_id,
      sandbox_kept: true,
      stdout: `hello from ${kind}\n`,
      stderr: '',
      exit_code: 0,
      error: null,
    });
    // The job is the caller's, decided by bob, and its result is exactly what the call answered.
    const seen = await alice().getJob(executeJob.job_id);
    expect(seen.approval).toMatchObject({ status: 'approved', decided_by: 'bob' });
    expect(executed.structuredContent).toEqual(seen.result);

    const write = call(client, 'code_write_file', { sandbox_id, file_path: 'data/in.txt', content: kind });
    await approve(withParams('code_write_file', { sandbox_id, file_path: 'data/in.txt' }));
    expect((await write.result).structuredContent).toEqual({
      success: true,
      sandbox_id,
      file_path: 'data/in.txt',
      error: null,
    });

    const read = call(client, 'code_read_file', { sandbox_id, file_path: 'made.txt' });
    await approve(withParams('code_read_file', { sandbox_id }));
    const readResult = await read.result;
    expect(readResult.structuredContent).toEqual({
      success: true,
      sandbox_id,
      file_path: 'made.txt',
      content: 'by code',
      error: null,
    });
    expect(textOf(readResult)).toContain('--- content ---\nby code');

    const list = call(client, 'code_list_files', { sandbox_id });
    await approve(withParams('code_list_files', { sandbox_id }));
    const listed = (await list.result).structuredContent as { files: string[] };
    expect(listed.files.sort()).toEqual(['data', 'made.txt']);

    // No network on this sandbox and no registry allowed: the tool runs and says why it cannot install.
    const install = call(client, 'code_install_package', { sandbox_id, package: 'requests' });
    await approve(withParams('code_install_package', { sandbox_id }));
    const installed = await install.result;
    expect(installed.isError).toBe(true);
    const installError = installed.structuredContent?.error as string;
    expect(['NetworkDisabled', 'RegistryNotAllowed']).toContain(installError);
    expect(textOf(installed).startsWith(`${installError}: `)).toBe(true);
    expect(installed.structuredContent).toMatchObject({ success: false, sandbox_id, package: 'requests' });

    // code_destroy_sandbox: LOW, at once.
    const destroyed = await call(client, 'code_destroy_sandbox', { sandbox_id }).result;
    expect(destroyed.isError, textOf(destroyed)).toBeFalsy();
    expect(destroyed.structuredContent).toMatchObject({ success: true, sandbox_id, error: null });
    expect((await alice().listSandboxes()).map((s) => s.sandbox_id)).not.toContain(sandbox_id);
  });

  it('says while a call waits for a person (risk, rule, expiry), keeps waiting, and answers once approved', async () => {
    const tag = marker('approve');
    const pending = call(client, 'code_execute', { language: 'python', code: `print(6 * 7)  # ${tag}` });
    const job = await pendingJob(withCode(tag));
    // The first progress notification comes while nobody has decided yet.
    await vi.waitFor(() => expect(pending.progress.length).toBeGreaterThan(0), { timeout: 15_000 });
    const waiting = pending.progress[0] as string;
    expect(waiting).toContain("waiting for a person's approval");
    expect(waiting).toContain(`risk HIGH (${job.risk_reason}`);
    expect(waiting).toContain(`expires at ${job.approval?.expires_at}`);
    expect(waiting).toContain(job.job_id);
    await bob().approve(job.approval?.approval_id as string, 'looks fine');
    const result = await pending.result;
    expect(result.isError, textOf(result)).toBeFalsy();
    const text = textOf(result);
    for (const line of [
      'success: true',
      'exit_code: 0',
      'error: none',
      '--- stdout ---\n42',
      '--- stderr ---\n(empty)',
    ])
      expect(text).toContain(line);
    expect(result.structuredContent).toEqual((await alice().getJob(job.job_id)).result);
    expect(result.structuredContent).toMatchObject({ sandbox_kept: false, stdout: '42\n' });
  });

  it('ends a denied call with a tool error saying who denied it and why', async () => {
    const tag = marker('deny');
    const pending = call(client, 'code_execute', { language: 'python', code: `print(1)  # ${tag}` });
    const job = await pendingJob(withCode(tag));
    await bob().deny(job.approval?.approval_id as string, 'not on a Friday');
    const result = await pending.result;
    expect(result.isError).toBe(true);
    const text = textOf(result);
    expect(text).toMatch(/^ApprovalDenied: /);
    expect(text).toContain(`job ${job.job_id} was denied by bob: not on a Friday`);
    expect(result.structuredContent).toMatchObject({ success: false, error: 'ApprovalDenied' });
    expect((await alice().getJob(job.job_id)).status).toBe('denied');
  });

  it('ends a call whose approval expired with a tool error saying so', async () => {
    // The test fleet gives code marked EXPIRES_IN_2S a 2-second approval window.
    const tag = marker('expire');
    const pending = call(client, 'code_execute', { language: 'python', code: `print(1)  # EXPIRES_IN_2S ${tag}` });
    const job = await pendingJob(withCode(tag));
    const result = await pending.result;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(
      new RegExp(`^ApprovalTimeout: nobody approved job ${job.job_id} before its approval expired at `),
    );
    expect(result.structuredContent).toMatchObject({ success: false, error: 'ApprovalTimeout' });
    expect(pending.progress[0]).toContain(`expires at ${job.approval?.expires_at}`);
    expect((await alice().getJob(job.job_id)).status).toBe('expired');
  });

  it('cancels the job when the client cancels a call that waits for approval', async () => {
    const tag = marker('cancel-waiting');
    const abort = new AbortController();
    const pending = call(client, 'code_execute', { language: 'python', code: `print(1)  # ${tag}` }, abort.signal);
    const job = await pendingJob(withCode(tag));
    abort.abort(new Error('the agent changed its mind'));
    await expect(pending.result).rejects.toThrow('the agent changed its mind');
    await vi.waitFor(async () => expect((await alice().getJob(job.job_id)).status).toBe('cancelled'), {
      timeout: 15_000,
      interval: 100,
    });
  });

  it('streams the output to the client as the program writes it, before the result', async () => {
    const tag = marker('stream');
    const code = `import time\nprint("first line", flush=True)  # ${tag}\ntime.sleep(3)\nprint("second line")`;
    const pending = call(client, 'code_execute', { language: 'python', code });
    let settled = false;
    void pending.result.then(
      () => (settled = true),
      () => (settled = true),
    );
    await approve(withCode(tag));
    // Pieces as the program wrote them (print writes the line, then its end).
    const streamed = () =>
      pending.progress
        .filter((message) => message.startsWith('stdout: '))
        .map((message) => message.slice('stdout: '.length))
        .join('');
    await vi.waitFor(() => expect(streamed()).toContain('first line'), { timeout: 30_000 });
    // Heard while the program still sleeps: streamed, not taken from the result.
    expect(settled).toBe(false);
    const result = await pending.result;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ stdout: 'first line\nsecond line\n', exit_code: 0 });
    expect(streamed()).toBe('first line\nsecond line\n');
  });

  it('cancels the job when the client cancels a call whose program runs', async () => {
    const tag = marker('cancel-running');
    const abort = new AbortController();
    const code = `import time\nprint("started", flush=True)  # ${tag}\ntime.sleep(120)`;
    const pending = call(client, 'code_execute', { language: 'python', code, timeout: 300 }, abort.signal);
    const job = await approve(withCode(tag));
    await vi.waitFor(async () => expect((await alice().getJob(job.job_id)).status).toBe('running'), {
      timeout: 30_000,
      interval: 100,
    });
    // The call says who approved it once it sees the job move on.
    await vi.waitFor(() => expect(pending.progress.join('\n')).toMatch(/approved by bob \(e2e\); (queued|running)/), {
      timeout: 15_000,
    });
    abort.abort();
    await expect(pending.result).rejects.toThrow();
    const ended = await alice().waitForJob(job.job_id, { timeoutMs: 30_000 });
    expect(ended.status).toBe('cancelled');
  });

  it('answers bad arguments with a clear tool error, submits nothing, and goes on serving', async () => {
    const refusals: [string, Record<string, unknown>, RegExp][] = [
      ['code_execute', { language: 'cobol', code: 'x' }, /^UnsupportedLanguage: code_execute: language: /],
      ['code_execute', { language: 'python' }, /^InvalidArgument: code_execute: code: /],
      ['code_execute', { language: 'python', code: 'x', colour: 'red' }, /^InvalidArgument: .*colour/],
      ['code_read_file', { sandbox_id: '../etc', file_path: 'x' }, /^InvalidArgument: code_read_file: sandbox_id: /],
      ['code_write_file', { sandbox_id: 'sandbox-0123456789abcdef', file_path: 'x', content: 7 }, /content/],
      ['code_list_files', {}, /^InvalidArgument: code_list_files: sandbox_id: /],
      ['rm_rf', {}, /^UnknownTool: there is no tool "rm_rf"/],
    ];
    for (const [name, args, message] of refusals) {
      const result = await call(client, name, args).result;
      expect(result.isError, name).toBe(true);
      expect(textOf(result), name).toMatch(message);
    }
    // Refused by the API at submission, before anyone is asked: the API's code and message.
    const tooLong = await call(client, 'code_execute', { language: 'python', code: 'print(1)', timeout: 100_000 })
      .result;
    expect(tooLong.isError).toBe(true);
    expect(textOf(tooLong)).toMatch(/^LimitTooHigh: /);
    // Nothing of the above reached an approver.
    const pending = await bob().listApprovals();
    expect(pending.filter((job) => job.params.timeout === 100_000 || job.params.language === 'cobol')).toEqual([]);
    // Still serving.
    expect((await client.listTools()).tools).toHaveLength(7);
    expect(stderr.join('')).not.toMatch(/Error|at /);
  });

  it('lets a key that may not submit connect, and answers its calls with Forbidden', async () => {
    const approver = await connect(kind, 'bob');
    try {
      const refused = await call(approver.client, 'code_execute', { language: 'python', code: 'print(1)' }).result;
      expect(refused.isError).toBe(true);
      expect(textOf(refused)).toMatch(/^Forbidden: /);
    } finally {
      await approver.close();
    }
  });

  it('answers another tenant’s sandbox as not found, and leaves it alone', async () => {
    const created = await call(client, 'code_create_sandbox', { language: 'shell' }).result;
    const sandbox_id = created.structuredContent?.sandbox_id as string;
    const eve = await connect(kind, 'eve');
    try {
      const destroyed = await call(eve.client, 'code_destroy_sandbox', { sandbox_id }).result;
      expect(destroyed.isError).toBe(true);
      expect(textOf(destroyed)).toMatch(/^SandboxNotFound: /);
      expect(destroyed.structuredContent).toMatchObject({ success: false, sandbox_id, error: 'SandboxNotFound' });
    } finally {
      await eve.close();
    }
    expect((await alice().listSandboxes()).map((s) => s.sandbox_id)).toContain(sandbox_id);
    await call(client, 'code_destroy_sandbox', { sandbox_id }).result;
  });
});

describe('harombe mcp (stdio)', () => {
  it('refuses to serve without a key, saying where keys come from', () => {
    const run = spawnSync(process.execPath, [CLI, 'mcp'], {
      env: { PATH: process.env.PATH, HAROMBE_HOME: HOME, HAROMBE_API_URL: fleet.apiUrl },
      input: '',
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^harombe: Unauthorized: no API key to submit jobs with\. .*HAROMBE_API_KEY/);
  });

  it('refuses to serve with a key the API does not know, saying so on stderr', () => {
    const run = spawnSync(process.execPath, [CLI, 'mcp'], {
      env: { PATH: process.env.PATH, HAROMBE_HOME: HOME, HAROMBE_API_URL: fleet.apiUrl, HAROMBE_API_KEY: 'nope' },
      input: '',
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^harombe: Unauthorized: the API refused the key from HAROMBE_API_KEY/);
  });

  it('cancels the jobs of calls under way when its client goes away', async () => {
    const { client } = await connect('stdio', 'alice');
    const tag = `stdio-close-${Math.random().toString(16).slice(2, 10)}`;
    call(client, 'code_execute', { language: 'python', code: `print(1)  # ${tag}` });
    const job = await pendingJob(withCode(tag));
    await client.close();
    await vi.waitFor(async () => expect((await alice().getJob(job.job_id)).status).toBe('cancelled'), {
      timeout: 15_000,
      interval: 100,
    });
  });
});

describe('the MCP service (Streamable HTTP)', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(fleet.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body,
    });
  const initialize = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } },
  });

  it('needs a bearer API key the API knows, and keeps a session to the key that opened it', async () => {
    const anonymous = await post(initialize);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');
    expect(await anonymous.json()).toMatchObject({ error: { message: expect.stringMatching(/^Unauthorized: /) } });

    const unknown = await post(initialize, { authorization: 'Bearer not-a-key-of-this-fleet' });
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({ error: { data: { code: 'Unauthorized' } } });
    await expect(connect('http', 'not-a-key-of-this-fleet')).rejects.toThrow();

    const opened = await post(initialize, { authorization: `Bearer ${keyOf('alice')}` });
    expect(opened.status).toBe(200);
    const session = opened.headers.get('mcp-session-id') as string;
    await opened.body?.cancel();
    const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const stolen = await post(list, { authorization: `Bearer ${keyOf('eve')}`, 'mcp-session-id': session });
    expect(stolen.status).toBe(404);
    expect(await stolen.json()).toMatchObject({ error: { data: { code: 'NotFound' } } });
    const closed = await fetch(fleet.mcpUrl, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${keyOf('alice')}`, 'mcp-session-id': session },
    });
    expect(closed.status).toBe(200);
  });

  it('answers malformed and oversized bodies with a stable code', async () => {
    const auth = { authorization: `Bearer ${keyOf('alice')}` };
    const malformed = await post('{"jsonrpc": "2.0", "id": 1, "method": ', auth);
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { code: -32700, data: { code: 'InvalidArgument' } } });
    const notJson = await post('hello', { ...auth, 'content-type': 'text/plain' });
    expect(notJson.status).toBe(415);
    // The test fleet's api.max_body_bytes is 1 MiB. A body announced larger is refused from its
    // Content-Length alone: sent without asking, its first bytes are all that go (what a client
    // writes after the refusal may meet a closed connection); asking first, none do.
    const announced = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = httpRequest(new URL(fleet.mcpUrl), {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', 'content-length': 2 * 1_048_576 },
      });
      request.on('response', (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          request.destroy();
          resolve({ status: response.statusCode ?? 0, text });
        });
      });
      request.on('error', reject);
      request.write('{"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"a": "');
    });
    expect(announced.status).toBe(413);
    expect(JSON.parse(announced.text)).toMatchObject({ error: { data: { code: 'PayloadTooLarge' } } });
    const huge = await postAskingFirst(
      new URL(fleet.mcpUrl),
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'x', params: { a: 'x'.repeat(5 * 1_048_576) } }),
      { ...auth, accept: 'application/json, text/event-stream' },
    );
    expect(huge).toMatchObject({ status: 413, sentBody: false });
    expect(JSON.parse(huge.text)).toMatchObject({ error: { data: { code: 'PayloadTooLarge' } } });
    const noSession = await post(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }), auth);
    expect(noSession.status).toBe(400);
  });

  it('serves /healthz, /readyz and /metrics, counting calls, sessions and refusals', async () => {
    const base = new URL(fleet.mcpUrl).origin;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { api: true } });
    const metric = async (pattern: RegExp): Promise<number> => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return Number(pattern.exec(text)?.[1] ?? 0);
    };
    const calls = /harombe_mcp_tool_calls_total\{tool="code_destroy_sandbox",outcome="failed",service="mcp"\} (\d+)/;
    const refusals = /harombe_mcp_refused_requests_total\{code="Unauthorized",service="mcp"\} (\d+)/;
    const sessions = /harombe_mcp_sessions\{service="mcp"\} (\d+)/;
    const [callsBefore, refusalsBefore, sessionsBefore] = [
      await metric(calls),
      await metric(refusals),
      await metric(sessions),
    ];
    expect((await post(initialize)).status).toBe(401);
    const { client, close } = await connect('http', 'alice');
    expect(await metric(sessions)).toBe(sessionsBefore + 1);
    const gone = await call(client, 'code_destroy_sandbox', { sandbox_id: 'sandbox-00000000000000ff' }).result;
    expect(textOf(gone)).toMatch(/^SandboxNotFound: /);
    await close();
    expect(await metric(calls)).toBe(callsBefore + 1);
    expect(await metric(refusals)).toBe(refusalsBefore + 1);
    expect(await metric(sessions)).toBe(sessionsBefore);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain(
      'harombe_mcp_tool_call_duration_seconds_bucket{le="0.1",service="mcp",tool="code_destroy_sandbox"',
    );
  });
});
