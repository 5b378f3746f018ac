import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HarombeClient, isHarombeApiError } from '@harombe/client';
import type { ErrorCode } from '@harombe/core';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { DeploymentFacts } from './deployment-facts.js';
import { HarombeMcpServer, type McpCallEvent } from './harombe-mcp-server.js';

/** The part of a pino logger the endpoint uses. */
export interface McpLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface McpHttpEndpointOptions {
  /** Root URL of the fleet's API; each session's calls go there with the session's own key. */
  apiUrl: string;
  /** The limits the tool descriptions tell. Default: the documented defaults. */
  facts?: DeploymentFacts;
  /** Milliseconds between progress notifications while a job's state does not change. Default 10_000. */
  heartbeatMs?: number;
  /** Told of every tool call once it ended. Default: nobody. */
  onCallEnded?: (event: McpCallEvent) => void;
  /** Seconds a session may go without a request (and with no call under way) before it is closed. Default 1800. */
  sessionIdleSeconds?: number;
  /** Sessions open at once; an initialize beyond them is refused with 503 CapacityExceeded. Default 1000. */
  maxSessions?: number;
  /** Told of every request the endpoint refuses itself (no key, unknown key, unknown session, ...). Default: nobody. */
  onRefused?: (code: ErrorCode) => void;
  /** Milliseconds the API has to answer the check of a new session's key. Default 10_000. */
  keyCheckTimeoutMs?: number;
  /** The fetch the API clients use. Default: the global fetch. */
  fetch?: typeof fetch;
  /** Default: nothing is logged. */
  logger?: McpLogger;
}

interface Session {
  id: string;
  mcp: HarombeMcpServer;
  transport: StreamableHTTPServerTransport;
  /** SHA-256 of the key that opened it: only that key may use it. */
  keyHash: string;
  lastSeen: number;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The API key of `Authorization: Bearer <key>`, or undefined. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value ?? '');
  return match?.[1];
}

/**
 * The Streamable HTTP endpoint of the MCP server (POST, GET and DELETE on one path). Every
 * request carries `Authorization: Bearer <API key>`; an initialize request opens a session whose
 * tool calls run with that key, and only that key may use the session afterwards (another one
 * hears 404, as for a session that does not exist). A key the API does not know is refused at
 * initialization with 401. Sessions live in this process, until the client ends them (DELETE)
 * or they sit idle for `sessionIdleSeconds`.
 */
export class McpHttpEndpoint {
  private readonly sessions = new Map<string, Session>();
  private readonly idleMs: number;
  private readonly maxSessions: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: McpHttpEndpointOptions) {
    this.idleMs = (options.sessionIdleSeconds ?? 1800) * 1000;
    this.maxSessions = options.maxSessions ?? 1000;
    this.sweeper = setInterval(() => this.sweep(), Math.min(this.idleMs, 60_000));
    this.sweeper.unref();
  }

  /** Open sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Answers one HTTP request to the endpoint. `body` is the request's JSON, already parsed (a
   * POST's); the transport writes the answer (JSON, or an event stream) to `res`.
   */
  async handle(req: IncomingMessage, res: ServerResponse, body?: unknown): Promise<void> {
    const refuse = (status: number, code: ErrorCode, message: string): void => {
      this.options.onRefused?.(code);
      writeRefusal(res, status, code, message);
    };
    const key = bearerToken(req.headers.authorization);
    if (!key) {
      refuse(
        401,
        'Unauthorized',
        'this MCP server needs "Authorization: Bearer <API key>": an API key of the fleet, which its tool calls run as',
      );
      return;
    }
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = this.sessions.get(sessionId);
      if (!session || session.keyHash !== sha256(key)) {
        refuse(404, 'NotFound', `no MCP session ${sessionId} for this key: start a new one with initialize`);
        return;
      }
      session.lastSeen = Date.now();
      await session.transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      refuse(400, 'InvalidArgument', 'no Mcp-Session-Id header: a session starts with an initialize request');
      return;
    }
    if (this.sessions.size >= this.maxSessions) {
      refuse(503, 'CapacityExceeded', `this MCP server holds ${this.maxSessions} sessions, its most; try again later`);
      return;
    }
    await this.open(key, req, res, body, refuse);
  }

  /** Closes every session: calls under way are aborted and their jobs cancelled. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.allSettled([...this.sessions.values()].map((session) => session.mcp.close()));
  }

  private async open(
    key: string,
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    refuse: (status: number, code: ErrorCode, message: string) => void,
  ): Promise<void> {
    const client = new HarombeClient({
      baseUrl: this.options.apiUrl,
      apiKey: key,
      ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
    });
    const refusal = await this.checkKey(client);
    if (refusal) {
      refuse(...refusal);
      return;
    }
    // The session's id exists only once the transport has answered the initialize request.
    let sessionId: string | undefined;
    const onCallEnded = this.options.onCallEnded;
    const mcp = new HarombeMcpServer({
      client,
      ...(this.options.facts ? { facts: this.options.facts } : {}),
      ...(this.options.heartbeatMs === undefined ? {} : { heartbeatMs: this.options.heartbeatMs }),
      ...(onCallEnded
        ? { onCallEnded: (event) => onCallEnded({ ...event, ...(sessionId ? { session: sessionId } : {}) }) }
        : {}),
    });
    const keyHash = sha256(key);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessionId = id;
        this.sessions.set(id, { id, mcp, transport, keyHash, lastSeen: Date.now() });
        this.options.logger?.info({ session: id, key_sha256: keyHash.slice(0, 12) }, 'mcp session opened');
      },
    });
    // Set before connect: the server chains its own close handling (aborting calls) after it.
    transport.onclose = () => {
      const id = transport.sessionId;
      if (id && this.sessions.delete(id)) this.options.logger?.info({ session: id }, 'mcp session closed');
    };
    transport.onerror = (error) => this.options.logger?.warn({ err: error }, 'mcp transport error');
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
    // The transport refused the initialization (a bad Accept header, say): nothing to keep.
    if (transport.sessionId === undefined) await mcp.close();
  }

  /** Why a new session's key is refused, or undefined when the API knows it. */
  private async checkKey(client: HarombeClient): Promise<[number, ErrorCode, string] | undefined> {
    try {
      // Any route that only authenticates will do: a key the API does not know fails here, once.
      await client.listSandboxes({ signal: AbortSignal.timeout(this.options.keyCheckTimeoutMs ?? 10_000) });
      return undefined;
    } catch (error) {
      // A key without some scope is still a key: its calls will hear Forbidden from the API.
      if (isHarombeApiError(error, 'Forbidden')) return undefined;
      if (isHarombeApiError(error, 'Unauthorized'))
        return [401, 'Unauthorized', `the API refused the key: ${error.message}`];
      const message = error instanceof Error ? error.message : String(error);
      return [503, 'ServiceUnavailable', `cannot check the key with the fleet's API: ${message}`];
    }
  }

  private sweep(): void {
    const cutoff = Date.now() - this.idleMs;
    for (const session of this.sessions.values()) {
      if (session.lastSeen < cutoff && session.mcp.activeCalls === 0) {
        this.options.logger?.info({ session: session.id }, 'mcp session idle: closed');
        void session.mcp.close();
      }
    }
  }
}

/** JSON-RPC's code for a body that is not JSON. */
export const JSON_RPC_PARSE_ERROR = -32700;

/**
 * The body of an answer of the endpoint itself: a JSON-RPC error whose message starts with the
 * stable code, which `data.code` holds alone.
 */
export function refusalBody(status: number, code: ErrorCode, message: string, rpcCode?: number): object {
  return {
    jsonrpc: '2.0',
    error: { code: rpcCode ?? (status === 404 ? -32001 : -32000), message: `${code}: ${message}`, data: { code } },
    id: null,
  };
}

/** Headers of such an answer: a 401 says which scheme to use. */
export function refusalHeaders(status: number): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (status === 401) headers['www-authenticate'] = 'Bearer realm="harombe"';
  return headers;
}

/** Writes a refusal of the endpoint itself (see refusalBody). */
export function writeRefusal(res: ServerResponse, status: number, code: ErrorCode, message: string): void {
  res.writeHead(status, refusalHeaders(status)).end(JSON.stringify(refusalBody(status, code, message)));
}
