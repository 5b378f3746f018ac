import { Writable } from 'node:stream';

export const TRUNCATION_MARKER = '\n[OUTPUT TRUNCATED]';

/**
 * A sink that keeps the first `limit` bytes written to it and counts (but drops) the rest, so
 * that a program printing forever costs bounded memory. With `onText`, it also tells the kept
 * bytes as they arrive, decoded exactly as text() decodes them (a character cut between two
 * writes is told whole, invalid UTF-8 as U+FFFD) and with the marker once when the cut comes:
 * the pieces joined, once finish() was called, are text().
 */
export class CappedOutput extends Writable {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private told = false;
  /** Bytes received in all, kept or not. */
  received = 0;

  constructor(
    private readonly limit: number,
    /** Told each piece of text as it arrives. Default: nobody. */
    private readonly onText?: (text: string) => void,
  ) {
    super();
  }

  get truncated(): boolean {
    return this.received > this.limit;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.received += chunk.length;
    const room = this.limit - this.kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.chunks.push(Buffer.from(part));
      this.kept += part.length;
      if (this.onText) this.tell(this.decoder.decode(part, { stream: true }));
    }
    if (this.truncated) this.finish();
    callback();
  }

  /** Tells what the decoder still holds (an unfinished character) and, when cut, the marker: once the output has ended. */
  finish(): void {
    if (this.told || !this.onText) return;
    this.told = true;
    this.tell(this.decoder.decode() + (this.truncated ? TRUNCATION_MARKER : ''));
  }

  /** The kept bytes. */
  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }

  /** The kept bytes as text (invalid UTF-8 becomes U+FFFD), with the marker when truncated. */
  text(): string {
    const text = new TextDecoder('utf-8', { fatal: false }).decode(this.bytes());
    return this.truncated ? text + TRUNCATION_MARKER : text;
  }

  private tell(text: string): void {
    if (text !== '' && this.onText) this.onText(text);
  }
}
