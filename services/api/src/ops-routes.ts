import { registerOpsRoutes, type ReadinessCheck } from '@harombe/service-kit';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';

export interface OpsRoutesOptions {
  metrics: Registry;
  /** Named checks that must all pass for /readyz to answer 200. */
  readiness: Record<string, ReadinessCheck>;
}

/** What needs no key: /healthz, /readyz, /metrics (service-kit's), and the OpenAPI document. */
export const opsRoutes: FastifyPluginAsyncZod<OpsRoutesOptions> = async (app, options) => {
  app.get('/openapi.json', { schema: { hide: true } as never }, async () => app.swagger());
  registerOpsRoutes(app, { registry: options.metrics, readiness: options.readiness });
};
