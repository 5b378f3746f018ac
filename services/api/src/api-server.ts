import { Readable } from 'node:stream';
import fastifySwagger from '@fastify/swagger';
import {
  BatchCreated,
  BatchId,
  BatchView,
  DecisionRequest,
  DecisionResult,
  ErrorBody,
  HarombeError,
  isHarombeError,
  isTerminal,
  JobId,
  JobStatus,
  JobView,
  SandboxId,
  SandboxView,
  CreateSandboxRequest,
  SubmitBatchRequest,
  SubmitJobRequest,
  ApprovalId,
  AuditPage,
  type Clock,
} from '@harombe/core';
import {
  toJobView,
  type AuditTrail,
  type BatchStore,
  type JobService,
  type JobStore,
  type Principal,
  type SandboxDirectory,
  type WorkerRegistry,
} from '@harombe/queue';
import { registerOpsRoutes, type JobMetrics, type ReadinessCheck } from '@harombe/service-kit';
import type { Webhooks } from '@harombe/webhooks';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import { requireScope, sha256Hex, type ApiKeyring } from './api-keyring.js';
import { batchResultLines } from './batch-results.js';
import { registerEventRoutes, type EventRoutesOptions } from './event-routes.js';
import { toErrorResponse } from './http-errors.js';
import { RefusedAuthRecorder } from './refused-auth-recorder.js';
import { registerWebhookRoutes } from './webhook-routes.js';

export interface ApiServerOptions {
  service: JobService;
  store: JobStore;
  batches: BatchStore;
  sandboxes: SandboxDirectory;
  /** Live workers: sandboxes of a worker that is gone are not listed. */
  workers: WorkerRegistry;
  keyring: ApiKeyring;
  metrics: Registry;
  /** The audit trail `GET /v1/audit` reads. Default: no such route. */
  audit?: AuditTrail;
  /** Counts refused requests by error code (harombe_errors_total). Default: not counted. */
  jobMetrics?: JobMetrics;
  readiness: Record<string, ReadinessCheck>;
  clock: Clock;
  logger: Logger;
  /** Largest request body, in bytes. Default 2 MiB (api.max_body_bytes). */
  maxBodyBytes?: number;
  /** Subscriptions, the signing secret and deliveries under /v1/webhooks. Default: no such routes. */
  webhooks?: Webhooks;
  /** The live event routes' streams and settings (see EventRoutesOptions). Default: no such routes. */
  events?: Pick<EventRoutesOptions, 'stream' | 'notifier' | 'heartbeatMs' | 'stallMs' | 'pageSize'>;
}

/** The default of api.max_body_bytes. */
const DEFAULT_BODY_BYTES = 2 * 1_048_576;

const WaitQuery = z.strictObject({ wait_seconds: z.coerce.number().min(0).max(60).optional() });
const PageQuery = z.strictObject({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const ApprovalsQuery = z.strictObject({
  status: z.literal('pending').default('pending'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const AuditQuery = z.strictObject({
  after: z
    .string()
    .regex(/^\d+-\d+$/, 'a stream id such as 1700000000000-0 (the next_after of the page before)')
    .optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  job_id: JobId.optional(),
});
const errors = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  413: ErrorBody,
  429: ErrorBody,
  503: ErrorBody,
};
const secured = [{ bearer: [] }];

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export type ApiServer = Awaited<ReturnType<typeof buildApiServer>>;

/** The producer API over the job service: routes, auth, errors, OpenAPI. No state of its own. */
export async function buildApiServer(options: ApiServerOptions) {
  const bodyLimit = options.maxBodyBytes ?? DEFAULT_BODY_BYTES;
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit,
    // One log line per job event is ours to write; per-request lines would drown them.
    logController: new LogController({ disableRequestLogging: true }),
    // Hostile inputs: no prototype pollution through JSON bodies.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  }).withTypeProvider<ZodTypeProvider>();
  // A client that asks before sending a large body (Expect: 100-continue, as curl does) hears
  // 413 at once instead of sending megabytes that would be refused.
  app.server.on('checkContinue', (request, response) => {
    if (Number(request.headers['content-length'] ?? 0) > bodyLimit) {
      response.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
      response.end(
        JSON.stringify({
          error: {
            code: 'PayloadTooLarge',
            message: `the request body is larger than ${bodyLimit} bytes (api.max_body_bytes)`,
            details: { max_bytes: bodyLimit },
          },
        }),
      );
      return;
    }
    response.writeContinue();
    app.server.emit('request', request, response);
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const requests = new Counter({
    name: 'harombe_api_requests_total',
    help: 'API requests by route and status',
    labelNames: ['route', 'status'],
    registers: [options.metrics],
  });

  app.setErrorHandler((error, request, reply) => {
    const { status, body } = toErrorResponse(error, bodyLimit);
    options.jobMetrics?.error(body.error.code);
    // CapacityExceeded and StoreFull are answers, not faults (the job service logs a full store).
    if (status >= 500 && !(isHarombeError(error) && ['CapacityExceeded', 'StoreFull'].includes(error.code)))
      request.log.error({ err: error }, 'request failed');
    // Refusals that pass with time say when to ask again.
    const retryAfter = body.error.details?.retry_after_seconds;
    if (typeof retryAfter === 'number') void reply.header('retry-after', String(Math.ceil(retryAfter)));
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: { code: 'NotFound', message: `no route ${request.method} ${request.url.split('?')[0]}` } }),
  );
  app.addHook('onResponse', async (request, reply) => {
    requests.inc({ route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'Harombe Fleet API',
        version: '1.0.0',
        description: 'Runs code in gVisor sandboxes across a fleet, with risk-based human approval.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
  });
  app.get('/openapi.json', { schema: { hide: true } as never }, async () => app.swagger());
  registerOpsRoutes(app as unknown as FastifyInstance, { registry: options.metrics, readiness: options.readiness });

  const refusedAuth = new RefusedAuthRecorder({
    logger: options.logger,
    ...(options.audit ? { audit: options.audit } : {}),
  });
  app.addHook('onClose', async () => refusedAuth.close());
  const auth = (request: FastifyRequest): Principal => {
    if (request.principal) return request.principal;
    try {
      request.principal = options.keyring.authenticate(request.headers.authorization);
      return request.principal;
    } catch (error) {
      const key = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
      refusedAuth.refused({
        address: request.ip,
        method: request.method,
        route: request.routeOptions.url ?? request.url.split('?')[0] ?? '',
        reason: key ? 'unknown_key' : 'missing_or_malformed',
        key_sha256_prefix: key ? sha256Hex(key).slice(0, 12) : null,
      });
      throw error;
    }
  };
  const { service } = options;

  app.post(
    '/v1/jobs',
    {
      schema: {
        summary: 'Submit a job (one tool call)',
        security: secured,
        body: SubmitJobRequest,
        response: { 200: JobView, 202: JobView, ...errors },
      },
    },
    async (request, reply) => {
      const principal = auth(request);
      requireScope(principal, 'submit');
      const job = await service.submit(principal, request.body);
      return reply.code(isTerminal(job.status) && request.body.wait_seconds ? 200 : 202).send(job);
    },
  );

  app.get(
    '/v1/jobs/:job_id',
    {
      schema: {
        summary: 'A job, its approval and its result; long-polls with wait_seconds',
        security: secured,
        params: z.object({ job_id: JobId }),
        querystring: WaitQuery,
        response: { 200: JobView, ...errors },
      },
    },
    async (request) => service.wait(auth(request), request.params.job_id, request.query.wait_seconds ?? 0),
  );

  app.delete(
    '/v1/jobs/:job_id',
    {
      schema: {
        summary: 'Cancel a job (a running one is killed)',
        security: secured,
        params: z.object({ job_id: JobId }),
        response: { 200: JobView, ...errors },
      },
    },
    async (request) => {
      const principal = auth(request);
      requireScope(principal, 'submit');
      return service.cancel(principal, request.params.job_id);
    },
  );

  app.post(
    '/v1/batches',
    {
      schema: {
        summary: 'Submit up to 10,000 jobs at once',
        security: secured,
        body: SubmitBatchRequest,
        response: { 202: BatchCreated, ...errors },
      },
    },
    async (request, reply) => {
      const principal = auth(request);
      requireScope(principal, 'submit');
      return reply.code(202).send(await service.submitBatch(principal, request.body));
    },
  );

  const batchOf = async (principal: Principal, batchId: string) => {
    const batch = await options.batches.get(batchId);
    if (!batch || batch.tenant !== principal.tenant) throw new HarombeError('NotFound', `batch ${batchId} not found`);
    return batch;
  };

  app.get(
    '/v1/batches/:batch_id',
    {
      schema: {
        summary: 'Counts per status and a page of the batch’s jobs',
        security: secured,
        params: z.object({ batch_id: BatchId }),
        querystring: PageQuery,
        response: { 200: BatchView, ...errors },
      },
    },
    async (request) => {
      const batch = await batchOf(auth(request), request.params.batch_id);
      const { offset, limit } = request.query;
      const ids = await options.batches.jobIds(batch.batch_id, offset, limit);
      const jobs = (await options.store.getMany(ids)).flatMap((job) => (job ? [toJobView(job)] : []));
      const counts = Object.fromEntries(JobStatus.options.map((status) => [status, 0])) as Record<JobStatus, number>;
      Object.assign(counts, await options.batches.counts(batch.batch_id));
      return {
        batch_id: batch.batch_id,
        created_at: new Date(batch.created_at).toISOString(),
        total: batch.total,
        counts,
        jobs,
        next_offset: offset + ids.length < batch.total ? offset + ids.length : null,
        ...(batch.callback_url ? { callback_url: batch.callback_url } : {}),
      };
    },
  );

  app.get(
    '/v1/batches/:batch_id/results',
    {
      schema: {
        summary: 'NDJSON stream of the batch’s finished jobs',
        security: secured,
        params: z.object({ batch_id: BatchId }),
        response: { ...errors },
      },
    },
    async (request, reply) => {
      const batch = await batchOf(auth(request), request.params.batch_id);
      // A byte stream: lines are read from Redis only as the client takes them.
      const lines = Readable.from(batchResultLines(options.store, options.batches, batch), { objectMode: false });
      return reply.type('application/x-ndjson').send(lines as never);
    },
  );

  const BatchDecision = z.object({ batch_id: BatchId, decided: z.number().int(), already_decided: z.number().int() });
  for (const decision of ['approve', 'deny'] as const) {
    app.post(
      `/v1/batches/:batch_id/${decision}`,
      {
        schema: {
          summary: `${decision === 'approve' ? 'Approve' : 'Deny'} every pending job of a batch`,
          security: secured,
          params: z.object({ batch_id: BatchId }),
          body: DecisionRequest.optional(),
          response: { 200: BatchDecision, ...errors },
        },
      },
      async (request) => {
        const principal = auth(request);
        requireScope(principal, 'approve');
        // Another tenant's batch is NotFound there, and the attempt recorded under its tenant.
        return service.decideBatch(principal, request.params.batch_id, decision, request.body?.reason ?? null);
      },
    );
    app.post(
      `/v1/approvals/:approval_id/${decision}`,
      {
        schema: {
          summary: `${decision === 'approve' ? 'Approve' : 'Deny'} a job waiting for approval (first decision wins)`,
          security: secured,
          params: z.object({ approval_id: ApprovalId }),
          body: DecisionRequest.optional(),
          response: { 200: DecisionResult, ...errors },
        },
      },
      async (request) => {
        const principal = auth(request);
        requireScope(principal, 'approve');
        return service.decide(principal, request.params.approval_id, decision, request.body?.reason ?? null);
      },
    );
  }

  app.get(
    '/v1/approvals',
    {
      schema: {
        summary: 'Jobs waiting for approval',
        security: secured,
        querystring: ApprovalsQuery,
        response: { 200: z.object({ approvals: z.array(JobView) }), ...errors },
      },
    },
    async (request) => {
      const principal = auth(request);
      requireScope(principal, 'approve');
      return { approvals: await service.pendingApprovals(principal, request.query.limit) };
    },
  );

  const { audit } = options;
  if (audit) {
    app.get(
      '/v1/audit',
      {
        schema: {
          summary: 'The tenant’s audit trail, oldest first, from `after` (scope admin)',
          security: secured,
          querystring: AuditQuery,
          response: { 200: AuditPage, ...errors },
        },
      },
      async (request) => {
        const principal = auth(request);
        requireScope(principal, 'admin');
        const { after, limit, job_id } = request.query;
        return audit.read({
          limit,
          tenant: principal.tenant,
          ...(after ? { after } : {}),
          ...(job_id ? { jobId: job_id } : {}),
        });
      },
    );
  }

  if (options.webhooks) registerWebhookRoutes(app as unknown as FastifyInstance, options.webhooks, auth);

  app.get(
    '/v1/sandboxes',
    {
      schema: {
        summary: 'The tenant’s sandboxes',
        security: secured,
        response: { 200: z.object({ sandboxes: z.array(SandboxView) }), ...errors },
      },
    },
    async (request) => {
      const principal = auth(request);
      // A sandbox whose worker is gone is gone with it (the housekeeper forgets it soon after).
      const alive = new Set((await options.workers.alive(options.clock.now())).map((worker) => worker.worker_id));
      const entries = (await options.sandboxes.listByTenant(principal.tenant)).filter((entry) =>
        alive.has(entry.worker_id),
      );
      return {
        sandboxes: entries.map((entry) => ({
          sandbox_id: entry.sandbox_id,
          language: entry.language,
          worker_id: entry.worker_id,
          network_enabled: entry.network_enabled,
          allowed_domains: entry.allowed_domains,
          created_at: new Date(entry.created_at).toISOString(),
          expires_at: new Date(entry.expires_at).toISOString(),
        })),
      };
    },
  );

  app.post(
    '/v1/sandboxes',
    {
      schema: {
        summary:
          'Make a kept sandbox up front (a code_create_sandbox job): 201 once it exists, 202 while it waits (a network-enabled one waits for approval)',
        security: secured,
        body: CreateSandboxRequest,
        response: { 200: JobView, 201: JobView, 202: JobView, ...errors },
      },
    },
    async (request, reply) => {
      const principal = auth(request);
      requireScope(principal, 'submit');
      const { idempotency_key, wait_seconds, ...params } = request.body;
      const job = await service.submit(principal, {
        tool: 'code_create_sandbox',
        params,
        wait_seconds,
        ...(idempotency_key ? { idempotency_key } : {}),
      });
      const made = job.status === 'completed' && job.result?.success === true;
      return reply.code(made ? 201 : isTerminal(job.status) ? 200 : 202).send(job);
    },
  );

  app.delete(
    '/v1/sandboxes/:sandbox_id',
    {
      schema: {
        summary: 'Destroy a sandbox (runs code_destroy_sandbox on its worker)',
        security: secured,
        params: z.object({ sandbox_id: SandboxId }),
        response: { 200: JobView, ...errors },
      },
    },
    async (request) => {
      const principal = auth(request);
      requireScope(principal, 'submit');
      const entry = await options.sandboxes.get(request.params.sandbox_id);
      if (!entry || entry.tenant !== principal.tenant)
        throw new HarombeError('NotFound', `sandbox ${request.params.sandbox_id} not found`);
      return service.submit(principal, {
        tool: 'code_destroy_sandbox',
        params: { sandbox_id: entry.sandbox_id },
        wait_seconds: 30,
      });
    },
  );

  if (options.events) {
    const streams = new Gauge({
      name: 'harombe_api_event_streams',
      help: 'Live event streams (SSE) open now',
      registers: [options.metrics],
    });
    const closed = new Counter({
      name: 'harombe_api_event_streams_closed_total',
      help: 'Live event streams closed, by why: ended (all sent), left (the client), stalled (took nothing for too long), shutdown',
      labelNames: ['reason'],
      registers: [options.metrics],
    });
    registerEventRoutes(app as unknown as FastifyInstance, {
      ...options.events,
      service,
      store: options.store,
      batches: options.batches,
      auth,
      onOpened: () => streams.inc(),
      onClosed: (reason) => {
        streams.dec();
        closed.inc({ reason });
      },
    });
  }

  return app;
}
