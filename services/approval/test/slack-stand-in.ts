import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One Web API call as the stand-in received it. */
export interface RecordedCall {
  method: string;
  /** Form fields, with JSON-valued ones (blocks, view) parsed. */
  body: Record<string, unknown>;
  /** The bearer token it came with. */
  token: string | undefined;
  /** What the stand-in answered (a posted message's ts is here). */
  response: Record<string, unknown>;
}

/**
 * A stand-in for Slack's Web API on 127.0.0.1: answers chat.postMessage, chat.update,
 * chat.postEphemeral, views.open, usergroups.users.list and auth.test as Slack does (the parts
 * the approval service reads), and records every call with its body. `down()` closes the port
 * (connections refused, as when Slack is unreachable); `up()` opens it again on the same port.
 */
export class SlackStandIn {
  readonly calls: RecordedCall[] = [];
  /** Members per user group id, for usergroups.users.list. */
  readonly usergroups = new Map<string, string[]>();
  /** Methods answered `{ok: false, error}` with this error, until removed. */
  readonly failures = new Map<string, string>();
  private server: Server;
  private nextTs = 1_700_000_000_000_100;

  private constructor(private port: number) {
    this.server = this.createServer();
  }

  static async start(): Promise<SlackStandIn> {
    const standIn = new SlackStandIn(0);
    await standIn.listen();
    return standIn;
  }

  /** The base URL to configure as slack.api_url. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api/`;
  }

  called(method: string): RecordedCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  async down(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  async up(): Promise<void> {
    this.server = this.createServer();
    await this.listen();
  }

  async stop(): Promise<void> {
    if (this.server.listening) await this.down();
  }

  private async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  private createServer(): Server {
    return createServer((request, response) => {
      void this.handle(request, response);
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const method = new URL(request.url ?? '/', 'http://localhost').pathname.replace(/^\/api\//, '');
    const body = parseBody(raw, request.headers['content-type'] ?? '');
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? (typeof body.token === 'string' ? body.token : undefined);
    const answer = this.answer(method, body);
    this.calls.push({ method, body, token, response: answer });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(answer));
  }

  private answer(method: string, body: Record<string, unknown>): Record<string, unknown> {
    const failure = this.failures.get(method);
    if (failure) return { ok: false, error: failure };
    switch (method) {
      case 'auth.test':
        return { ok: true, user_id: 'UBOT', bot_id: 'BBOT', team_id: 'T1', user: 'harombe' };
      case 'chat.postMessage': {
        const ts = this.newTs();
        return { ok: true, channel: body.channel, ts, message: { ts, text: body.text } };
      }
      case 'chat.update':
        return { ok: true, channel: body.channel, ts: body.ts, text: body.text };
      case 'chat.postEphemeral':
        return { ok: true, message_ts: this.newTs() };
      case 'views.open':
        return { ok: true, view: { id: `V${this.calls.length}` } };
      case 'apps.connections.open':
        // No WebSocket here: refuse the app token, as Slack does a revoked one.
        return { ok: false, error: 'invalid_auth' };
      case 'usergroups.users.list':
        return { ok: true, users: this.usergroups.get(String(body.usergroup)) ?? [] };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private newTs(): string {
    this.nextTs += 1;
    const digits = String(this.nextTs);
    return `${digits.slice(0, 10)}.${digits.slice(10)}`;
  }
}

function parseBody(raw: string, contentType: string): Record<string, unknown> {
  if (contentType.includes('application/json')) return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    out[key] = /^[[{]/.test(value) ? tryJson(value) : value;
  }
  return out;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
