import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isTerminal, type ErrorCode, type JobStatus, type JobView } from '@harombe/core';

export const KEY = 'key-alice';

export interface Received {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  body: unknown;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string): void {
  send(res, status, { error: { code, message } });
}

/**
 * A stand-in for the fleet's API on 127.0.0.1, for what the MCP server touches: submission,
 * long-polls, cancellation and the key check. `onSubmit` scripts each job's life (the job starts
 * queued); `refuse` answers a submission with an error instead.
 */
export class FakeApi {
  readonly requests: Received[] = [];
  readonly jobs = new Map<string, JobView>();
  keys = new Set([KEY]);
  onSubmit: (job: JobView) => void = () => undefined;
  refuse: { status: number; code: ErrorCode; message: string } | undefined;
  /** Looks at a job (GET /v1/jobs/{id}) still to answer 503 ServiceUnavailable, as an API restarting. */
  failLooks = 0;
  baseUrl = '';
  private readonly listeners = new Set<() => void>();
  private readonly server: Server = createServer((req, res) => void this.handle(req, res));
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

  /** Ends a job with a result; an `error` in it becomes the job's error too. */
  end(jobId: string, status: JobStatus, result: Record<string, unknown>, message?: string): void {
    const code = (result.error ?? null) as ErrorCode | null;
    this.update(jobId, {
      status,
      result,
      finished_at: new Date().toISOString(),
      error: code ? { code, message: message ?? `job ended: ${code}` } : null,
    });
  }

  /** The only job submitted so far. */
  get job(): JobView {
    const [job, ...more] = [...this.jobs.values()];
    if (!job || more.length > 0) throw new Error(`expected one job, have ${this.jobs.size}`);
    return job;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString();
    const url = new URL(req.url ?? '/', 'http://fake');
    this.requests.push({
      method: req.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization,
      body: text ? JSON.parse(text) : undefined,
    });
    const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!key || !this.keys.has(key)) return sendError(res, 401, 'Unauthorized', 'unknown API key');
    const jobMatch = /^\/v1\/jobs\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && url.pathname === '/v1/jobs') {
      if (this.refuse) return sendError(res, this.refuse.status, this.refuse.code, this.refuse.message);
      const body = JSON.parse(text) as { tool: JobView['tool']; params: Record<string, unknown> };
      const job = this.create(body.tool, body.params);
      this.onSubmit(job);
      return send(res, 202, this.jobs.get(job.job_id));
    }
    if (req.method === 'GET' && url.pathname === '/v1/sandboxes') return send(res, 200, { sandboxes: [] });
    if (jobMatch) {
      const jobId = decodeURIComponent(jobMatch[1] ?? '');
      if (!this.jobs.has(jobId)) return sendError(res, 404, 'NotFound', `job ${jobId} not found`);
      if (req.method === 'DELETE') return this.cancel(jobId, res);
      if (this.failLooks > 0) {
        this.failLooks -= 1;
        return sendError(res, 503, 'ServiceUnavailable', 'the API is restarting');
      }
      const wait = Number(url.searchParams.get('wait_seconds') ?? 0);
      return send(res, 200, await this.settle(jobId, wait, res));
    }
    sendError(res, 404, 'NotFound', `no route ${req.method} ${url.pathname}`);
  }

  private cancel(jobId: string, res: ServerResponse): void {
    const job = this.jobs.get(jobId) as JobView;
    if (isTerminal(job.status)) return sendError(res, 409, 'Conflict', `job ${jobId} has ended`);
    this.end(jobId, 'cancelled', { success: false, error: 'Cancelled' }, 'cancelled by alice');
    send(res, 200, this.jobs.get(jobId));
  }

  /** The job once it ended, or as it is after `seconds` (a long-poll answers when a job ends). */
  private async settle(jobId: string, seconds: number, res: ServerResponse): Promise<JobView> {
    const current = (): JobView => this.jobs.get(jobId) as JobView;
    if (seconds <= 0 || isTerminal(current().status)) return current();
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      const check = (): void => {
        if (isTerminal(current().status)) done();
      };
      const timer = setTimeout(done, seconds * 1000);
      this.listeners.add(check);
      res.on('close', done);
    });
    return current();
  }

  private create(tool: JobView['tool'], params: Record<string, unknown>): JobView {
    this.counter += 1;
    const job: JobView = {
      job_id: `job-${this.counter.toString(16).padStart(24, '0')}`,
      tool,
      params,
      status: 'queued',
      risk: 'LOW',
      risk_reason: 'Test rule',
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
}

/** A pending approval as the API shows it, expiring `seconds` from now. */
export function pendingApproval(seconds: number): NonNullable<JobView['approval']> {
  return {
    approval_id: 'approval-000000000000000000000001',
    status: 'pending',
    risk: 'HIGH',
    expires_at: new Date(Date.now() + seconds * 1000).toISOString(),
    decided_by: null,
    decided_at: null,
    reason: null,
    channel: null,
  };
}

/** An execution result with the given output. */
export function execution(stdout: string, exitCode = 0): Record<string, unknown> {
  return {
    success: exitCode === 0,
    sandbox_id: 'sandbox-0123456789abcdef',
    sandbox_kept: false,
    stdout,
    stderr: '',
    exit_code: exitCode,
    execution_time: 0.05,
    error: null,
  };
}
