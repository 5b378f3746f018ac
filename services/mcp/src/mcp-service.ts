import { mcpApiUrl, type ErrorCode, type HarombeConfig } from '@harombe/core';
import {
  deploymentFacts,
  JSON_RPC_PARSE_ERROR,
  McpHttpEndpoint,
  refusalBody,
  refusalHeaders,
  writeRefusal,
} from '@harombe/mcp';
import { createRegistry, refuseOversizedBodiesEarly, registerOpsRoutes } from '@harombe/service-kit';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { McpMetrics } from './mcp-metrics.js';

export interface McpServiceOptions {
  config: HarombeConfig;
  logger: Logger;
  /** Milliseconds between progress notifications while a job's state does not change. Default 10_000. */
  heartbeatMs?: number;
  /** Milliseconds the API has to answer a readiness probe. Default 2000. */
  readinessTimeoutMs?: number;
}

/**
 * The MCP service: the fleet's tools over Streamable HTTP on `mcp.path`, each session acting with
 * the API key its client sends as a bearer token, beside /healthz, /readyz (the API answers) and
 * /metrics. It holds no state but its sessions: every call is a job of the API.
 */
export class McpService {
  readonly endpoint: McpHttpEndpoint;
  private readonly registry = createRegistry('mcp');
  private readonly metrics: McpMetrics;
  private readonly apiUrl: string;
  private app: FastifyInstance | undefined;

  constructor(private readonly options: McpServiceOptions) {
    const { config, logger } = options;
    this.apiUrl = mcpApiUrl(config);
    let endpoint: McpHttpEndpoint | undefined;
    this.metrics = new McpMetrics(this.registry, () => endpoint?.sessionCount ?? 0);
    this.endpoint = endpoint = new McpHttpEndpoint({
      apiUrl: this.apiUrl,
      facts: deploymentFacts(config),
      sessionIdleSeconds: config.mcp.session_idle_seconds,
      maxSessions: config.mcp.max_sessions,
      ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
      logger,
      onRefused: (code) => this.metrics.requestRefused(code),
      onCallEnded: (event) => {
        this.metrics.callEnded(event);
        logger.info(
          {
            tool: event.tool,
            outcome: event.outcome,
            seconds: event.seconds,
            ...(event.jobId ? { job_id: event.jobId } : {}),
            ...(event.session ? { session: event.session } : {}),
          },
          'mcp tool call ended',
        );
      },
    });
  }

  async start(): Promise<FastifyInstance> {
    const { config, logger } = this.options;
    const app = Fastify({
      // Typed as Fastify's own logger, so the instance is the plain FastifyInstance the routes take.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
      loggerInstance: logger as FastifyBaseLogger,
      bodyLimit: config.api.max_body_bytes,
      // One line per tool call is ours to write; per-request lines would drown them.
      disableRequestLogging: true,
      onProtoPoisoning: 'error',
      onConstructorPoisoning: 'error',
    });
    refuseOversizedBodiesEarly(app.server, config.api.max_body_bytes, (response) => {
      this.metrics.requestRefused('PayloadTooLarge');
      writeRefusal(response, 413, 'PayloadTooLarge', TOO_LARGE);
    });
    // MCP speaks JSON-RPC in JSON: any other body is refused with 415 before reaching a session.
    app.removeContentTypeParser('text/plain');
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const [status, code, message, rpcCode] = refusalOf(error);
      this.metrics.requestRefused(code);
      if (status >= 500) request.log.error({ err: error }, 'mcp request failed');
      return reply
        .code(status)
        .headers(refusalHeaders(status))
        .send(refusalBody(status, code, message, rpcCode));
    });
    app.setNotFoundHandler((request, reply) =>
      reply
        .code(404)
        .headers(refusalHeaders(404))
        .send(
          refusalBody(
            404,
            'NotFound',
            `no route ${request.method} ${request.url.split('?')[0]}; MCP is at ${config.mcp.path}`,
          ),
        ),
    );
    registerOpsRoutes(app, { registry: this.registry, readiness: { api: () => this.apiAnswers() } });
    app.route({
      method: ['GET', 'POST', 'DELETE'],
      url: config.mcp.path,
      handler: async (request, reply) => {
        // The SDK's transport answers on the raw response (JSON, or an event stream that stays open).
        reply.hijack();
        try {
          await this.endpoint.handle(request.raw, reply.raw, request.body);
        } catch (error) {
          request.log.error({ err: error }, 'mcp request failed');
          if (!reply.raw.headersSent) writeRefusal(reply.raw, 500, 'InternalError', 'the server log has the details');
          else reply.raw.end();
        }
      },
    });
    await app.listen({ host: config.mcp.host, port: config.mcp.port });
    this.app = app;
    logger.info({ address: this.address, path: config.mcp.path, api_url: this.apiUrl }, 'mcp listening');
    return app;
  }

  /** `http://host:port` it listens on. */
  get address(): string {
    const address = this.app?.server.address();
    if (!address || typeof address !== 'object') throw new Error('the MCP service is not listening');
    return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  }

  /** Closes the sessions (their calls under way are cancelled), then the server. */
  async stop(): Promise<void> {
    await this.endpoint.close();
    await this.app?.close();
  }

  private async apiAnswers(): Promise<boolean> {
    const response = await fetch(`${this.apiUrl.replace(/\/+$/, '')}/healthz`, {
      signal: AbortSignal.timeout(this.options.readinessTimeoutMs ?? 2000),
    });
    await response.body?.cancel();
    return response.ok;
  }
}

const TOO_LARGE = 'the request body is larger than this server accepts (api.max_body_bytes)';

/** A refused body as status, stable code, message and JSON-RPC code. */
function refusalOf(error: FastifyError): [number, ErrorCode, string, number?] {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return [413, 'PayloadTooLarge', TOO_LARGE];
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return [415, 'InvalidArgument', 'the request body must be JSON-RPC (Content-Type: application/json)'];
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return [400, 'InvalidArgument', 'the request body is empty; expected a JSON-RPC message', JSON_RPC_PARSE_ERROR];
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return [400, 'InvalidArgument', 'the Content-Length header does not match the body'];
  }
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (error.statusCode === 400 && error instanceof SyntaxError))
    return [400, 'InvalidArgument', `the request body is not valid JSON: ${error.message}`, JSON_RPC_PARSE_ERROR];
  if (error.statusCode && error.statusCode < 500) return [error.statusCode, 'InvalidArgument', error.message];
  return [500, 'InternalError', 'the server log has the details'];
}
