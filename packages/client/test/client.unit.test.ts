import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  isTerminal,
  JOB_STATUSES,
  type Approval,
  type ErrorCode,
  type ExecutionResult,
  type JobStatus,
  type JobView,
} from '@harombe/core';
import { HarombeApiError, HarombeClient, isHarombeApiError } from '../src/index.js';

const KEY = 'key-test';
const POLL_SECONDS = 0.2;

interface Received {
  method: string;
  rawUrl: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** The client hung up before the answer was complete. */
  closedEarly: boolean;
}

type Override = (req: IncomingMessage, res: ServerResponse, received: Received) => boolean | Promise<boolean>;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string, details?: object): void {
  send(res, status, { error: { code, message, ...(details ? { details } : {}) } });
}

function executionFailure(code: ErrorCode): ExecutionResult {
  return {
    success: false,
    sandbox_id: null,
    sandbox_kept: false,
    stdout: '',
    stderr: '',
    exit_code: -1,
    execution_time: 0,
    error: code,
  };
}

/**
 * A stand-in for the API on 127.0.0.1, playing its contract for what these tests touch: jobs
 * with long-polls, cancellation, approvals. `onSubmit` scripts each job's life; `override`
 * answers a request before the built-in routes do.
 */
class FakeApi {
  readonly requests: Received[] = [];
  readonly jobs = new Map<string, JobView>();
  onSubmit: (job: JobView) => void = () => undefined;
  override: Override | undefined;
  baseUrl = '';
  private readonly listeners = new Set<() => void>();
  private readonly server: Server = createServer(
    (req, res) => void this.handle(req, res).catch((error: unknown) => res.destroy(error as Error)),
  );
  private counter = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Changes a job and wakes the long-polls waiting on it. */
  update(jobId: string, changes: Partial<JobView>): void {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    this.jobs.set(jobId, { ...job, ...changes });
    for (const listener of [...this.listeners]) listener();
  }

  end(jobId: string, status: JobStatus, result: Record<string, unknown>): void {
    const code = result.error as ErrorCode | null;
    this.update(jobId, {
      status,
      result,
      finished_at: new Date().toISOString(),
      error: code ? { code, message: `job ended: ${code}` } : null,
    });
  }

  polls(jobId: string): Received[] {
    return this.requests.filter((r) => r.method === 'GET' && r.url.pathname === `/v1/jobs/${jobId}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString();
    const url = new URL(req.url ?? '/', 'http://fake');
    const received: Received = {
      method: req.method ?? '',
      rawUrl: req.url ?? '',
      url,
      headers: req.headers,
      body: text ? JSON.parse(text) : undefined,
      closedEarly: false,
    };
    this.requests.push(received);
    res.on('close', () => {
      if (!res.writableFinished) received.closedEarly = true;
    });
    if (req.headers.authorization !== `Bearer ${KEY}`)
      return sendError(res, 401, 'Unauthorized', 'missing or wrong API key');
    if (this.override && (await this.override(req, res, received))) return;

    const wait = url.searchParams.has('wait_seconds') ? Number(url.searchParams.get('wait_seconds')) : undefined;
    const jobMatch = /^\/v1\/jobs\/([^/]+)$/.exec(url.pathname);
    const decisionMatch = /^\/v1\/approvals\/([^/]+)\/(approve|deny)$/.exec(url.pathname);
    if (req.method === 'POST' && url.pathname === '/v1/jobs') {
      const body = received.body as { tool: string; params: Record<string, unknown>; wait_seconds?: number };
      const job = this.create(body.tool, body.params);
      this.onSubmit(job);
      const now = await this.settle(job.job_id, body.wait_seconds, res);
      return send(res, isTerminal(now.status) ? 200 : 202, now);
    }
    if (jobMatch) {
      const jobId = decodeURIComponent(jobMatch[1] ?? '');
      const job = this.jobs.get(jobId);
      if (!job) return sendError(res, 404, 'NotFound', `no job ${jobId}`, { job_id: jobId });
      if (req.method === 'GET') return send(res, 200, await this.settle(jobId, wait, res));
      if (req.method === 'DELETE') {
        if (isTerminal(job.status)) return sendError(res, 409, 'Conflict', `job ${jobId} already ended`);
        this.end(jobId, 'cancelled', executionFailure('Cancelled'));
        return send(res, 200, this.jobs.get(jobId));
      }
    }
    if (req.method === 'GET' && url.pathname === '/v1/approvals') {
      const status = url.searchParams.get('status') ?? 'pending';
      return send(res, 200, { approvals: [...this.jobs.values()].filter((j) => j.approval?.status === status) });
    }
    if (req.method === 'POST' && decisionMatch) {
      const [, approvalId, verb] = decisionMatch;
      const job = [...this.jobs.values()].find((j) => j.approval?.approval_id === approvalId);
      if (!job?.approval) return sendError(res, 404, 'NotFound', `no approval ${approvalId}`);
      if (job.approval.status !== 'pending') {
        return sendError(res, 409, 'AlreadyDecided', 'this approval was already decided', { approval: job.approval });
      }
      const approved = verb === 'approve';
      const approval: Approval = {
        ...job.approval,
        status: approved ? 'approved' : 'denied',
        decided_by: 'tester',
        decided_at: new Date().toISOString(),
        reason: (received.body as { reason?: string }).reason ?? null,
        channel: 'api',
      };
      this.update(job.job_id, { approval });
      if (approved) this.update(job.job_id, { status: 'queued' });
      else this.end(job.job_id, 'denied', executionFailure('ApprovalDenied'));
      const now = this.jobs.get(job.job_id) as JobView;
      return send(res, 200, {
        approval_id: approval.approval_id,
        job_id: now.job_id,
        decided: true,
        status: now.status,
        approval,
      });
    }
    sendError(res, 404, 'NotFound', `no route ${req.method} ${url.pathname}`);
  }

  create(tool: string, params: Record<string, unknown>): JobView {
    this.counter += 1;
    const job: JobView = {
      job_id: `job-${hex(this.counter, 24)}`,
      tool: tool as JobView['tool'],
      params,
      status: 'queued',
      risk: 'LOW',
      risk_reason: 'default',
      risk_matched: null,
      created_at: new Date().toISOString(),
      started_at: null,
      finished_at: null,
      batch_id: null,
      attempts: 0,
      max_attempts: 1,
      worker_id: null,
      approval: null,
      result: null,
      error: null,
    };
    this.jobs.set(job.job_id, job);
    return job;
  }

  /** The long-poll: answers once the job ended, after `seconds`, or when the client leaves. */
  private settle(jobId: string, seconds: number | undefined, res: ServerResponse): Promise<JobView> {
    const current = (): JobView => this.jobs.get(jobId) as JobView;
    if (!seconds || isTerminal(current().status)) return Promise.resolve(current());
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(onChange);
        res.off('close', done);
        resolve(current());
      };
      const onChange = (): void => {
        if (isTerminal(current().status)) done();
      };
      const timer = setTimeout(done, seconds * 1000);
      this.listeners.add(onChange);
      res.on('close', done);
    });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, ms = 3000): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await probe();
      if (value === undefined) throw new Error('condition not met in time');
      return value;
    },
    { timeout: ms, interval: 20 },
  );
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

let api: FakeApi;
let client: HarombeClient;

beforeEach(async () => {
  api = new FakeApi();
  await api.start();
  client = new HarombeClient({ baseUrl: api.baseUrl, apiKey: KEY, pollSeconds: POLL_SECONDS });
});
afterEach(async () => {
  await api.stop();
});

describe('transport', () => {
  it('sends the bearer key and JSON body, and answers the parsed JobView', async () => {
    const job = await client.submitJob({ tool: 'code_execute', params: { language: 'python', code: 'print(1)' } });
    expect(job.status).toBe('queued');
    const [request] = api.requests;
    expect(request?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.body).toEqual({ tool: 'code_execute', params: { language: 'python', code: 'print(1)' } });

    const wrongKey = new HarombeClient({ baseUrl: api.baseUrl, apiKey: 'nope' });
    const error = await rejection(wrongKey.getJob(job.job_id));
    expect(error).toMatchObject({ status: 401, code: 'Unauthorized' });
  });

  it('turns an ErrorBody into a HarombeApiError with status, code and details, encoding path segments', async () => {
    const error = await rejection(client.getJob('job-1/../x'));
    expect(error).toBeInstanceOf(HarombeApiError);
    expect(error).toMatchObject({ status: 404, code: 'NotFound', details: { job_id: 'job-1/../x' } });
    expect(api.requests[0]?.rawUrl).toBe('/v1/jobs/job-1%2F..%2Fx');
  });

  it('gives a clear InternalError for an error answer that is not an ErrorBody', async () => {
    api.override = (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>Bad Gateway</body></html>');
      return true;
    };
    const error = await rejection(client.getJob('job-000000000000000000000001'));
    expect(error).toMatchObject({ status: 502, code: 'InternalError' });
    expect((error as Error).message).toMatch(/HTTP 502.*Bad Gateway/);
  });

  it('reports an answer that drifted from the contract, naming the field', async () => {
    api.override = (_req, res) => {
      send(res, 200, { job_id: 'job-000000000000000000000001', status: 'done' });
      return true;
    };
    const error = await rejection(client.getJob('job-000000000000000000000001'));
    expect(error).toMatchObject({ status: 200, code: 'InternalError' });
    expect((error as Error).message).toMatch(/status/);
  });

  it('turns a refused connection into ServiceUnavailable with status 0 and the cause', async () => {
    const baseUrl = api.baseUrl;
    await api.stop();
    const error = await rejection(new HarombeClient({ baseUrl, apiKey: KEY }).getJob('job-000000000000000000000001'));
    expect(isHarombeApiError(error, 'ServiceUnavailable')).toBe(true);
    expect(error).toMatchObject({ status: 0 });
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
    api = new FakeApi();
    await api.start(); // afterEach stops it
  });

  it('times a request out with TimeoutError when the API does not answer', async () => {
    api.override = () => true; // never answers
    const impatient = new HarombeClient({ baseUrl: api.baseUrl, apiKey: KEY, timeoutMs: 200 });
    const error = await rejection(impatient.listSandboxes());
    expect(error).toMatchObject({ status: 0, code: 'TimeoutError' });
  });
});

describe('waiting for jobs', () => {
  it('waitForJob loops over long-polls until the job ends', async () => {
    api.onSubmit = (job) => {
      setTimeout(() => api.update(job.job_id, { status: 'running' }), 100);
      setTimeout(() => api.end(job.job_id, 'completed', { ok: true }), 700);
    };
    const { job_id } = await client.submitJob({ tool: 'code_execute', params: {} });
    const job = await client.waitForJob(job_id);
    expect(job.status).toBe('completed');
    const polls = api.polls(job_id);
    expect(polls.length).toBeGreaterThanOrEqual(3);
    expect(polls.every((p) => p.url.searchParams.get('wait_seconds') === String(POLL_SECONDS))).toBe(true);
  });

  it('waitForJob gives up with TimeoutError after the overall timeout', async () => {
    const { job_id } = await client.submitJob({ tool: 'code_execute', params: {} });
    const started = Date.now();
    const error = await rejection(client.waitForJob(job_id, { timeoutMs: 500 }));
    expect(error).toMatchObject({ status: 0, code: 'TimeoutError', details: { job_id, status: 'queued' } });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('an AbortSignal stops the wait, rejecting with its reason and hanging up the long-poll', async () => {
    const { job_id } = await client.submitJob({ tool: 'code_execute', params: {} });
    const slow = new HarombeClient({ baseUrl: api.baseUrl, apiKey: KEY, pollSeconds: 30 });
    const controller = new AbortController();
    const reason = new Error('no longer needed');
    const waiting = rejection(slow.waitForJob(job_id, { signal: controller.signal }));
    // Once the long-poll is out: it is what the abort must hang up.
    await until(() => (api.polls(job_id)[0] ? true : undefined));
    controller.abort(reason);
    expect(await waiting).toBe(reason);
    await until(() => (api.polls(job_id)[0]?.closedEarly ? true : undefined));
    expect(api.jobs.get(job_id)?.status).toBe('queued'); // only the wait stopped
  });
});

describe('tools', () => {
  it('codeExecute submits the job and answers job.result', async () => {
    const result: ExecutionResult = {
      success: true,
      sandbox_id: null,
      sandbox_kept: false,
      stdout: 'hi\n',
      stderr: '',
      exit_code: 0,
      execution_time: 0.05,
      error: null,
    };
    api.onSubmit = (job) => setTimeout(() => api.end(job.job_id, 'completed', result), 50);
    const answer = await client.codeExecute({ language: 'python', code: 'print("hi")' }, { idempotency_key: 'k1' });
    expect(answer).toEqual(result);
    // The submission itself long-polled, so a quick job costs one request.
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]?.body).toEqual({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("hi")' },
      idempotency_key: 'k1',
      wait_seconds: POLL_SECONDS,
    });
  });

  it('a denied job answers its result with error ApprovalDenied; deciding again is AlreadyDecided', async () => {
    api.onSubmit = (job) =>
      api.update(job.job_id, {
        status: 'awaiting_approval',
        risk: 'HIGH',
        approval: {
          approval_id: `approval-${hex(1, 24)}`,
          status: 'pending',
          risk: 'HIGH',
          expires_at: new Date(Date.now() + 60_000).toISOString(),
          decided_by: null,
          decided_at: null,
          reason: null,
          channel: null,
        },
      });
    const running = client.codeExecute({ language: 'shell', code: 'rm -rf /tmp/x', network_enabled: true });
    const pending = await until(async () => (await client.listApprovals())[0]);
    const approvalId = pending.approval?.approval_id ?? '';
    const decision = await client.deny(approvalId, 'not today');
    expect(decision).toMatchObject({
      decided: true,
      status: 'denied',
      approval: { status: 'denied', reason: 'not today' },
    });

    const result = await running;
    expect(result).toMatchObject({ success: false, error: 'ApprovalDenied' });

    const again = await rejection(client.approve(approvalId));
    expect(again).toMatchObject({ status: 409, code: 'AlreadyDecided', details: { approval: { status: 'denied' } } });
    const cancel = await rejection(client.cancelJob(pending.job_id));
    expect(cancel).toMatchObject({ status: 409, code: 'Conflict' });
  });
});

describe('batchResults', () => {
  it('streams NDJSON split across chunks, one job as soon as its line is complete', async () => {
    const batchId = `batch-${hex(7, 24)}`;
    const done = (n: number): JobView => ({
      ...api.create('code_execute', { n }),
      status: 'completed',
      batch_id: batchId,
      result: { n },
    });
    const lines = [1, 2, 3].map((n) => JSON.stringify(done(n)));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    api.override = async (_req, res, received) => {
      if (received.url.pathname !== `/v1/batches/${batchId}/results`) return false;
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const body = `${lines[0]}\n${lines[1]}\n\n${lines[2]}`; // blank line; last one unterminated
      const cut = (lines[0]?.length ?? 0) + 10; // splits the second line
      res.write(body.slice(0, 7));
      await sleep(20);
      res.write(body.slice(7, cut));
      // Holds the rest until the client has seen the first job: proves no whole-body buffering.
      await released;
      res.write(body.slice(cut, cut + 5));
      await sleep(20);
      res.end(body.slice(cut + 5));
      return true;
    };
    const seen: unknown[] = [];
    for await (const job of client.batchResults(batchId)) {
      seen.push(job.result?.n);
      if (seen.length === 1) release();
    }
    expect(seen).toEqual([1, 2, 3]);
    expect(api.requests.at(-1)?.headers.accept).toBe('application/x-ndjson');
  });
});

describe('streamBatch', () => {
  it('ends after the last job’s end, even when a counts event says all have ended before it', async () => {
    const batchId = `batch-${hex(8, 24)}`;
    const jobIds = [1, 2].map((n) => `job-${hex(n, 24)}`);
    const counts = (completed: number, running: number) => ({
      ...Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])),
      completed,
      running,
    });
    const end = (index: number, completed: number) =>
      JSON.stringify({
        batch_id: batchId,
        total: 2,
        counts: counts(completed, 2 - completed),
        job_id: jobIds[index],
        status: 'completed',
        success: true,
        error: null,
      });
    api.override = (_req, res, received) => {
      if (received.url.pathname !== `/v1/batches/${batchId}/events`) return false;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // The counts ran ahead of the second job's end event: the stream goes on to it.
      res.end(
        `id: 1-0\nevent: job\ndata: ${end(0, 1)}\n\n` +
          `event: counts\ndata: ${JSON.stringify({ batch_id: batchId, total: 2, counts: counts(2, 0) })}\n\n` +
          `id: 2-0\nevent: job\ndata: ${end(1, 2)}\n\n`,
      );
      return true;
    };
    const seen: string[] = [];
    for await (const event of client.streamBatch(batchId)) {
      seen.push(event.type === 'job' ? `job ${event.data.job_id}` : 'counts');
    }
    expect(seen).toEqual([`job ${jobIds[0]}`, 'counts', `job ${jobIds[1]}`]);
  });
});
