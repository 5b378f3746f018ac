import type { AuditTrail } from '@harombe/queue';
import type { Logger } from 'pino';

export interface RefusedAuthRecorderOptions {
  /** Where refusals are recorded (type authentication_refused). Default: the log alone. */
  audit?: AuditTrail;
  logger: Logger;
  /** Refusals recorded one by one per source address and window; the rest are counted. Default 5. */
  perAddress?: number;
  /** The window, in milliseconds; its counts are recorded as one summary when it ends. Default 60 000. */
  windowMs?: number;
  /** Source addresses tracked at once; past it, the others share one count. Default 10 000. */
  maxAddresses?: number;
}

/** One refused request: where it came from, what it asked for, why it was refused. */
export interface RefusedAuth {
  address: string;
  method: string;
  route: string;
  /** missing_or_malformed, unknown_key */
  reason: string;
  /** The first 12 hex digits of the SHA-256 of the key tried: repeats can be told apart, the key cannot be read back. */
  key_sha256_prefix: string | null;
}

/**
 * Records requests refused for their API key, in the log and the audit trail, without letting a
 * flood of bad keys fill either: per source address, the first few per window one by one, the
 * rest as one summary per address when the window ends (the trail is never trimmed).
 */
export class RefusedAuthRecorder {
  private readonly perAddress: number;
  private readonly maxAddresses: number;
  private readonly counts = new Map<string, { recorded: number; suppressed: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: RefusedAuthRecorderOptions) {
    this.perAddress = options.perAddress ?? 5;
    this.maxAddresses = options.maxAddresses ?? 10_000;
    this.timer = setInterval(() => {
      this.flush().catch((error: unknown) =>
        options.logger.error({ err: error }, 'refused authentications not summarised'),
      );
    }, options.windowMs ?? 60_000);
    this.timer.unref();
  }

  refused(attempt: RefusedAuth): void {
    const address = this.counts.has(attempt.address) || this.counts.size < this.maxAddresses ? attempt.address : '*';
    const count = this.counts.get(address) ?? { recorded: 0, suppressed: 0 };
    this.counts.set(address, count);
    if (count.recorded >= this.perAddress) {
      count.suppressed += 1;
      return;
    }
    count.recorded += 1;
    this.options.logger.warn(attempt, 'authentication refused');
    // record() logs its own failure: a refusal is answered whether or not its record was written.
    this.record({ ...attempt }).catch(() => undefined);
  }

  /** Ends the window: one summary per address that had refusals past the first few. */
  async flush(): Promise<void> {
    const summaries = [...this.counts].filter(([, count]) => count.suppressed > 0);
    this.counts.clear();
    for (const [address, count] of summaries) {
      this.options.logger.warn(
        { address, count: count.suppressed },
        'authentication refused (more from this address, counted)',
      );
      await this.record({ address, reason: 'summary', count: count.suppressed });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async record(details: Record<string, unknown>): Promise<void> {
    try {
      await this.options.audit?.append({ type: 'authentication_refused', channel: 'api', actor: null, details });
    } catch (error) {
      this.options.logger.error({ err: error }, 'recording a refused authentication failed');
    }
  }
}
