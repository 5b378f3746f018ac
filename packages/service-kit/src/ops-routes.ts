import type { FastifyInstance, FastifySchema } from 'fastify';
import Fastify from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';

export type ReadinessCheck = () => Promise<boolean>;

export interface OpsRoutesOptions {
  registry: Registry;
  /** Named checks that must all pass for /readyz to answer 200. */
  readiness: Record<string, ReadinessCheck>;
  /**
   * Who answers, added to the /readyz answer (a worker's id): whoever polls it to know when a
   * process it started is ready also learns whom it reached. Default: nothing.
   */
  about?: Record<string, string>;
}

/**
 * How often (ms) the event loop's delay is sampled for the default metrics' lag histogram. At
 * prom-client's default (10 ms) the sampling timer woke every process a hundred times a second,
 * and that alone was most of what an idle service cost. Twice a second still gives a 15 s scrape
 * thirty samples, and how late each one fired is measured exactly.
 */
export const EVENT_LOOP_SAMPLE_MS = 500;

/** A metrics registry with Node's default process metrics, labelled with the service. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  return registry;
}

/** Kept out of the OpenAPI document (@fastify/swagger reads `hide`). */
const hidden = { schema: { hide: true } as FastifySchema };

/** /healthz (the process answers), /readyz (its dependencies answer), /metrics (Prometheus). */
export function registerOpsRoutes(app: FastifyInstance, options: OpsRoutesOptions): void {
  app.get('/healthz', hidden, async () => ({ status: 'ok' }));
  app.get('/readyz', hidden, async (_request, reply) => {
    const checks: Record<string, boolean> = {};
    await Promise.all(
      Object.entries(options.readiness).map(async ([name, check]) => {
        checks[name] = await check().catch(() => false);
      }),
    );
    const ready = Object.values(checks).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks, ...options.about });
  });
  app.get('/metrics', hidden, async (_request, reply) => {
    return reply.type(options.registry.contentType).send(await options.registry.metrics());
  });
}

/** A server with only the ops routes, for services without an API of their own. */
export async function startOpsServer(
  options: OpsRoutesOptions & { host: string; port: number },
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  registerOpsRoutes(app, options);
  await app.listen({ host: options.host, port: options.port });
  return app;
}
