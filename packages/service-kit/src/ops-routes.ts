import type { FastifyInstance, FastifySchema } from 'fastify';
import Fastify from 'fastify';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

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

/** How often (ms) the event loop's lateness is sampled (harombe_event_loop_lateness_seconds). */
export const EVENT_LOOP_SAMPLE_MS = 500;

/**
 * prom-client's event-loop gauges come from Node's delay histogram, whose timer (every 10 ms by
 * default) woke each idle service a hundred times a second, and whose figures include the
 * sampling interval itself. Its timer is set to wake about once an hour, and those gauges are
 * left out; harombe_event_loop_lateness_seconds says how late the loop is instead.
 */
const PROM_CLIENT_LAG_HISTOGRAM_MS = 3_600_000;
const PROM_CLIENT_LAG_GAUGES = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'].map(
  (figure) => `nodejs_eventloop_lag_${figure}_seconds`,
);

/** A metrics registry with Node's default process metrics, labelled with the service. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: PROM_CLIENT_LAG_HISTOGRAM_MS });
  for (const name of PROM_CLIENT_LAG_GAUGES) registry.removeSingleMetric(name);
  observeEventLoopLateness(registry);
  return registry;
}

/**
 * How late a timer set every EVENT_LOOP_SAMPLE_MS fires: the time the event loop was busy when it
 * was due (work, garbage collection), twice a second, at the cost of two wake-ups a second.
 */
function observeEventLoopLateness(registry: Registry): void {
  const lateness = new Histogram({
    name: 'harombe_event_loop_lateness_seconds',
    help: `How late a timer due every ${EVENT_LOOP_SAMPLE_MS} ms fired: how long the event loop was busy when it was due`,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  let due = performance.now() + EVENT_LOOP_SAMPLE_MS;
  setInterval(() => {
    const now = performance.now();
    lateness.observe(Math.max(0, now - due) / 1000);
    due = now + EVENT_LOOP_SAMPLE_MS;
  }, EVENT_LOOP_SAMPLE_MS).unref();
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
