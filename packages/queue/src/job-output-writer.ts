import type { JobEventStream, OutputChunk, OutputStreamName } from './job-event-stream.js';

export interface JobOutputWriterOptions {
  /** Output waiting this long (UTF-16 code units) goes out at once. Default 32 768. */
  flushChars?: number;
  /**
   * After output went out, more waits up to this long (ms) to go out together, so a chatty
   * program costs Redis a few appends per second rather than one per write. Output after a
   * quiet spell goes out at once. Default 25.
   */
  intervalMs?: number;
  /** Told when an append fails (the output still reaches the result). Default: ignored. */
  onError?: (error: unknown) => void;
}

/** The largest event an append makes: bigger output is cut into several, so readers page in small steps. */
const MAX_EVENT_CHARS = 32_768;

/**
 * A running job's output on its way to the job's event stream: what the program writes is
 * coalesced and appended in order, one append at a time (a slow Redis makes the chunks larger,
 * not more numerous). finish() waits for the append in flight and hands over what is left, for
 * the job's end step to append before its end event (most programs' last write comes just before
 * they end: one append fewer per job).
 */
export class JobOutputWriter {
  private readonly flushChars: number;
  private readonly intervalMs: number;
  private pending: OutputChunk[] = [];
  private pendingChars = 0;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastSentAt = Number.NEGATIVE_INFINITY;
  /** The job no longer runs here (cancelled, lost): nothing more is appended. */
  private refused = false;
  /** finish() was called: what is written now is dropped. */
  private finished = false;

  constructor(
    private readonly stream: JobEventStream,
    private readonly jobId: string,
    private readonly workerId: string,
    private readonly options: JobOutputWriterOptions = {},
  ) {
    this.flushChars = options.flushChars ?? 32_768;
    this.intervalMs = options.intervalMs ?? 25;
  }

  write(stream: OutputStreamName, text: string): void {
    if (text === '' || this.refused || this.finished) return;
    // One chunk per stream and append: the stream written first goes first.
    const same = this.pending.find((chunk) => chunk.stream === stream);
    if (same) same.text += text;
    else this.pending.push({ stream, text });
    this.pendingChars += text.length;
    this.schedule();
  }

  /**
   * Stops appending: resolves, once the append in flight has been answered, with the output not
   * yet sent (none once the job no longer runs here).
   */
  async finish(): Promise<OutputChunk[]> {
    this.finished = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight) await this.inFlight;
    const rest = this.refused ? [] : this.pending.flatMap((chunk) => cut(chunk));
    this.pending = [];
    this.pendingChars = 0;
    return rest;
  }

  private schedule(): void {
    if (this.inFlight || this.pending.length === 0 || this.refused || this.finished) return;
    const wait = this.lastSentAt + this.intervalMs - performance.now();
    if (wait <= 0 || this.pendingChars >= this.flushChars) {
      this.send();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.schedule();
    }, wait);
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const chunks = this.pending.flatMap((chunk) => cut(chunk));
    this.pending = [];
    this.pendingChars = 0;
    this.lastSentAt = performance.now();
    this.inFlight = this.stream
      .appendOutput(this.jobId, this.workerId, chunks)
      .then(
        (added) => {
          if (!added) this.refused = true;
        },
        (error: unknown) => this.options.onError?.(error),
      )
      .finally(() => {
        this.inFlight = undefined;
        this.schedule();
      });
  }
}

/** A chunk as events of at most MAX_EVENT_CHARS, never splitting a surrogate pair. */
function cut(chunk: OutputChunk): OutputChunk[] {
  if (chunk.text.length <= MAX_EVENT_CHARS) return [chunk];
  const pieces: OutputChunk[] = [];
  for (let start = 0; start < chunk.text.length;) {
    let end = Math.min(start + MAX_EVENT_CHARS, chunk.text.length);
    const code = chunk.text.charCodeAt(end - 1);
    if (end < chunk.text.length && code >= 0xd800 && code <= 0xdbff) end -= 1;
    pieces.push({ stream: chunk.stream, text: chunk.text.slice(start, end) });
    start = end;
  }
  return pieces;
}
