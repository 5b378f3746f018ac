/**
 * An AbortSignal that follows a parent signal and, optionally, fires on its own after
 * `timeoutMs`, aborting with the reason `onTimeout` builds. The timer can be paused and
 * re-armed, so it can measure silence (a stalled stream) rather than total time.
 */
export class AbortScope {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onParentAbort = (): void => this.controller.abort(this.parent?.reason);

  constructor(
    private readonly parent: AbortSignal | undefined,
    private readonly timeoutMs: number | undefined,
    private readonly onTimeout: () => unknown,
  ) {
    if (parent?.aborted) this.controller.abort(parent.reason);
    else parent?.addEventListener('abort', this.onParentAbort, { once: true });
    this.rearm();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Starts the timer afresh (a no-op once aborted or without a timeout). */
  rearm(): void {
    this.pause();
    if (this.timeoutMs === undefined || this.controller.signal.aborted) return;
    this.timer = setTimeout(() => this.controller.abort(this.onTimeout()), this.timeoutMs);
  }

  /** Stops the timer until the next rearm(). */
  pause(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Releases the timer and the parent listener; call it once the work is over. */
  dispose(): void {
    this.pause();
    this.parent?.removeEventListener('abort', this.onParentAbort);
  }
}

/** Waits `ms`, rejecting with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
