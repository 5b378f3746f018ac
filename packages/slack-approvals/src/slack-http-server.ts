import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '@harombe/core';
import { isValidSlackRequest, type HTTPReceiver } from '@slack/bolt';
import type { Logger } from 'pino';
import { SIGNATURE_WINDOW_SECONDS, type SlackReplayGuard } from './slack-replay-guard.js';

export interface SlackHttpServerOptions {
  /** Bolt's receiver: it verifies the signature and the 5-minute window, and dispatches to the app. */
  receiver: HTTPReceiver;
  signingSecret: string;
  replayGuard: SlackReplayGuard;
  logger: Logger;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Default /slack/events. */
  path?: string;
  /** Largest request body, bytes. Default 1 MiB (Slack's payloads are far smaller). */
  bodyLimit?: number;
  /** Wall-clock time for the signature window. Default: the system clock (never a test's manual one). */
  wallClock?: Clock;
}

/**
 * The HTTP endpoint Slack posts interactions to. In front of Bolt's receiver it adds what Bolt
 * does not do: it refuses a validly signed request it has already seen (a replay inside the
 * window) and one timestamped in the future. Everything else, including the signature check
 * proper, is Bolt's.
 */
export class SlackHttpServer {
  private readonly server: Server;
  private readonly path: string;
  private readonly bodyLimit: number;
  private readonly wallClock: Clock;

  constructor(private readonly options: SlackHttpServerOptions) {
    this.path = options.path ?? '/slack/events';
    this.bodyLimit = options.bodyLimit ?? 1_048_576;
    this.wallClock = options.wallClock ?? systemClock;
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        options.logger.error({ err: error }, 'slack request failed');
        if (!response.headersSent) response.writeHead(500).end();
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** http://host:port of the listening server. */
  get address(): string {
    const address = this.server.address() as AddressInfo | null;
    if (!address) throw new Error('the Slack endpoint is not listening');
    return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  }

  /** The URL to give Slack as the Request URL (behind your TLS proxy). */
  get url(): string {
    return `${this.address}${this.path}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path !== this.path || request.method !== 'POST') {
      response.writeHead(404).end();
      return;
    }
    const body = await readBody(request, this.bodyLimit);
    if (body === undefined) {
      response.writeHead(413).end();
      return;
    }
    const signature = header(request, 'x-slack-signature');
    const timestamp = Number(header(request, 'x-slack-request-timestamp'));
    const now = this.wallClock.now();
    if (
      signature &&
      Number.isFinite(timestamp) &&
      isValidSlackRequest({
        signingSecret: this.options.signingSecret,
        body: body.toString('utf8'),
        headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp },
        nowMilliseconds: now,
      })
    ) {
      if (timestamp * 1000 > now + SIGNATURE_WINDOW_SECONDS * 1000) {
        this.options.logger.warn({ timestamp }, 'slack request refused: timestamped in the future');
        response.writeHead(401).end();
        return;
      }
      if (!(await this.options.replayGuard.firstSighting(signature, timestamp, now))) {
        this.options.logger.warn({ timestamp }, 'slack request refused: replay of a request already received');
        response.writeHead(401).end();
        return;
      }
    }
    // Bolt reads the body from here instead of the consumed stream, and checks the signature itself.
    (request as IncomingMessage & { rawBody: Buffer }).rawBody = body;
    this.options.receiver.requestListener(request, response);
  }
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** The whole body, or undefined past `limit` bytes. */
async function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
