import { isTerminal, JobPathParams, JobView, JobWaitQuery, SubmitJobRequest } from '@harombe/core';
import type { JobService } from '@harombe/queue';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireScope } from './api-keyring.js';
import type { Authenticate } from './request-authenticator.js';
import { errorResponses, secured } from './route-schemas.js';

export interface JobRoutesOptions {
  service: JobService;
  auth: Authenticate;
}

/** /v1/jobs: submit a job, read it (a long-poll with wait_seconds), cancel it. */
export const jobRoutes: FastifyPluginAsyncZod<JobRoutesOptions> = async (app, { service, auth }) => {
  app.post(
    '/v1/jobs',
    {
      schema: {
        summary: 'Submit a job (one tool call)',
        security: secured,
        body: SubmitJobRequest,
        response: { 200: JobView, 202: JobView, ...errorResponses },
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
        params: JobPathParams,
        querystring: JobWaitQuery,
        response: { 200: JobView, ...errorResponses },
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
        params: JobPathParams,
        response: { 200: JobView, ...errorResponses },
      },
    },
    async (request) => {
      const principal = auth(request);
      requireScope(principal, 'submit');
      return service.cancel(principal, request.params.job_id);
    },
  );
};
