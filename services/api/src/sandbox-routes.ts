import { CreateSandboxRequest, isTerminal, JobView, SandboxList, SandboxPathParams } from '@harombe/core';
import type { JobService, SandboxViews } from '@harombe/queue';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireScope } from './api-keyring.js';
import type { Authenticate } from './request-authenticator.js';
import { errorResponses, secured } from './route-schemas.js';

export interface SandboxRoutesOptions {
  service: JobService;
  /** The tenant's sandboxes, from the fleet's sandbox directory. */
  views: SandboxViews;
  auth: Authenticate;
}

/** /v1/sandboxes: list the tenant's kept sandboxes, make one up front, destroy one (each a job). */
export const sandboxRoutes: FastifyPluginAsyncZod<SandboxRoutesOptions> = async (app, { service, views, auth }) => {
  app.get(
    '/v1/sandboxes',
    {
      schema: {
        summary: 'The tenant’s sandboxes',
        security: secured,
        response: { 200: SandboxList, ...errorResponses },
      },
    },
    async (request) => ({ sandboxes: await views.list(auth(request).tenant) }),
  );

  app.post(
    '/v1/sandboxes',
    {
      schema: {
        summary:
          'Make a kept sandbox up front (a code_create_sandbox job): 201 once it exists, 202 while it waits (a network-enabled one waits for approval)',
        security: secured,
        body: CreateSandboxRequest,
        response: { 200: JobView, 201: JobView, 202: JobView, ...errorResponses },
      },
      // The body is code_create_sandbox's params (and two fields more): its `language` is theirs.
      config: { bodyInput: 'params' },
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
        params: SandboxPathParams,
        response: { 200: JobView, ...errorResponses },
      },
    },
    async (request) => {
      const principal = auth(request);
      requireScope(principal, 'submit');
      const entry = await views.owned(principal.tenant, request.params.sandbox_id);
      return service.submit(principal, {
        tool: 'code_destroy_sandbox',
        params: { sandbox_id: entry.sandbox_id },
        wait_seconds: 30,
      });
    },
  );
};
