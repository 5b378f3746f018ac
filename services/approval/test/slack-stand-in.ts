import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { systemClock, type Clock } from '@harombe/core';
import { vi } from 'vitest';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

/** One Web API call as the stand-in received it. */
export interface RecordedCall {
  method: string;
  /** Form fields, with JSON-valued ones (blocks, view, metadata) parsed. */
  body: Record<string, unknown>;
  /** The bearer token it came with. */
  token: string | undefined;
  /** What the stand-in answered (a posted message's ts is here); `{}` for a request cut off unanswered. */
  response: Record<string, unknown>;
}

/** A message in a channel, as Slack keeps it (and gives it back in conversations.history). */
export interface HeldMessage {
  channel: string;
  ts: string;
  text: unknown;
  blocks: unknown;
  /** `{event_type, event_payload}`, when posted with metadata. */
  metadata: Record<string, unknown> | undefined;
  /** The parent's ts, for a reply in a thread. */
  thread_ts: string | undefined;
}

/** What the app answered to an envelope over Socket Mode. */
export interface SocketAck {
  envelope_id: string;
  /** The ack's response (for a view_submission: `response_action` and its errors). */
  payload?: Record<string, unknown>;
}

export interface SlackStandInOptions {
  /** Slack's clock: a posted message's ts is its time. Default: the system clock. */
  clock?: Clock;
}

/** How long the stand-in waits for a Socket Mode connection, and for an ack, before failing the test. */
const SOCKET_WAIT_MS = 15_000;

/**
 * A stand-in for Slack on 127.0.0.1. The Web API: chat.postMessage, chat.update,
 * chat.postEphemeral, conversations.history, views.open, usergroups.users.list, auth.test and
 * apps.connections.open, answered as Slack does (the parts the approval service reads), each
 * call recorded with its body, and the messages kept per channel. Socket Mode: the URL that
 * apps.connections.open gives (to an app-level token) is a WebSocket on the same port that says
 * hello, carries the envelopes a test sends, and collects the app's acks.
 *
 * Faults: `failures` answers `{ok: false}`; `delays` answers late, having already acted (a slow
 * Slack); `resets` cuts the connection without acting; `down()` closes the port (connections
 * refused, as when Slack is unreachable) and `up()` opens it again on the same port.
 */
export class SlackStandIn {
  readonly calls: RecordedCall[] = [];
  /** Top-level messages and thread replies, in the order they were posted. */
  readonly messages: HeldMessage[] = [];
  /** Members per user group id, for usergroups.users.list. */
  readonly usergroups = new Map<string, string[]>();
  /** Methods answered `{ok: false, error}` with this error, until removed. */
  readonly failures = new Map<string, string>();
  /** Methods answered only after this many ms, having acted at once (as a slow Slack does), until removed. */
  readonly delays = new Map<string, number>();
  /** Methods whose requests are read, not acted on, and answered by cutting the connection, until removed. */
  readonly resets = new Set<string>();
  /** Every ack received over Socket Mode, in order. */
  readonly acks: SocketAck[] = [];
  private server: Server;
  private readonly webSockets = new WebSocketServer({ noServer: true });
  private readonly sockets = new Set<WebSocket>();
  /** Tickets of the Socket Mode URLs handed out and not used yet. */
  private readonly tickets = new Set<string>();
  private readonly ackWaiters = new Map<string, (ack: SocketAck) => void>();
  private readonly clock: Clock;
  private lastTsMicros = 0n;
  private pingTimer: NodeJS.Timeout | undefined;
  /** Answers being delayed: released when the stand-in goes down. */
  private readonly held = new Set<() => void>();

  private constructor(
    private port: number,
    options: SlackStandInOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.server = this.createServer();
  }

  static async start(options: SlackStandInOptions = {}): Promise<SlackStandIn> {
    const standIn = new SlackStandIn(0, options);
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

  /** Top-level messages of a channel (what people see in it), oldest first. */
  channelMessages(channel: string): HeldMessage[] {
    return this.messages.filter((message) => message.channel === channel && message.thread_ts === undefined);
  }

  /** Socket Mode connections open now. */
  get socketConnections(): number {
    return this.sockets.size;
  }

  /**
   * Sends an `interactive` envelope (a button click, a modal's submission) over the newest Socket
   * Mode connection, waiting for one if none is open yet, and resolves with the app's ack.
   */
  async interactive(payload: Record<string, unknown>): Promise<SocketAck> {
    const socket = await this.openSocket();
    const envelopeId = randomUUID();
    const acked = new Promise<SocketAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.ackWaiters.delete(envelopeId);
        reject(new Error(`no ack for envelope ${envelopeId} (${String(payload.type)}) within ${SOCKET_WAIT_MS} ms`));
      }, SOCKET_WAIT_MS);
      this.ackWaiters.set(envelopeId, (ack) => {
        clearTimeout(timer);
        resolve(ack);
      });
    });
    // Slack lets the app answer in the ack only where the answer means something (a modal's submission).
    const envelope = {
      envelope_id: envelopeId,
      type: 'interactive',
      payload,
      accepts_response_payload: payload.type === 'view_submission',
    };
    socket.send(JSON.stringify(envelope));
    return acked;
  }

  async down(): Promise<void> {
    clearInterval(this.pingTimer);
    // Upgraded connections are no longer the HTTP server's: end them first, or close() waits on them.
    for (const socket of this.sockets) socket.terminate();
    this.sockets.clear();
    for (const release of [...this.held]) release();
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
    this.webSockets.close();
  }

  private async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    // Slack pings its Socket Mode clients; one that hears nothing for 30 s reconnects.
    this.pingTimer = setInterval(() => {
      for (const socket of this.sockets) socket.ping();
    }, 5_000);
    this.pingTimer.unref();
  }

  private createServer(): Server {
    const server = createServer((request, response) => {
      // A failure of the stand-in itself ends the request (the test sees it) rather than hanging it.
      void this.handle(request, response).catch((error: unknown) => response.destroy(error as Error));
    });
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(request, socket, head),
    );
    return server;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const method = new URL(request.url ?? '/', 'http://localhost').pathname.replace(/^\/api\//, '');
    const body = parseBody(raw, request.headers['content-type'] ?? '');
    const token =
      /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ??
      (typeof body.token === 'string' ? body.token : undefined);
    if (this.resets.has(method)) {
      this.calls.push({ method, body, token, response: {} });
      request.socket.destroy();
      return;
    }
    const answer = this.answer(method, body, token);
    this.calls.push({ method, body, token, response: answer });
    const delay = this.delays.get(method);
    if (delay !== undefined) await this.hold(delay);
    // The client may have given up (its timeout) meanwhile: there is no one left to answer.
    if (response.destroyed || request.socket.destroyed) return;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(answer));
  }

  /** Waits `ms`, or until down() drops the connections the answers were for. */
  private hold(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const release = (): void => {
        clearTimeout(timer);
        this.held.delete(release);
        resolve();
      };
      const timer = setTimeout(release, ms);
      this.held.add(release);
    });
  }

  private answer(method: string, body: Record<string, unknown>, token: string | undefined): Record<string, unknown> {
    const failure = this.failures.get(method);
    if (failure) return { ok: false, error: failure };
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          url: 'https://acme.slack.com/',
          team: 'Acme',
          user: 'harombe',
          team_id: 'T1',
          user_id: 'UBOT',
          bot_id: 'BBOT',
        };
      case 'chat.postMessage':
        return this.postMessage(body);
      case 'chat.update': {
        const held = this.messages.find((message) => message.channel === body.channel && message.ts === body.ts);
        if (!held) return { ok: false, error: 'message_not_found' };
        held.text = body.text;
        held.blocks = body.blocks;
        if (isObject(body.metadata)) held.metadata = body.metadata;
        return { ok: true, channel: body.channel, ts: body.ts, text: body.text };
      }
      case 'chat.postEphemeral':
        return { ok: true, message_ts: this.newTs() };
      case 'conversations.history':
        return this.history(body);
      case 'views.open':
        return { ok: true, view: { id: `V${this.calls.length}` } };
      case 'apps.connections.open': {
        // Only an app-level token opens a connection, as with Slack.
        if (!token?.startsWith('xapp-')) return { ok: false, error: 'not_allowed_token_type' };
        const ticket = randomUUID();
        this.tickets.add(ticket);
        return { ok: true, url: `ws://127.0.0.1:${this.port}/link/?ticket=${ticket}&app_id=A1` };
      }
      case 'usergroups.users.list':
        return { ok: true, users: this.usergroups.get(String(body.usergroup)) ?? [] };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private postMessage(body: Record<string, unknown>): Record<string, unknown> {
    const ts = this.newTs();
    const threadTs = typeof body.thread_ts === 'string' ? body.thread_ts : undefined;
    const metadata = isObject(body.metadata) ? body.metadata : undefined;
    this.messages.push({
      channel: String(body.channel),
      ts,
      text: body.text,
      blocks: body.blocks,
      metadata,
      thread_ts: threadTs,
    });
    return {
      ok: true,
      channel: body.channel,
      ts,
      message: { type: 'message', ts, text: body.text, bot_id: 'BBOT', ...(metadata ? { metadata } : {}) },
    };
  }

  /**
   * A channel's top-level messages after `oldest` (and before `latest`), newest first, a page of
   * `limit` at a time (the cursor is an offset here); metadata only with `include_all_metadata`.
   */
  private history(body: Record<string, unknown>): Record<string, unknown> {
    const oldest = body.oldest === undefined ? -1n : tsMicros(body.oldest as string);
    const latest = body.latest === undefined ? undefined : tsMicros(body.latest as string);
    const limit = Math.min(Number(body.limit ?? 100) || 100, 999);
    const offset = Number(body.cursor ?? 0) || 0;
    const withMetadata =
      body.include_all_metadata === true || body.include_all_metadata === 'true' || body.include_all_metadata === '1';
    const matching = this.channelMessages(String(body.channel))
      .filter((message) => tsMicros(message.ts) > oldest && (latest === undefined || tsMicros(message.ts) < latest))
      .reverse();
    const page = matching.slice(offset, offset + limit);
    const more = offset + limit < matching.length;
    return {
      ok: true,
      messages: page.map((message) => ({
        type: 'message',
        user: 'UBOT',
        bot_id: 'BBOT',
        ts: message.ts,
        text: message.text,
        blocks: message.blocks,
        ...(withMetadata && message.metadata ? { metadata: message.metadata } : {}),
      })),
      has_more: more,
      response_metadata: { next_cursor: more ? String(offset + limit) : '' },
    };
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const ticket = url.searchParams.get('ticket') ?? '';
    if (url.pathname !== '/link/' || !this.tickets.delete(ticket)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    this.webSockets.handleUpgrade(request, socket, head, (webSocket) => {
      this.sockets.add(webSocket);
      webSocket.on('close', () => this.sockets.delete(webSocket));
      webSocket.on('message', (data: RawData) => this.received(data));
      webSocket.send(
        JSON.stringify({
          type: 'hello',
          num_connections: this.sockets.size,
          debug_info: { host: 'applink-stand-in', build_number: 1, approximate_connection_time: 18_060 },
          connection_info: { app_id: 'A1' },
        }),
      );
    });
  }

  private received(data: RawData): void {
    let message: unknown;
    try {
      message = JSON.parse(rawText(data));
    } catch {
      return;
    }
    if (!isObject(message) || typeof message.envelope_id !== 'string') return;
    const ack: SocketAck = {
      envelope_id: message.envelope_id,
      ...(isObject(message.payload) ? { payload: message.payload } : {}),
    };
    this.acks.push(ack);
    this.ackWaiters.get(ack.envelope_id)?.(ack);
    this.ackWaiters.delete(ack.envelope_id);
  }

  private async openSocket(): Promise<WebSocket> {
    return vi.waitFor(
      () => {
        const newest = [...this.sockets].filter((socket) => socket.readyState === socket.OPEN).at(-1);
        if (!newest) throw new Error(`no Socket Mode connection within ${SOCKET_WAIT_MS} ms`);
        return newest;
      },
      { timeout: SOCKET_WAIT_MS, interval: 20 },
    );
  }

  /** A ts as Slack makes them: the clock's time in seconds with 6 decimals, unique and increasing. */
  private newTs(): string {
    const now = BigInt(this.clock.now()) * 1000n;
    this.lastTsMicros = now > this.lastTsMicros ? now : this.lastTsMicros + 1n;
    const digits = this.lastTsMicros.toString();
    return `${digits.slice(0, -6)}.${digits.slice(-6)}`;
  }
}

/** A ts (or an `oldest`/`latest` bound) in microseconds, exactly. */
function tsMicros(ts: string): bigint {
  const [seconds = '0', fraction = ''] = ts.split('.');
  return BigInt(seconds) * 1_000_000n + BigInt(fraction.padEnd(6, '0').slice(0, 6) || '0');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
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
