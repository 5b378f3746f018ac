import fastifySwagger from '@fastify/swagger';
import type { Clock } from '@harombe/core';
import {
  BatchViews,
  SandboxViews,
  type AuditTrail,
  type BatchStore,
  type JobService,
  type JobStore,
  type SandboxDirectory,
  type WorkerRegistry,
} from '@harombe/queue';
import type { JobMetrics, ReadinessCheck } from '@harombe/service-kit';
import type { Webhooks } from '@harombe/webhooks';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { ApiKeyring } from './api-keyring.js';
import { approvalRoutes } from './approval-routes.js';
import { auditRoutes } from './audit-routes.js';
import { batchRoutes } from './batch-routes.js';
import { eventRoutes, type EventStreamOptions } from './event-routes.js';
import { answerErrors } from './http-errors.js';
import { jobRoutes } from './job-routes.js';
import { opsRoutes } from './ops-routes.js';
import { RequestAuthenticator } from './request-authenticator.js';
import { sandboxRoutes } from './sandbox-routes.js';
import { webhookRoutes } from './webhook-routes.js';

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
  /** The live event routes' streams and settings (see EventStreamOptions). Default: no such routes. */
  events?: EventStreamOptions;
}

/** The default of api.max_body_bytes. */
const DEFAULT_BODY_BYTES = 2 * 1_048_576;

export type ApiServer = Awaited<ReturnType<typeof buildApiServer>>;

/**
 * The producer API over the job service: one plugin per resource (jobs, batches, approvals,
 * sandboxes, audit, webhooks, live events, ops), auth, errors, OpenAPI. No state of its own.
 */
export async function buildApiServer(options: ApiServerOptions) {
  const { service, metrics, logger } = options;
  const bodyLimit = options.maxBodyBytes ?? DEFAULT_BODY_BYTES;
  const server = Fastify({
    loggerInstance: logger,
    bodyLimit,
    // One log line per job event is ours to write; per-request lines would drown them.
    logController: new LogController({ disableRequestLogging: true }),
    // Hostile inputs: no prototype pollution through JSON bodies.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  });
  answerErrors(server as unknown as FastifyInstance, {
    bodyLimit,
    ...(options.jobMetrics ? { jobMetrics: options.jobMetrics } : {}),
  });
  const app = server.withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const requests = new Counter({
    name: 'harombe_api_requests_total',
    help: 'API requests by route and status',
    labelNames: ['route', 'status'],
    registers: [metrics],
  });
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
  await app.register(opsRoutes, { metrics, readiness: options.readiness });

  const authenticator = new RequestAuthenticator({
    keyring: options.keyring,
    logger,
    ...(options.audit ? { audit: options.audit } : {}),
  });
  app.addHook('onClose', async () => authenticator.close());
  const auth = authenticator.authenticate;
  const batchViews = new BatchViews({ store: options.store, batches: options.batches });
  const sandboxViews = new SandboxViews({
    directory: options.sandboxes,
    workers: options.workers,
    clock: options.clock,
  });

  await app.register(jobRoutes, { service, auth });
  await app.register(batchRoutes, { service, views: batchViews, auth });
  await app.register(approvalRoutes, { service, auth });
  if (options.audit) await app.register(auditRoutes, { audit: options.audit, auth });
  if (options.webhooks) await app.register(webhookRoutes, { webhooks: options.webhooks, auth });
  await app.register(sandboxRoutes, { service, views: sandboxViews, auth });
  if (options.events) {
    const { store, batches } = options;
    await app.register(eventRoutes, { ...options.events, service, store, batches, views: batchViews, auth, metrics });
  }
  return app;
}
