import type { ProgressToken, ServerNotification } from '@modelcontextprotocol/sdk/types.js';

/**
 * Sends one call's MCP progress notifications: only when the client asked for them (a
 * progressToken in the request's `_meta`), with a progress count that grows with each one, as
 * the protocol requires. A notification that cannot be sent is dropped: progress never fails a
 * call.
 */
export class ProgressReporter {
  private progress = 0;
  private lastSentAt = -Infinity;

  constructor(
    private readonly token: ProgressToken | undefined,
    private readonly send: (notification: ServerNotification) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the client listens: without a token nothing is sent. */
  get enabled(): boolean {
    return this.token !== undefined;
  }

  /** Milliseconds since the last notification sent (Infinity before the first). */
  get quietMs(): number {
    return this.now() - this.lastSentAt;
  }

  async report(message: string): Promise<void> {
    if (this.token === undefined) return;
    this.progress += 1;
    this.lastSentAt = this.now();
    await this.send({
      method: 'notifications/progress',
      params: { progressToken: this.token, progress: this.progress, message },
    }).catch(() => undefined);
  }
}
