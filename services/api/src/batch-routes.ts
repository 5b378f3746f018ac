import { Readable } from 'node:stream';
import {
  BatchCreated,
  BatchDecisionResult,
  BatchPathParams,
  BatchView,
  DecisionRequest,
  PageQuery,
  SubmitBatchRequest,
} from '@harombe/core';
import type { BatchViews, JobService } from '@harombe/queue';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireScope } from './api-keyring.js';
import type { Authenticate } from './request-authenticator.js';
import { errorResponses, secured } from './route-schemas.js';

export interface BatchRoutesOptions {
  service: JobService;
  /** The tenant's batches, their pages and results. */
  views: BatchViews;
  auth: Authenticate;
}

/** /v1/batches: submit up to 10,000 jobs, page through them, stream their results, decide them all. */
export const batchRoutes: FastifyPluginAsyncZod<BatchRoutesOptions> = async (app, { service, views, auth }) => {
  app.post(
    '/v1/batches',
    {
      schema: {
        summary: 'Submit up to 10,000 jobs at once',
        security: secured,
        body: SubmitBatchRequest,
        response: { 202: BatchCreated, ...errorResponses },
      },
    },
    async (request, reply) => {
      const principal = auth(request);
      requireScope(principal, 'submit');
      return reply.code(202).send(await service.submitBatch(principal, request.body));
    },
  );

  app.get(
    '/v1/batches/:batch_id',
    {
      schema: {
        summary: 'Counts per status and a page of the batch’s jobs',
        security: secured,
        params: BatchPathParams,
        querystring: PageQuery,
        response: { 200: BatchView, ...errorResponses },
      },
    },
    async (request) => {
      const batch = await views.owned(auth(request).tenant, request.params.batch_id);
      return views.page(batch, request.query.offset, request.query.limit);
    },
  );

  app.get(
    '/v1/batches/:batch_id/results',
    {
      schema: {
        summary: 'NDJSON stream of the batch’s finished jobs',
        security: secured,
        params: BatchPathParams,
        response: { ...errorResponses },
      },
    },
    async (request, reply) => {
      const batch = await views.owned(auth(request).tenant, request.params.batch_id);
      // A byte stream: lines are read from Redis only as the client takes them.
      const lines = Readable.from(views.resultLines(batch), { objectMode: false });
      return reply.type('application/x-ndjson').send(lines as never);
    },
  );

  for (const decision of ['approve', 'deny'] as const) {
    app.post(
      `/v1/batches/:batch_id/${decision}`,
      {
        schema: {
          summary: `${decision === 'approve' ? 'Approve' : 'Deny'} every pending job of a batch`,
          security: secured,
          params: BatchPathParams,
          body: DecisionRequest.optional(),
          response: { 200: BatchDecisionResult, ...errorResponses },
        },
      },
      async (request) => {
        const principal = auth(request);
        requireScope(principal, 'approve');
        // Another tenant's batch is NotFound there, and the attempt recorded under its tenant.
        return service.decideBatch(principal, request.params.batch_id, decision, request.body?.reason ?? null);
      },
    );
  }
};
