import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { ResolvedTarget } from './target-guard.js';

/** What one HTTP attempt came to. */
export interface AttemptResult {
  /** `delivered`: a 2xx answer arrived within the time allowed. */
  outcome: 'delivered' | 'failed';
  /** The answer's status; null when none came (timeout, reset, refused connection). */
  status: number | null;
  /** What Retry-After asked for, in ms; null without one. */
  retryAfterMs: number | null;
  /** Why it failed, for people; null when delivered. */
  error: string | null;
  durationMs: number;
}

export interface WebhookSenderOptions {
  /** Milliseconds to connect (TCP, and TLS for https). Default 5 000. */
  connectTimeoutMs?: number;
  /** Milliseconds the whole attempt may take, answer included. Default 10 000. */
  timeoutMs?: number;
  /** Bytes of the answer read at most; the rest is not waited for. Default 65 536. */
  maxResponseBytes?: number;
  /** Default: Harombe-Webhooks/1. */
  userAgent?: string;
}

/** Characters of an answer or a Location header kept in an error message. */
const SNIPPET_CHARS = 200;

/**
 * Makes one delivery attempt: a POST to the resolved address, never to another one. The name is
 * not resolved again (the connection's lookup answers the checked address), redirects are not
 * followed, and connecting, the whole exchange and the answer's size are bounded.
 */
export class WebhookSender {
  private readonly connectTimeoutMs: number;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly userAgent: string;

  constructor(options: WebhookSenderOptions = {}) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxResponseBytes = options.maxResponseBytes ?? 65_536;
    this.userAgent = options.userAgent ?? 'Harombe-Webhooks/1';
  }

  send(target: ResolvedTarget, headers: Record<string, string>, body: string): Promise<AttemptResult> {
    const started = performance.now();
    const { url, host, address, family } = target;
    const secure = url.protocol === 'https:';
    // The checked address, whatever a resolver would answer now.
    const pinned: LookupFunction = (_hostname, options, callback) => {
      if (options.all) callback(null, [{ address, family }]);
      else callback(null, address, family);
    };
    return new Promise<AttemptResult>((resolve) => {
      let settled = false;
      // What the answer said so far: a timeout during a slow body still reports its status.
      let answered: { status: number; retryAfterMs: number | null } = { status: 0, retryAfterMs: null };
      const finish = (result: Omit<AttemptResult, 'durationMs'>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        clearTimeout(overallTimer);
        request.destroy();
        resolve({ ...result, durationMs: performance.now() - started });
      };
      const failed = (error: string): void =>
        finish({
          outcome: 'failed',
          status: answered.status || null,
          retryAfterMs: answered.retryAfterMs,
          error,
        });
      const options: https.RequestOptions = {
        method: 'POST',
        host: isIP(host) ? address : host,
        port: url.port || (secure ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        headers: {
          ...headers,
          host: url.host,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': this.userAgent,
        },
        // A connection of its own: a pooled one could lead to an address checked for another URL.
        agent: false,
        lookup: pinned,
        ...(secure && !isIP(host) ? { servername: host } : {}),
      };
      const request = (secure ? https : http).request(options);
      const connectTimer = setTimeout(
        () => failed(`no connection within ${this.connectTimeoutMs} ms`),
        this.connectTimeoutMs,
      );
      const overallTimer = setTimeout(() => failed(`no complete answer within ${this.timeoutMs} ms`), this.timeoutMs);
      request.on('socket', (socket) => {
        socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      request.on('error', (error: NodeJS.ErrnoException) => failed(describe(error)));
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        answered = { status, retryAfterMs: parseRetryAfter(response.headers['retry-after']) };
        let received = 0;
        const chunks: Buffer[] = [];
        const done = (): void => {
          if (status >= 200 && status < 300)
            return finish({ outcome: 'delivered', status, retryAfterMs: null, error: null });
          if (status >= 300 && status < 400) {
            const location = snippet(String(response.headers.location ?? 'nowhere'));
            return failed(`redirect not followed (HTTP ${status} to ${location})`);
          }
          const text = snippet(Buffer.concat(chunks).toString('utf8'));
          failed(`HTTP ${status}${text ? `: ${text}` : ''}`);
        };
        response.on('data', (chunk: Buffer) => {
          if (received < SNIPPET_CHARS * 4) chunks.push(chunk);
          received += chunk.length;
          // Enough read: the status is known, the rest is not waited for.
          if (received >= this.maxResponseBytes) done();
        });
        response.on('end', done);
        response.on('error', (error: NodeJS.ErrnoException) => failed(describe(error)));
        response.on('aborted', () => failed('connection closed during the answer'));
      });
      request.end(body);
    });
  }
}

/** Retry-After as ms from now: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return null;
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000;
  // An HTTP date names its day and month (Date.parse would take "-5" for a year).
  const at = /^[A-Za-z]{3},/.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function describe(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNRESET':
      return 'connection reset (ECONNRESET)';
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `unreachable (${error.code})`;
    default:
      return error.code ? `${error.message} (${error.code})` : error.message;
  }
}

/** One line of printable text, cut short. */
function snippet(text: string): string {
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > SNIPPET_CHARS ? `${flat.slice(0, SNIPPET_CHARS)}…` : flat;
}
