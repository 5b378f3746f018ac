import { ApprovalList, ApprovalPathParams, ApprovalsQuery, DecisionRequest, DecisionResult } from '@harombe/core';
import type { JobService } from '@harombe/queue';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireScope } from './api-keyring.js';
import type { Authenticate } from './request-authenticator.js';
import { errorResponses, secured } from './route-schemas.js';

export interface ApprovalRoutesOptions {
  service: JobService;
  auth: Authenticate;
}

/** /v1/approvals (scope approve): the jobs waiting for a person, and their decisions. */
export const approvalRoutes: FastifyPluginAsyncZod<ApprovalRoutesOptions> = async (app, { service, auth }) => {
  for (const decision of ['approve', 'deny'] as const) {
    app.post(
      `/v1/approvals/:approval_id/${decision}`,
      {
        schema: {
          summary: `${decision === 'approve' ? 'Approve' : 'Deny'} a job waiting for approval (first decision wins)`,
          security: secured,
          params: ApprovalPathParams,
          body: DecisionRequest.optional(),
          response: { 200: DecisionResult, ...errorResponses },
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
        response: { 200: ApprovalList, ...errorResponses },
      },
    },
    async (request) => {
      const principal = auth(request);
      requireScope(principal, 'approve');
      return { approvals: await service.pendingApprovals(principal, request.query.limit) };
    },
  );
};
