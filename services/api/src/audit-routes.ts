import { AuditPage, AuditQuery } from '@harombe/core';
import type { AuditTrail } from '@harombe/queue';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireScope } from './api-keyring.js';
import type { Authenticate } from './request-authenticator.js';
import { errorResponses, secured } from './route-schemas.js';

export interface AuditRoutesOptions {
  audit: AuditTrail;
  auth: Authenticate;
}

/** /v1/audit (scope admin): the tenant's audit trail, page by page. */
export const auditRoutes: FastifyPluginAsyncZod<AuditRoutesOptions> = async (app, { audit, auth }) => {
  app.get(
    '/v1/audit',
    {
      schema: {
        summary: 'The tenant’s audit trail, oldest first, from `after` (scope admin)',
        security: secured,
        querystring: AuditQuery,
        response: { 200: AuditPage, ...errorResponses },
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
};
