import {
  fieldProblems,
  HarombeError,
  invalidInput,
  isHarombeError,
  type ErrorBody,
  type ErrorCode,
  type ValidatedInput,
} from '@harombe/core';
import { isOutOfMemory, storeFull } from '@harombe/queue';
import { refuseOversizedBodiesEarly, type JobMetrics } from '@harombe/service-kit';
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * What the route's body is, for the codes of its refusals: `params` when it is a tool's params
     * at its root (POST /v1/sandboxes: a language the fleet does not run is UnsupportedLanguage).
     * Default `body`.
     */
    bodyInput?: ValidatedInput;
  }
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  InvalidArgument: 400,
  UnknownTool: 400,
  UnsupportedLanguage: 400,
  LimitTooHigh: 400,
  InvalidPath: 400,
  WebhookTargetRefused: 400,
  Unauthorized: 401,
  Forbidden: 403,
  SelfApprovalForbidden: 403,
  NotFound: 404,
  SandboxNotFound: 404,
  Conflict: 409,
  IdempotencyConflict: 409,
  AlreadyDecided: 409,
  PayloadTooLarge: 413,
  QuotaExceeded: 429,
  RateLimited: 429,
  ServiceUnavailable: 503,
  CapacityExceeded: 503,
  StoreFull: 503,
};

/**
 * Maps any error to an HTTP status and the stable error body. Nothing internal leaks. Redis
 * refusing a write at its maxmemory is StoreFull (503), wherever it happened. `bodyInput` is what
 * the request's body is (see FastifyContextConfig.bodyInput).
 */
export function toErrorResponse(
  error: unknown,
  bodyLimit?: number,
  bodyInput: ValidatedInput = 'body',
): { status: number; body: ErrorBody } {
  if (isOutOfMemory(error)) return toErrorResponse(storeFull('Redis refused the write at its maxmemory'));
  if (isHarombeError(error)) {
    return {
      status: STATUS[error.code] ?? 500,
      body: {
        error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) },
      },
    };
  }
  const fastifyError = error as FastifyError;
  if (hasZodFastifySchemaValidationErrors(fastifyError)) {
    const context = fastifyError.validationContext ?? 'body';
    const issues = fastifyError.validation.map((issue) => ({
      path: issue.instancePath.split('/').filter(Boolean),
      message: issue.message ?? 'invalid',
    }));
    // The body's fields by their names (params.language); a query's or header's under it (querystring.limit).
    return toErrorResponse(
      context === 'body'
        ? invalidInput(fieldProblems(issues, { whole: context }), bodyInput)
        : invalidInput(fieldProblems(issues, { prefix: context, whole: context })),
    );
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return toErrorResponse(
        new HarombeError(
          'PayloadTooLarge',
          bodyLimit
            ? `the request body is larger than ${bodyLimit} bytes (api.max_body_bytes)`
            : 'the request body is larger than this API accepts',
          bodyLimit ? { max_bytes: bodyLimit } : undefined,
        ),
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return toErrorResponse(
        new HarombeError('InvalidArgument', 'the request body must be JSON (Content-Type: application/json)'),
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return toErrorResponse(new HarombeError('InvalidArgument', 'the request body is empty; expected a JSON object'));
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return toErrorResponse(new HarombeError('InvalidArgument', 'the Content-Length header does not match the body'));
  }
  if (fastifyError.statusCode === 400 && error instanceof SyntaxError) {
    return toErrorResponse(new HarombeError('InvalidArgument', `the request body is not valid JSON: ${error.message}`));
  }
  if (fastifyError.statusCode && fastifyError.statusCode < 500) {
    return toErrorResponse(new HarombeError('InvalidArgument', fastifyError.message));
  }
  return {
    status: 500,
    body: { error: { code: 'InternalError', message: 'internal error; the server log has the details' } },
  };
}

export interface ErrorAnswersOptions {
  /** Largest request body, in bytes (api.max_body_bytes). */
  bodyLimit: number;
  /** Counts refused requests by error code (harombe_errors_total). Default: not counted. */
  jobMetrics?: JobMetrics;
}

/**
 * Every refusal as an ErrorBody with its stable code: errors thrown by routes, requests for no
 * route, and a body announced too large (Expect: 100-continue) before it is sent.
 */
export function answerErrors(app: FastifyInstance, options: ErrorAnswersOptions): void {
  const { bodyLimit } = options;
  refuseOversizedBodiesEarly(app.server, bodyLimit, (response) => {
    options.jobMetrics?.error('PayloadTooLarge');
    response.writeHead(413, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        error: {
          code: 'PayloadTooLarge',
          message: `the request body is larger than ${bodyLimit} bytes (api.max_body_bytes)`,
          details: { max_bytes: bodyLimit },
        },
      }),
    );
  });
  app.setErrorHandler((error, request, reply) => {
    const { status, body } = toErrorResponse(error, bodyLimit, request.routeOptions.config.bodyInput);
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
}
