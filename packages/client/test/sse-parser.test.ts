import { describe, expect, it } from 'vitest';
import { SseParser, type SseMessage } from '../src/index.js';

/** Feeds `text` to a new parser in pieces cut at `cuts`, and answers every event it completed. */
function parse(text: string, cuts: number[] = []): { messages: SseMessage[]; parser: SseParser } {
  const parser = new SseParser();
  const messages: SseMessage[] = [];
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    messages.push(...parser.push(text.slice(from, cut)));
    from = cut;
  }
  return { messages, parser };
}

const STREAM =
  'retry: 2500\r\n\r\n' +
  ': heartbeat\n\n' +
  'id: 1-0\nevent: status\ndata: {"status":"queued"}\n\n' +
  'id: 1-1\r\nevent: stdout\r\ndata: {"text":"line é€😀\\n"}\r\n\r\n' +
  'data:first\rdata: second\r\r' +
  'event: counts\nunknown: field\ndata\n\n' +
  'event: nothing\n\n' +
  'id: bad\0id\nevent: stderr\ndata: x\n\n';

const EXPECTED: SseMessage[] = [
  { id: '1-0', event: 'status', data: '{"status":"queued"}' },
  { id: '1-1', event: 'stdout', data: '{"text":"line é€😀\\n"}' },
  { id: undefined, event: 'message', data: 'first\nsecond' },
  { id: undefined, event: 'counts', data: '' },
  { id: undefined, event: 'stderr', data: 'x' },
];

describe('SseParser', () => {
  it('reads events, ids, multi-line data and retry; skips comments, unknown fields, events without data and ids with NUL', () => {
    const { messages, parser } = parse(STREAM);
    expect(messages).toEqual(EXPECTED);
    expect(parser.retryMs).toBe(2500);
  });

  it('gives the same events however the text is cut, a CRLF or a character cut included', () => {
    for (let a = 0; a <= STREAM.length; a += 1) {
      const b = Math.min(STREAM.length, a + 7);
      expect(parse(STREAM, [a, b]).messages, `cut at ${a} and ${b}`).toEqual(EXPECTED);
    }
    expect(
      parse(
        STREAM,
        Array.from({ length: STREAM.length }, (_, i) => i),
      ).messages,
    ).toEqual(EXPECTED);
  });

  it('keeps an event unfinished until its blank line, a line in many pieces included', () => {
    const parser = new SseParser();
    const big = 'y'.repeat(1_000_000);
    expect(parser.push('event: stdout\ndata: ')).toEqual([]);
    for (let i = 0; i < big.length; i += 1000) expect(parser.push(big.slice(i, i + 1000))).toEqual([]);
    expect(parser.push('\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ id: undefined, event: 'stdout', data: big }]);
  });
});
