/** One Server-Sent Event as received. */
export interface SseMessage {
  /** The `event` field; `message` when absent. */
  event: string;
  /** The `data` lines, joined by line feeds. */
  data: string;
  /** The `id` field of this event, if it had one. */
  id: string | undefined;
}

/**
 * The text/event-stream format (WHATWG HTML, "Server-sent events"), fed text as it arrives in
 * pieces of any size: lines end with CR, LF or CRLF (a CRLF may be cut between two pieces),
 * comments and unknown fields are ignored, an event is dispatched at a blank line when it has
 * data. `retry` keeps the reconnection delay the server asked for.
 */
export class SseParser {
  /** The server's reconnection delay in ms (`retry` field), once it sent one. */
  retryMs: number | undefined;
  private buffer = '';
  /** How far the buffer is known to hold no line end: a long line is searched once, not per piece. */
  private scanned = 0;
  /** The previous piece ended with CR: a LF starting this one belongs to it. */
  private afterCr = false;
  private event = '';
  private data: string[] = [];
  private id: string | undefined;

  /** The events completed by this piece of text. */
  push(text: string): SseMessage[] {
    if (this.afterCr && text.startsWith('\n')) text = text.slice(1);
    this.afterCr = false;
    this.buffer += text;
    const messages: SseMessage[] = [];
    for (;;) {
      const end = lineEnd(this.buffer, this.scanned);
      if (end < 0) {
        this.scanned = this.buffer.length;
        break;
      }
      this.scanned = 0;
      const line = this.buffer.slice(0, end);
      let next = end + 1;
      if (this.buffer[end] === '\r') {
        if (next === this.buffer.length) this.afterCr = true;
        else if (this.buffer[next] === '\n') next += 1;
      }
      this.buffer = this.buffer.slice(next);
      const message = this.line(line);
      if (message) messages.push(message);
    }
    return messages;
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') {
      const message =
        this.data.length > 0 ? { event: this.event || 'message', data: this.data.join('\n'), id: this.id } : undefined;
      this.event = '';
      this.data = [];
      this.id = undefined;
      return message;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
    }
    return undefined;
  }
}

/** The index of the first CR or LF from `from`, or -1. */
function lineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code === 10 || code === 13) return i;
  }
  return -1;
}
