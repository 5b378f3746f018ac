import type { ServerResponse } from 'node:http';

export interface SseConnectionOptions {
  /** Milliseconds without an event before a heartbeat comment (see heartbeat()). */
  heartbeatMs: number;
  /** Milliseconds a client may take nothing while data waits for it; then it is disconnected. */
  stallMs: number;
}

/** One Server-Sent Event. Its data is JSON, which never holds a line break. */
export interface SseEvent {
  /** Omitted for events that are not resumed from (batch counts). */
  id?: string;
  event: string;
  data: string;
}

/** What a client's EventSource waits before reconnecting after a drop (the SSE `retry` field). */
const RETRY_MS = 1000;

/**
 * One text/event-stream answer, written with backpressure: send() resolves once the socket has
 * taken the data, so a caller that reads the next page only then holds one page per connection
 * however slow the client is. A client that takes nothing for `stallMs` is disconnected; it
 * resumes from its Last-Event-ID.
 */
export class SseConnection {
  private readonly controller = new AbortController();
  /** Why it ended early, if it did: it took nothing for stallMs, or the server is shutting down. */
  cut: 'stalled' | 'shutdown' | undefined;

  constructor(
    private readonly response: ServerResponse,
    readonly options: SseConnectionOptions,
  ) {
    response.once('close', () => this.controller.abort());
  }

  /** Aborts when the connection is over: the client left, it stalled, or end() was called. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The status line and headers, and the reconnection delay. */
  open(): Promise<boolean> {
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // The socket goes with the stream: nothing waits on it once the stream has ended.
      connection: 'close',
      // nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    return this.write(`retry: ${RETRY_MS}\n\n`);
  }

  /** Sends events in one write; false once the connection is over. */
  send(events: readonly SseEvent[]): Promise<boolean> {
    let text = '';
    for (const event of events)
      text += `${event.id === undefined ? '' : `id: ${event.id}\n`}event: ${event.event}\ndata: ${event.data}\n\n`;
    return this.write(text);
  }

  /** A comment line, which clients ignore: it keeps proxies from closing an idle stream. */
  heartbeat(): Promise<boolean> {
    return this.write(': heartbeat\n\n');
  }

  end(): void {
    if (!this.response.writableEnded) this.response.end();
    this.controller.abort();
  }

  /** Ends it because the server is going away; its client resumes elsewhere. */
  shutdown(): void {
    this.cut ??= 'shutdown';
    this.end();
  }

  /** Writes, then waits until the socket has taken it (drain), the client leaves, or stallMs pass. */
  private async write(text: string): Promise<boolean> {
    if (this.signal.aborted) return false;
    if (this.response.write(text)) return true;
    const drained = await new Promise<boolean>((resolve) => {
      const done = (outcome: boolean): void => {
        clearTimeout(timer);
        this.response.off('drain', onDrain);
        this.signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const onDrain = (): void => done(true);
      const onAbort = (): void => done(false);
      const timer = setTimeout(() => done(false), this.options.stallMs);
      this.response.once('drain', onDrain);
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
    if (!drained && !this.signal.aborted) {
      // Stalled: whatever is buffered for it is dropped with the socket.
      this.cut = 'stalled';
      this.response.destroy();
      this.controller.abort();
    }
    return drained;
  }
}
