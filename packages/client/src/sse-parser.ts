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
  /**
   * The current line's text so far, in the pieces it came in: joined once, at its end (a string
   * grown piece by piece would be copied whole at every look, a 32 MiB result quadratically).
   */
  private partial: string[] = [];
  /** The previous piece ended with CR: a LF starting this one belongs to it. */
  private afterCr = false;
  private event = '';
  private data: string[] = [];
  private id: string | undefined;

  /** The events completed by this piece of text. */
  push(text: string): SseMessage[] {
    let start = this.afterCr && text.startsWith('\n') ? 1 : 0;
    this.afterCr = false;
    const messages: SseMessage[] = [];
    for (;;) {
      const end = lineEnd(text, start);
      if (end < 0) {
        if (start < text.length) this.partial.push(text.slice(start));
        break;
      }
      let line = text.slice(start, end);
      if (this.partial.length > 0) {
        this.partial.push(line);
        line = this.partial.join('');
        this.partial = [];
      }
      start = end + 1;
      if (text[end] === '\r') {
        if (start === text.length) this.afterCr = true;
        else if (text[start] === '\n') start += 1;
      }
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
