import {
  isTerminal,
  JOB_STATUSES,
  JobView,
  type ExecutionResult,
  type JobStatus,
  type JobStatusEvent,
  type JobTransition,
} from '@harombe/core';

/**
 * A stand-in for the fleet's HTTP API, as a fetch function for HarombeClient: enough of the
 * routes for exec's and submit's logic (approval waits, live events, idempotent batches,
 * resuming). It is not the fleet: the end-to-end tests against a real one are elsewhere.
 */

let sequence = 0;
export function hexId(prefix: string, digits = 24): string {
  sequence += 1;
  return `${prefix}-${sequence.toString(16).padStart(digits, '0')}`;
}

export function executionResult(overrides: Partial<ExecutionResult> = {}): ExecutionResult {
  return {
    success: true,
    sandbox_id: null,
    sandbox_kept: false,
    stdout: '',
    stderr: '',
    exit_code: 0,
    execution_time: 0.1,
    error: null,
    ...overrides,
  };
}

/** A valid JobView (parsed, so it follows the schema of the core package as it is now). */
export function jobView(overrides: Partial<JobView> = {}): JobView {
  return JobView.parse({
    worker_id: null,
    job_id: hexId('job'),
    tool: 'code_execute',
    params: { language: 'python', code: 'print(1)' },
    status: 'queued',
    risk: 'LOW',
    risk_reason: 'default rule',
    risk_matched: null,
    created_at: '2030-01-01T00:00:00.000Z',
    started_at: null,
    finished_at: null,
    batch_id: null,
    attempts: 0,
    max_attempts: 1,
    approval: null,
    result: null,
    error: null,
    ...overrides,
  });
}

export function awaitingApproval(job: JobView, expires = '2030-01-01T00:10:00.000Z'): JobView {
  return {
    ...job,
    status: 'awaiting_approval',
    risk: 'HIGH',
    risk_reason: 'network access requested',
    approval: {
      approval_id: hexId('approval'),
      status: 'pending',
      risk: 'HIGH',
      expires_at: expires,
      decided_by: null,
      decided_at: null,
      reason: null,
      channel: null,
    },
  };
}

interface Recorded {
  method: string;
  path: string;
  body: unknown;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

interface FakeEvent {
  event: string;
  data: unknown;
}

/**
 * A text/event-stream answer of `events` (ids 1-0, 2-0, …), closed after them when `close`,
 * else held open until the request is aborted.
 */
function eventStream(events: FakeEvent[], close: boolean, signal: AbortSignal | null | undefined): Response {
  const text = events.map((e, i) => `id: ${i + 1}-0\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`).join('');
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(`retry: 10\n\n${text}`));
      if (close) controller.close();
      else signal?.addEventListener('abort', () => controller.error(signal.reason), { once: true });
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}

const TRANSITION_TO: Partial<Record<JobStatus, JobTransition>> = {
  awaiting_approval: 'submit',
  running: 'start',
  completed: 'complete',
  denied: 'deny',
  expired: 'expire',
  cancelled: 'cancel',
  failed: 'fail',
};

export class FakeApi {
  readonly requests: Recorded[] = [];
  /**
   * exec: what POST /v1/jobs answers, then each GET /v1/jobs/:id in turn (the last one repeats).
   * GET /v1/jobs/:id/events tells each change of status or approval along it, `liveOutput` before
   * the last, and closes when the last has ended (else stays open).
   */
  jobScript: JobView[] = [];
  /** exec: the output events of the job's stream. */
  liveOutput: { stream: 'stdout' | 'stderr'; text: string }[] = [];
  private scriptAt = 0;
  /** Batches: how each submitted job ends. */
  outcome: (
    job: { tool: string; params: Record<string, unknown> },
    index: number,
  ) => Pick<JobView, 'status' | 'result'> = () => ({
    status: 'completed',
    result: executionResult({ stdout: 'ok\n' }),
  });
  /** GET /v1/batches/:id answers "still running" this many times first. */
  pollsBeforeDone = 1;
  /** POST /v1/batches fails with 503 for these submission numbers (1-based). */
  failBatchSubmissions = new Set<number>();
  readonly batches = new Map<string, { jobs: JobView[]; polls: number }>();
  readonly batchByKey = new Map<string, string>();
  private batchSubmissions = 0;

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? 'GET';
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
    this.requests.push({ method, path: url.pathname, body });
    const parts = url.pathname.split('/').filter(Boolean);
    if (method === 'POST' && url.pathname === '/v1/jobs') return json(202, this.scripted());
    if (parts[1] === 'jobs' && parts[2] && parts[3] === 'events') return this.jobEvents(init?.signal);
    if (parts[1] === 'jobs' && parts[2]) {
      if (method === 'DELETE') {
        const last = this.scripted(false);
        return json(200, { ...last, status: 'cancelled', error: { code: 'Cancelled', message: 'cancelled by test' } });
      }
      return json(200, this.scripted());
    }
    if (method === 'POST' && url.pathname === '/v1/batches')
      return this.submitBatch(
        body as { jobs: Array<{ tool: string; params: Record<string, unknown> }>; idempotency_key?: string },
      );
    if (method === 'GET' && parts[1] === 'batches' && parts[2]) {
      const batch = this.batches.get(parts[2]);
      if (!batch) return json(404, { error: { code: 'NotFound', message: `batch ${parts[2]} not found` } });
      if (parts[3] === 'events') return this.batchEvents(parts[2], batch.jobs);
      if (parts[3] === 'results') {
        const text = batch.jobs.map((job) => `${JSON.stringify(job)}\n`).join('');
        return new Response(text, { status: 200, headers: { 'content-type': 'application/x-ndjson' } });
      }
      return json(200, this.batchView(parts[2], batch));
    }
    return json(404, { error: { code: 'NotFound', message: `no route ${method} ${url.pathname}` } });
  };

  private jobEvents(signal: AbortSignal | null | undefined): Response {
    const events: FakeEvent[] = [];
    let previous: JobView | undefined;
    for (const job of this.jobScript) {
      if (previous && previous.status === job.status && previous.approval?.status === job.approval?.status) continue;
      const fromQueued: Partial<Record<JobStatus, JobTransition>> = { awaiting_approval: 'approve', running: 'retry' };
      const transition =
        job.status === 'queued' ? (fromQueued[previous?.status ?? 'queued'] ?? 'submit') : TRANSITION_TO[job.status];
      const terminal = isTerminal(job.status);
      if (terminal) for (const out of this.liveOutput) events.push({ event: out.stream, data: { text: out.text } });
      const data: JobStatusEvent = {
        job_id: job.job_id,
        status: job.status,
        transition: transition ?? 'submit',
        at: '2030-01-01T00:00:01.000Z',
        approval: job.approval,
        ...(previous ? {} : { risk: job.risk, risk_reason: job.risk_reason, risk_matched: job.risk_matched }),
        ...(terminal ? { result: job.result, error: job.error } : {}),
      };
      events.push({ event: 'status', data });
      previous = job;
    }
    const ended = previous !== undefined && isTerminal(previous.status);
    if (!ended) for (const out of this.liveOutput) events.push({ event: out.stream, data: { text: out.text } });
    return eventStream(events, ended, signal);
  }

  /** The batch's counts with every job queued, then each job's end with the counts after it. */
  private batchEvents(batchId: string, jobs: JobView[]): Response {
    const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
    counts.queued = jobs.length;
    const events: FakeEvent[] = [
      { event: 'counts', data: { batch_id: batchId, total: jobs.length, counts: { ...counts } } },
    ];
    for (const job of jobs) {
      counts.queued -= 1;
      counts[job.status] += 1;
      events.push({
        event: 'job',
        data: {
          batch_id: batchId,
          total: jobs.length,
          counts: { ...counts },
          job_id: job.job_id,
          status: job.status,
          success: typeof job.result?.success === 'boolean' ? job.result.success : null,
          error: job.error,
        },
      });
    }
    return eventStream(events, true, undefined);
  }

  private scripted(advance = true): JobView {
    const job = this.jobScript[Math.min(this.scriptAt, this.jobScript.length - 1)];
    if (!job) throw new Error('jobScript is empty');
    if (advance) this.scriptAt += 1;
    return job;
  }

  private submitBatch(request: {
    jobs: Array<{ tool: string; params: Record<string, unknown> }>;
    idempotency_key?: string;
  }): Response {
    this.batchSubmissions += 1;
    if (this.failBatchSubmissions.has(this.batchSubmissions)) {
      return json(503, { error: { code: 'ServiceUnavailable', message: 'try again' } });
    }
    const known = request.idempotency_key ? this.batchByKey.get(request.idempotency_key) : undefined;
    if (known)
      return json(202, {
        batch_id: known,
        job_ids: (this.batches.get(known) as { jobs: JobView[] }).jobs.map((job) => job.job_id),
      });
    const batchId = hexId('batch');
    const jobs = request.jobs.map((entry, index) =>
      jobView({
        tool: entry.tool as JobView['tool'],
        params: entry.params,
        batch_id: batchId,
        ...this.outcome(entry, index),
      }),
    );
    this.batches.set(batchId, { jobs, polls: 0 });
    if (request.idempotency_key) this.batchByKey.set(request.idempotency_key, batchId);
    return json(202, { batch_id: batchId, job_ids: jobs.map((job) => job.job_id) });
  }

  private batchView(batchId: string, batch: { jobs: JobView[]; polls: number }): unknown {
    batch.polls += 1;
    const done = batch.polls > this.pollsBeforeDone;
    const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
    for (const job of batch.jobs) {
      const status = done ? job.status : 'queued';
      counts[status] += 1;
    }
    return {
      batch_id: batchId,
      created_at: '2030-01-01T00:00:00.000Z',
      total: batch.jobs.length,
      counts,
      jobs: batch.jobs.slice(0, 1),
      next_offset: batch.jobs.length > 1 ? 1 : null,
    };
  }

  /** The POST /v1/batches requests seen, by idempotency key. */
  batchKeysSubmitted(): string[] {
    return this.requests
      .filter((r) => r.method === 'POST' && r.path === '/v1/batches')
      .map((r) => (r.body as { idempotency_key: string }).idempotency_key);
  }
}
