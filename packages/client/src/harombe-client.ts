import {
  ApprovalList,
  BatchCountsEvent,
  BatchCreated,
  BatchDecisionResult,
  BatchJobEvent,
  BatchView,
  DecisionResult,
  ErrorBody,
  fieldProblems,
  finishedCount,
  formatProblem,
  HealthBody,
  JobStatusEvent,
  JobView,
  MAX_WAIT_SECONDS,
  OutputEvent,
  SandboxList,
  TOOL_NAMES,
  TOOLS,
  isTerminal,
  type ApprovalStatus,
  type DecisionRequest,
  type SandboxView,
  type SubmitBatchRequest,
  type SubmitJobRequest,
  type ToolInput,
  type ToolName,
  type ToolResult,
  type CodeCreateSandboxParams,
  type CreateSandboxResult,
  WebhookDelivery,
  WebhookDeliveryPage,
  WebhookSecretView,
  WebhookSubscription,
  WebhookSubscriptionList,
  type CreateWebhookRequest,
  type IssueLike,
  type WebhookDeliveryState,
} from '@harombe/core';
import { AbortScope, sleep } from './abort-scope.js';
import { HarombeApiError, isHarombeApiError } from './harombe-api-error.js';
import type { HealthStatus, Schema } from './response-schemas.js';
import { SseParser, type SseMessage } from './sse-parser.js';

export const DEFAULT_TIMEOUT_MS = 70_000;
export const DEFAULT_POLL_SECONDS = 30;
/** The API holds a long-poll for at most this long. */
export const MAX_POLL_SECONDS = MAX_WAIT_SECONDS;
/** Slack on top of a long-poll's window before the request counts as timed out. */
const LONG_POLL_GRACE_MS = 10_000;
/** Shortest gap between two long-polls of one job. */
const MIN_POLL_INTERVAL_MS = 200;
const SNIPPET_CHARS = 200;

export interface HarombeClientOptions {
  /** Root of the API, e.g. `https://fleet.example.com`; a path prefix (`/fleet`) is kept. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>` on every request. */
  apiKey: string;
  /** Default: the global fetch. Inject one for proxies, instrumentation or tests. */
  fetch?: typeof fetch;
  /**
   * Per request, in ms; default 70_000, which covers the API's longest long-poll (60 s). A
   * long-poll always gets at least its window plus 10 s, so a short value never cuts one.
   */
  timeoutMs?: number;
  /** Long-poll window (seconds, at most 60) used by waitForJob and the tool methods; default 30. */
  pollSeconds?: number;
}

export interface RequestOptions {
  /** Aborts the call, which then rejects with the signal's reason. Default: none. */
  signal?: AbortSignal;
}

export interface JobOptions {
  /** The same key (same tenant) answers the same job and never runs it twice: retry-safe. Default: none. */
  idempotency_key?: string;
  /** Runs again after its worker is lost while attempts remain. Default: the API's, 1 (never re-run). */
  max_attempts?: number;
  /** Overall wait for the job to end, submission included, in ms. Default: none (as long as it takes). */
  timeoutMs?: number;
  /** Stops waiting; the job itself keeps going (cancelJob stops it). Default: none. */
  signal?: AbortSignal;
}

export interface WaitOptions {
  /** Overall wait in ms; then a HarombeApiError with code TimeoutError. Default: none. */
  timeoutMs?: number;
  /** Stops waiting (the job keeps going); rejects with the signal's reason. Default: none. */
  signal?: AbortSignal;
}

export interface GetJobOptions extends RequestOptions {
  /** Long-poll: answer when the job ends or after this many seconds (at most 60). Default: at once. */
  wait_seconds?: number;
}

export interface BatchPageOptions extends RequestOptions {
  /** Index of the first job of the page. Default (API): 0. */
  offset?: number;
  /** Jobs per page. Default (API): 100. */
  limit?: number;
}

export interface ListWebhookDeliveriesOptions extends RequestOptions {
  /** Default: every state. `dead`: the deliveries given up on. */
  state?: WebhookDeliveryState;
  /** Default (API): 0. */
  offset?: number;
  /** Default (API): 100. */
  limit?: number;
}

export interface ListApprovalsOptions extends RequestOptions {
  /** Default (API): pending. */
  status?: ApprovalStatus;
  /** Default (API): 100. */
  limit?: number;
}

export interface StreamOptions extends RequestOptions {
  /** Start after this event (the id of the last one received before). Default: from the first. */
  lastEventId?: string;
  /**
   * Reconnections in a row that bring no event before giving up with the last error (a
   * ServiceUnavailable). Default 10.
   */
  maxReconnects?: number;
}

/** One live event of a job (GET /v1/jobs/{job_id}/events). */
export type JobStreamEvent =
  { type: 'status'; id: string; data: JobStatusEvent } | { type: 'stdout' | 'stderr'; id: string; data: OutputEvent };

/** One live event of a batch (GET /v1/batches/{batch_id}/events): a job's end, or the counts (which have no id). */
export type BatchStreamEvent =
  { type: 'job'; id: string; data: BatchJobEvent } | { type: 'counts'; id: undefined; data: BatchCountsEvent };

/** What each tool accepts (defaults not yet applied), from the core catalogue. */
export type ToolInputs = { [T in ToolName]: ToolInput<T> };

interface Call extends RequestOptions {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Seconds the API may hold the answer (long-poll); stretches the request timeout. */
  holdSeconds?: number | undefined;
  /** Default application/json. */
  accept?: string;
  /** Non-2xx statuses whose body is an answer rather than an ErrorBody. */
  answerStatuses?: number[];
  /** Sent besides authorization and accept. */
  headers?: Record<string, string>;
}

/** Progress a deadline's TimeoutError reports. */
interface Seen {
  job?: JobView;
}

/** `code_execute` → `codeExecute`. */
type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

/** The client's method for a tool: its name in camelCase (code_execute: codeExecute). */
export type ToolMethodName<T extends ToolName> = CamelCase<T>;

export function toolMethodName<T extends ToolName>(tool: T): ToolMethodName<T> {
  return tool.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase()) as ToolMethodName<T>;
}

/** A method per tool of the core catalogue, named by toolMethodName: runTool for that tool. */
export type ToolMethods = {
  [T in ToolName as ToolMethodName<T>]: (params: ToolInputs[T], options?: JobOptions) => Promise<ToolResult<T>>;
};

// The tool methods are made from the catalogue (after the class): the interface gives them their types.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type
export interface HarombeClient extends ToolMethods {}

/**
 * Typed client of the Harombe Fleet HTTP API. Every failure is a HarombeApiError, except an
 * abort through a caller's AbortSignal, which rejects with the signal's reason (as fetch does).
 * Answers are checked against the core schemas, so a drift of the contract shows as an
 * InternalError naming the field instead of as an undefined somewhere later.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see the interface above
export class HarombeClient {
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly send: typeof fetch;
  private readonly timeoutMs: number;
  private readonly pollSeconds: number;

  constructor(options: HarombeClientOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new TypeError(`baseUrl must be http(s): ${options.baseUrl}`);
    if (!options.apiKey) throw new TypeError('apiKey is empty');
    this.baseUrl = url.href.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    const custom = options.fetch;
    // Looked up per call: a global fetch replaced later (mocks, instrumentation) is honoured.
    this.send = custom ? (input, init) => custom(input, init) : (input, init) => fetch(input, init);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(this.timeoutMs > 0) || !Number.isFinite(this.timeoutMs))
      throw new RangeError('timeoutMs must be a positive number');
    this.pollSeconds = options.pollSeconds ?? DEFAULT_POLL_SECONDS;
    if (!(this.pollSeconds > 0 && this.pollSeconds <= MAX_POLL_SECONDS)) {
      throw new RangeError(`pollSeconds must be in (0, ${MAX_POLL_SECONDS}]`);
    }
  }

  // ---- Tools: submit, wait for the end, answer the tool's result. ----
  //
  // A job that ended without completing (denied, expired, cancelled, failed) still answers its
  // result: `success: false` and `error` naming why (ApprovalDenied, ApprovalTimeout, Cancelled,
  // WorkerLost, ...). Only transport and contract failures throw.

  /** Any tool by name: what the code* methods do. */
  async runTool<T extends ToolName>(tool: T, params: ToolInputs[T], options: JobOptions = {}): Promise<ToolResult<T>> {
    const job = await this.withDeadline(options, `${tool} job`, async (signal, seen) => {
      // The first long-poll rides on the submission: a quick job costs one round trip.
      const submitted = await this.submitJob(
        {
          tool,
          params,
          idempotency_key: options.idempotency_key,
          max_attempts: options.max_attempts,
          wait_seconds: this.pollSeconds,
        },
        { signal },
      );
      seen.job = submitted;
      return isTerminal(submitted.status) ? submitted : this.pollUntilTerminal(submitted.job_id, signal, seen);
    });
    return this.resultOf(tool, job);
  }

  // ---- Jobs ----

  /** 202 with the job as queued; 200 when `wait_seconds` was given and the job ended within it. */
  async submitJob(request: SubmitJobRequest, options: RequestOptions = {}): Promise<JobView> {
    return this.json(
      { method: 'POST', path: '/v1/jobs', body: request, holdSeconds: request.wait_seconds, signal: options.signal },
      JobView,
    );
  }

  async getJob(jobId: string, options: GetJobOptions = {}): Promise<JobView> {
    return this.json(
      {
        method: 'GET',
        path: `/v1/jobs/${segment(jobId)}`,
        query: { wait_seconds: options.wait_seconds },
        holdSeconds: options.wait_seconds,
        signal: options.signal,
      },
      JobView,
    );
  }

  /** Long-polls until the job ends (any terminal status) and answers it. */
  async waitForJob(jobId: string, options: WaitOptions = {}): Promise<JobView> {
    return this.withDeadline(options, `job ${jobId}`, (signal, seen) => this.pollUntilTerminal(jobId, signal, seen));
  }

  /** Cancels a job that has not ended; a job that had is a HarombeApiError with code Conflict (409). */
  async cancelJob(jobId: string, options: RequestOptions = {}): Promise<JobView> {
    return this.json({ method: 'DELETE', path: `/v1/jobs/${segment(jobId)}`, signal: options.signal }, JobView);
  }

  // ---- Batches ----

  async submitBatch(request: SubmitBatchRequest, options: RequestOptions = {}): Promise<BatchCreated> {
    return this.json({ method: 'POST', path: '/v1/batches', body: request, signal: options.signal }, BatchCreated);
  }

  /** One page of the batch's jobs and its counts; `next_offset` is null on the last page. */
  async getBatch(batchId: string, options: BatchPageOptions = {}): Promise<BatchView> {
    return this.json(
      {
        method: 'GET',
        path: `/v1/batches/${segment(batchId)}`,
        query: { offset: options.offset, limit: options.limit },
        signal: options.signal,
      },
      BatchView,
    );
  }

  /**
   * The batch's jobs that have ended so far, one at a time as the NDJSON answer arrives (never
   * buffered whole). Leaving the loop early closes the download. The request timeout applies
   * to each wait for data, not to the whole stream.
   */
  async *batchResults(batchId: string, options: RequestOptions = {}): AsyncGenerator<JobView, void, undefined> {
    const path = `/v1/batches/${segment(batchId)}/results`;
    const what = `GET ${path}`;
    const { response, scope } = await this.open({
      method: 'GET',
      path,
      accept: 'application/x-ndjson',
      signal: options.signal,
    });
    try {
      if (response.body === null) return;
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let pending = '';
      let lineNumber = 0;
      try {
        for (;;) {
          scope.rearm();
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (error) {
            throw this.failure(error, scope, what);
          }
          // The timeout measures the server's silence, not the time the caller spends per job.
          scope.pause();
          if (chunk.done) break;
          const lines = (pending + decoder.decode(chunk.value as Uint8Array, { stream: true })).split('\n');
          pending = lines.pop() ?? '';
          for (const line of lines) {
            lineNumber += 1;
            if (line.trim() !== '') yield this.decode(line, response.status, `${what} line ${lineNumber}`, JobView);
          }
        }
        pending += decoder.decode();
        if (pending.trim() !== '')
          yield this.decode(pending, response.status, `${what} line ${lineNumber + 1}`, JobView);
      } finally {
        // Closes the connection when the caller left the loop early; a no-op at the end.
        await reader.cancel().catch(() => undefined);
      }
    } finally {
      scope.dispose();
    }
  }

  /**
   * The job's live events, oldest first: every status change (the last one, a terminal status,
   * carries the result) and the program's output as it writes it. Ends after the job's end
   * event. A dropped connection is resumed where it stopped (Last-Event-ID), on whichever API
   * instance answers, with nothing lost or repeated; so is a silent one (no heartbeat within the
   * request timeout). Leaving the loop early closes the connection.
   */
  async *streamJob(jobId: string, options: StreamOptions = {}): AsyncGenerator<JobStreamEvent, void, undefined> {
    yield* this.streamEvents(`/v1/jobs/${segment(jobId)}/events`, options, decodeJobEvent, (event) =>
      Boolean(event.type === 'status' && isTerminal(event.data.status)),
    );
  }

  /**
   * The batch's live events: each job's end (with the counts right after it), and the counts
   * whenever they changed otherwise. Ends after the end event of the batch's last job; resumed as
   * streamJob's.
   */
  async *streamBatch(batchId: string, options: StreamOptions = {}): AsyncGenerator<BatchStreamEvent, void, undefined> {
    yield* this.streamEvents(
      `/v1/batches/${segment(batchId)}/events`,
      options,
      decodeBatchEvent,
      // Only a job's end: every job's end is told, and the counts alone could run ahead of one.
      (event) => event.type === 'job' && finishedCount(event.data.counts) >= event.data.total,
    );
  }

  /** Decides every pending approval of the batch. */
  async approveBatch(batchId: string, reason?: string, options: RequestOptions = {}): Promise<BatchDecisionResult> {
    return this.decideBatch(batchId, 'approve', reason, options);
  }

  async denyBatch(batchId: string, reason?: string, options: RequestOptions = {}): Promise<BatchDecisionResult> {
    return this.decideBatch(batchId, 'deny', reason, options);
  }

  // ---- Approvals ----

  /** Jobs whose `approval` is set, pending ones by default. */
  async listApprovals(options: ListApprovalsOptions = {}): Promise<JobView[]> {
    const list = await this.json(
      {
        method: 'GET',
        path: '/v1/approvals',
        query: { status: options.status, limit: options.limit },
        signal: options.signal,
      },
      ApprovalList,
    );
    return list.approvals;
  }

  /**
   * Approves a pending approval. One already decided or expired is a HarombeApiError with code
   * AlreadyDecided (409, `details.approval` holds the standing decision); approving one's own
   * job is SelfApprovalForbidden (403).
   */
  async approve(approvalId: string, reason?: string, options: RequestOptions = {}): Promise<DecisionResult> {
    return this.decide(approvalId, 'approve', reason, options);
  }

  /** Denies a pending approval; errors as approve(). */
  async deny(approvalId: string, reason?: string, options: RequestOptions = {}): Promise<DecisionResult> {
    return this.decide(approvalId, 'deny', reason, options);
  }

  // ---- Sandboxes ----

  async listSandboxes(options: RequestOptions = {}): Promise<SandboxView[]> {
    return (await this.json({ method: 'GET', path: '/v1/sandboxes', signal: options.signal }, SandboxList)).sandboxes;
  }

  /**
   * Makes a kept sandbox up front (POST /v1/sandboxes) and answers once it exists: a
   * code_create_sandbox job, approved like any other (network-enabled ones wait for a person).
   * A refusal is a result with `success: false` (QuotaExceeded, CapacityExceeded, ...); a
   * refusal at the door is a HarombeApiError with the same code.
   */
  async createSandbox(params: CodeCreateSandboxParams, options: JobOptions = {}): Promise<CreateSandboxResult> {
    const job = await this.withDeadline(options, 'sandbox creation', async (signal, seen) => {
      const submitted = await this.json(
        {
          method: 'POST',
          path: '/v1/sandboxes',
          body: { ...params, idempotency_key: options.idempotency_key, wait_seconds: this.pollSeconds },
          holdSeconds: this.pollSeconds,
          signal,
        },
        JobView,
      );
      seen.job = submitted;
      return isTerminal(submitted.status) ? submitted : this.pollUntilTerminal(submitted.job_id, signal, seen);
    });
    return this.resultOf('code_create_sandbox', job);
  }

  /** Runs a code_destroy_sandbox job and answers it once it ran. */
  async destroySandbox(sandboxId: string, options: RequestOptions = {}): Promise<JobView> {
    return this.json(
      { method: 'DELETE', path: `/v1/sandboxes/${segment(sandboxId)}`, signal: options.signal },
      JobView,
    );
  }

  // ---- Webhooks (scope admin); verify deliveries with verifyWebhook. ----

  /** Subscribes the tenant; a URL deliveries may not reach is WebhookTargetRefused (400). */
  async createWebhook(request: CreateWebhookRequest, options: RequestOptions = {}): Promise<WebhookSubscription> {
    return this.json(
      { method: 'POST', path: '/v1/webhooks', body: request, signal: options.signal },
      WebhookSubscription,
    );
  }

  async listWebhooks(options: RequestOptions = {}): Promise<WebhookSubscription[]> {
    const list = await this.json(
      { method: 'GET', path: '/v1/webhooks', signal: options.signal },
      WebhookSubscriptionList,
    );
    return list.subscriptions;
  }

  async deleteWebhook(subscriptionId: string, options: RequestOptions = {}): Promise<WebhookSubscription> {
    return this.json(
      { method: 'DELETE', path: `/v1/webhooks/${segment(subscriptionId)}`, signal: options.signal },
      WebhookSubscription,
    );
  }

  /** The secret deliveries are signed with (`secret` is null when the operator configured it). */
  async getWebhookSecret(options: RequestOptions = {}): Promise<WebhookSecretView> {
    return this.json({ method: 'GET', path: '/v1/webhooks/secret', signal: options.signal }, WebhookSecretView);
  }

  /** A new secret; the previous one still signs (a second v1) for a day. */
  async rotateWebhookSecret(options: RequestOptions = {}): Promise<WebhookSecretView> {
    return this.json({ method: 'POST', path: '/v1/webhooks/secret/rotate', signal: options.signal }, WebhookSecretView);
  }

  /** The tenant's deliveries, newest first; `state: 'dead'` lists those given up on. */
  async listWebhookDeliveries(options: ListWebhookDeliveriesOptions = {}): Promise<WebhookDeliveryPage> {
    return this.json(
      {
        method: 'GET',
        path: '/v1/webhooks/deliveries',
        query: { state: options.state, offset: options.offset, limit: options.limit },
        signal: options.signal,
      },
      WebhookDeliveryPage,
    );
  }

  async getWebhookDelivery(deliveryId: string, options: RequestOptions = {}): Promise<WebhookDelivery> {
    return this.json(
      { method: 'GET', path: `/v1/webhooks/deliveries/${segment(deliveryId)}`, signal: options.signal },
      WebhookDelivery,
    );
  }

  /** Tries a dead delivery again from scratch; one that is not dead is Conflict (409). */
  async retryWebhookDelivery(deliveryId: string, options: RequestOptions = {}): Promise<WebhookDelivery> {
    return this.json(
      { method: 'POST', path: `/v1/webhooks/deliveries/${segment(deliveryId)}/retry`, signal: options.signal },
      WebhookDelivery,
    );
  }

  // ---- Health: a 503 is an answer (`ok: false`), not an error. ----

  async health(options: RequestOptions = {}): Promise<HealthStatus> {
    return this.probe('/healthz', options);
  }

  async ready(options: RequestOptions = {}): Promise<HealthStatus> {
    return this.probe('/readyz', options);
  }

  // ---- Internals ----

  private async decide(
    approvalId: string,
    verb: 'approve' | 'deny',
    reason: string | undefined,
    options: RequestOptions,
  ): Promise<DecisionResult> {
    const body: DecisionRequest = { reason };
    return this.json(
      { method: 'POST', path: `/v1/approvals/${segment(approvalId)}/${verb}`, body, signal: options.signal },
      DecisionResult,
    );
  }

  private async decideBatch(
    batchId: string,
    verb: 'approve' | 'deny',
    reason: string | undefined,
    options: RequestOptions,
  ): Promise<BatchDecisionResult> {
    const body: DecisionRequest = { reason };
    return this.json(
      { method: 'POST', path: `/v1/batches/${segment(batchId)}/${verb}`, body, signal: options.signal },
      BatchDecisionResult,
    );
  }

  private async probe(path: string, options: RequestOptions): Promise<HealthStatus> {
    const what = `GET ${path}`;
    const { response, scope } = await this.open({ method: 'GET', path, signal: options.signal, answerStatuses: [503] });
    let text: string;
    try {
      text = await this.readText(response, scope, what);
    } finally {
      scope.dispose();
    }
    // A 503 from a proxy in front of the API is an outage, not the API's health report.
    if (!response.ok && !HealthBody.safeParse(parseJson(text)).success) {
      throw errorFromAnswer(response.status, text, what);
    }
    return { ok: response.ok, ...this.decode(text, response.status, what, HealthBody) };
  }

  /** Server-Sent Events of `path`, decoded, resumed after drops, until `isLast` holds or the server has no more (204). */
  private async *streamEvents<E extends { id: string | undefined }>(
    path: string,
    options: StreamOptions,
    decode: (message: SseMessage, what: string) => E | undefined,
    isLast: (event: E) => boolean,
  ): AsyncGenerator<E, void, undefined> {
    const what = `GET ${path}`;
    const maxReconnects = options.maxReconnects ?? 10;
    let last = options.lastEventId;
    let failures = 0;
    let retryMs = 1000;
    for (;;) {
      let lastError: unknown;
      try {
        const { response, scope } = await this.open({
          method: 'GET',
          path,
          accept: 'text/event-stream',
          headers: last ? { 'last-event-id': last } : {},
          signal: options.signal,
        });
        try {
          // 204: the job (batch) has ended and every event was received.
          if (response.status === 204 || response.body === null) return;
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          const parser = new SseParser();
          try {
            for (;;) {
              scope.rearm();
              let chunk: Awaited<ReturnType<typeof reader.read>>;
              try {
                chunk = await reader.read();
              } catch (error) {
                throw this.failure(error, scope, what);
              }
              // A heartbeat or an event within the timeout: the caller's time is not the server's silence.
              scope.pause();
              if (chunk.done) break;
              for (const message of parser.push(decoder.decode(chunk.value as Uint8Array, { stream: true }))) {
                const event = decode(message, what);
                if (!event) continue;
                if (event.id !== undefined) last = event.id;
                failures = 0;
                yield event;
                if (isLast(event)) return;
              }
            }
          } finally {
            retryMs = parser.retryMs ?? retryMs;
            await reader.cancel().catch(() => undefined);
          }
        } finally {
          scope.dispose();
        }
      } catch (error) {
        // The caller's abort, an error answer, a broken contract: not something to retry.
        if (options.signal?.aborted || !isRetryable(error)) throw error;
        lastError = error;
      }
      failures += 1;
      if (failures > maxReconnects) {
        throw isHarombeApiError(lastError)
          ? lastError
          : new HarombeApiError({
              status: 0,
              code: 'ServiceUnavailable',
              message: `${what}: the stream ended ${failures} times in a row without an event`,
            });
      }
      await sleep(Math.min(retryMs * failures, 10_000), options.signal);
    }
  }

  private async withDeadline<T>(
    options: WaitOptions,
    label: string,
    work: (signal: AbortSignal, seen: Seen) => Promise<T>,
  ): Promise<T> {
    const seen: Seen = {};
    const scope = new AbortScope(options.signal, options.timeoutMs, () => {
      const job = seen.job;
      return new HarombeApiError({
        status: 0,
        code: 'TimeoutError',
        message: `${job ? `job ${job.job_id}` : label} did not end within ${options.timeoutMs} ms${job ? ` (last seen ${job.status})` : ''}`,
        details: job ? { job_id: job.job_id, status: job.status } : undefined,
      });
    });
    try {
      return await work(scope.signal, seen);
    } finally {
      scope.dispose();
    }
  }

  private async pollUntilTerminal(jobId: string, signal: AbortSignal, seen: Seen): Promise<JobView> {
    for (;;) {
      const started = Date.now();
      const job = await this.getJob(jobId, { wait_seconds: this.pollSeconds, signal });
      seen.job = job;
      if (isTerminal(job.status)) return job;
      // A server or proxy that answers long-polls at once must not turn this into a busy loop.
      const rest = MIN_POLL_INTERVAL_MS - (Date.now() - started);
      if (rest > 0) await sleep(rest, signal);
    }
  }

  private resultOf<T extends ToolName>(tool: T, job: JobView): ToolResult<T> {
    if (job.result === null) {
      throw new HarombeApiError({
        status: 200,
        code: job.error?.code ?? 'InternalError',
        message: `job ${job.job_id} ended ${job.status} without a result${job.error ? `: ${job.error.message}` : ''}`,
        details: { job_id: job.job_id, status: job.status },
      });
    }
    const schema = TOOLS[tool].result as unknown as Schema<ToolResult<T>>;
    const parsed = schema.safeParse(job.result);
    if (!parsed.success) {
      throw contractError(200, `result of job ${job.job_id} (${tool})`, parsed.error.issues);
    }
    return parsed.data;
  }

  private async json<T>(call: Call, schema: Schema<T>): Promise<T> {
    const what = `${call.method} ${call.path}`;
    const { response, scope } = await this.open(call);
    try {
      return this.decode(await this.readText(response, scope, what), response.status, what, schema);
    } finally {
      scope.dispose();
    }
  }

  /** Sends the request and answers once the headers are in; an error status throws. */
  private async open(call: Call): Promise<{ response: Response; scope: AbortScope }> {
    const what = `${call.method} ${call.path}`;
    const timeoutMs =
      call.holdSeconds === undefined
        ? this.timeoutMs
        : Math.max(this.timeoutMs, call.holdSeconds * 1000 + LONG_POLL_GRACE_MS);
    const scope = new AbortScope(
      call.signal,
      timeoutMs,
      () =>
        new HarombeApiError({ status: 0, code: 'TimeoutError', message: `${what}: no answer within ${timeoutMs} ms` }),
    );
    const url = new URL(this.baseUrl + call.path);
    for (const [key, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {
      ...call.headers,
      authorization: `Bearer ${this.apiKey}`,
      accept: call.accept ?? 'application/json',
    };
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await this.send(url, {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal: scope.signal,
      });
    } catch (error) {
      scope.dispose();
      throw this.failure(error, scope, what);
    }
    if (response.ok || call.answerStatuses?.includes(response.status)) return { response, scope };
    try {
      throw errorFromAnswer(response.status, await this.readText(response, scope, what), what);
    } finally {
      scope.dispose();
    }
  }

  private async readText(response: Response, scope: AbortScope, what: string): Promise<string> {
    try {
      return await response.text();
    } catch (error) {
      throw this.failure(error, scope, what);
    }
  }

  /** What a failed fetch or body read becomes: the abort's reason, or ServiceUnavailable. */
  private failure(error: unknown, scope: AbortScope, what: string): unknown {
    if (scope.signal.aborted) return scope.signal.reason;
    if (error instanceof HarombeApiError) return error;
    return new HarombeApiError({
      status: 0,
      code: 'ServiceUnavailable',
      message: `${what}: cannot reach ${this.baseUrl}: ${describeNetworkError(error)}`,
      cause: error,
    });
  }

  private decode<T>(text: string, status: number, what: string, schema: Schema<T>): T {
    const data = parseJson(text);
    if (data === NOT_JSON) {
      throw new HarombeApiError({
        status,
        code: 'InternalError',
        message: `${what}: HTTP ${status} answer is not JSON: ${snippet(text)}`,
        details: { body: snippet(text) },
      });
    }
    const parsed = schema.safeParse(data);
    if (!parsed.success) throw contractError(status, what, parsed.error.issues);
    return parsed.data;
  }
}

// The tool methods (ToolMethods), one per tool of the catalogue.
for (const tool of TOOL_NAMES) {
  Object.defineProperty(HarombeClient.prototype, toolMethodName(tool), {
    value: function (this: HarombeClient, params: ToolInputs[typeof tool], options?: JobOptions) {
      return this.runTool(tool, params, options);
    },
    writable: true,
    configurable: true,
  });
}

/** A stream's failure worth reconnecting for: the API unreachable or unavailable, or silent too long. */
function isRetryable(error: unknown): boolean {
  return (
    isHarombeApiError(error, 'ServiceUnavailable') ||
    isHarombeApiError(error, 'TimeoutError') ||
    (isHarombeApiError(error) && error.status === 503)
  );
}

function eventData<T>(message: SseMessage, what: string, schema: Schema<T>): T {
  const data = parseJson(message.data);
  const where = `${what} event ${message.id ?? message.event}`;
  if (data === NOT_JSON) {
    throw new HarombeApiError({ status: 200, code: 'InternalError', message: `${where}: data is not JSON` });
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw contractError(200, where, parsed.error.issues);
  return parsed.data;
}

/** A job's event, checked against the contract; undefined for events this client does not know. */
function decodeJobEvent(message: SseMessage, what: string): JobStreamEvent | undefined {
  const id = message.id ?? '';
  switch (message.event) {
    case 'status':
      return { type: 'status', id, data: eventData(message, what, JobStatusEvent) };
    case 'stdout':
    case 'stderr':
      return { type: message.event, id, data: eventData(message, what, OutputEvent) };
    default:
      return undefined;
  }
}

function decodeBatchEvent(message: SseMessage, what: string): BatchStreamEvent | undefined {
  switch (message.event) {
    case 'job':
      return { type: 'job', id: message.id ?? '', data: eventData(message, what, BatchJobEvent) };
    case 'counts':
      return { type: 'counts', id: undefined, data: eventData(message, what, BatchCountsEvent) };
    default:
      return undefined;
  }
}

const NOT_JSON = Symbol('not JSON');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty)';
  return flat.length > SNIPPET_CHARS ? `${flat.slice(0, SNIPPET_CHARS)}…` : flat;
}

/** An error status's answer: its ErrorBody, or an InternalError quoting what came instead. */
function errorFromAnswer(status: number, text: string, what: string): HarombeApiError {
  const parsed = ErrorBody.safeParse(parseJson(text));
  if (parsed.success) {
    const { code, message, details } = parsed.data.error;
    return new HarombeApiError({ status, code, message, details });
  }
  return new HarombeApiError({
    status,
    code: 'InternalError',
    message: `${what}: HTTP ${status} with an answer that is not an error body: ${snippet(text)}`,
    details: { body: snippet(text) },
  });
}

function contractError(status: number, what: string, issues: ReadonlyArray<IssueLike>): HarombeApiError {
  const listed = fieldProblems(issues, { whole: '(root)' }).map(formatProblem);
  return new HarombeApiError({
    status,
    code: 'InternalError',
    message: `${what}: answer does not match the API contract: ${listed.slice(0, 5).join('; ')}${listed.length > 5 ? '; …' : ''}`,
    details: { issues: listed },
  });
}

/** fetch's own message is a bare "fetch failed"; the cause names the reason (ECONNREFUSED ...). */
function describeNetworkError(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** One URL path segment; `.` and `..` would be resolved away by URL, so they are refused. */
function segment(value: string): string {
  if (value === '' || value === '.' || value === '..') {
    throw new HarombeApiError({ status: 0, code: 'InvalidArgument', message: `not an id: "${value}"` });
  }
  return encodeURIComponent(value);
}
