import { Writable } from 'node:stream';

export const TRUNCATION_MARKER = '\n[OUTPUT TRUNCATED]';

/**
 * A sink that keeps the first `limit` bytes written to it and counts (but drops) the rest, so
 * that a program printing forever costs bounded memory.
 */
export class CappedOutput extends Writable {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Bytes received in all, kept or not. */
  received = 0;

  constructor(private readonly limit: number) {
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
    }
    callback();
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
}
