import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How the receiver answers one request. */
export type ReceiverAnswer =
  /** A status at once (default 200), with headers and a body. */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Never answers: the sender's timeout ends the attempt. */
  | { kind: 'hang' }
  /** Closes the connection once the request is in, without answering (the sender sees ECONNRESET). */
  | { kind: 'reset' }
  /** Sends the status and headers at once, then the body a chunk every `everyMs`, `chunks` times. */
  | { kind: 'slow_body'; status: number; everyMs: number; chunks: number };

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as received. */
  body: string;
  /** When the request was complete, ms since the epoch. */
  at: number;
  /** How it was answered. */
  answer: ReceiverAnswer['kind'];
  /** The status sent, when one was. */
  status: number | null;
}

const OK: ReceiverAnswer = { kind: 'status', status: 200 };

/**
 * A webhook receiver on 127.0.0.1 for tests: it records every request (raw body included, to
 * verify signatures) and answers each path as scripted: a list of answers used one per request,
 * then the path's default (200 unless set). Failing on purpose: 5xx, Retry-After, a hang, a
 * reset, a slow body.
 */
export class WebhookReceiver {
  readonly received: ReceivedRequest[] = [];
  private readonly scripts = new Map<string, ReceiverAnswer[]>();
  private readonly defaults = new Map<string, ReceiverAnswer>();
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(private readonly server: Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('request', (request, response) => this.handle(request, response));
  }

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(createServer());
    await new Promise<void>((resolve, reject) => {
      receiver.server.once('error', reject);
      receiver.server.listen(0, '127.0.0.1', () => resolve());
    });
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** http://127.0.0.1:<port><path>. */
  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The next requests to `path` get these answers, one each, in order (after any scripted before). */
  script(path: string, ...answers: ReceiverAnswer[]): void {
    this.scripts.set(path, [...(this.scripts.get(path) ?? []), ...answers]);
  }

  /** What `path` answers once its script is used up. */
  otherwise(path: string, answer: ReceiverAnswer): void {
    this.defaults.set(path, answer);
  }

  /** Requests to one path. */
  requests(path = '/hook'): ReceivedRequest[] {
    return this.received.filter((request) => request.path === path);
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = (request.url ?? '/').split('?')[0] as string;
      const answer = this.scripts.get(path)?.shift() ?? this.defaults.get(path) ?? OK;
      this.received.push({
        method: request.method ?? '',
        path,
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
        answer: answer.kind,
        status: answer.kind === 'status' || answer.kind === 'slow_body' ? answer.status : null,
      });
      this.answer(answer, request, response);
    });
  }

  private answer(answer: ReceiverAnswer, request: IncomingMessage, response: ServerResponse): void {
    switch (answer.kind) {
      case 'status':
        response.writeHead(answer.status, answer.headers ?? {}).end(answer.body ?? '');
        return;
      case 'hang':
        return;
      case 'reset':
        request.socket.destroy();
        return;
      case 'slow_body': {
        response.writeHead(answer.status, { 'content-type': 'text/plain' });
        response.flushHeaders();
        let sent = 0;
        const next = (): void => {
          if (response.destroyed) return;
          response.write('.');
          sent += 1;
          if (sent >= answer.chunks) response.end();
          else this.later(next, answer.everyMs);
        };
        this.later(next, answer.everyMs);
        return;
      }
    }
  }

  private later(run: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }
}
