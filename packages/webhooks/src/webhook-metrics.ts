import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What one delivery attempt came to: delivered, failed (retried later), dead (given up). */
export type AttemptOutcome = 'delivered' | 'failed' | 'dead';

export interface WebhookMetricsOptions {
  /** Events recorded and not yet turned into deliveries (for harombe_webhook_events_pending). Default: not exported. */
  pendingEvents?: () => Promise<number>;
}

/** Seconds of one attempt: a quick receiver to the whole timeout. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The webhook metrics of the process that delivers them (the approval service). */
export class WebhookMetrics {
  private readonly deliveries: Counter<'outcome'>;
  private readonly duration: Histogram<'outcome'>;

  constructor(registry: Registry, options: WebhookMetricsOptions = {}) {
    const registers = [registry];
    this.deliveries = new Counter({
      name: 'harombe_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome: delivered, failed (retried later), dead (retries exhausted or target refused)',
      labelNames: ['outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'harombe_webhook_delivery_duration_seconds',
      help: 'Seconds one webhook delivery attempt took, from connecting to the end of the answer, by outcome',
      labelNames: ['outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    for (const outcome of ['delivered', 'failed', 'dead'] as const) this.deliveries.inc({ outcome }, 0);
    const pending = options.pendingEvents;
    if (pending)
      new Gauge({
        name: 'harombe_webhook_events_pending',
        help: 'Webhook events recorded by job steps and not yet turned into deliveries',
        registers,
        async collect() {
          this.set(await pending());
        },
      });
  }

  /** An attempt; without a duration when none was made (a refused target). */
  attempt(outcome: AttemptOutcome, durationMs?: number): void {
    this.deliveries.inc({ outcome });
    if (durationMs !== undefined) this.duration.observe({ outcome }, durationMs / 1000);
  }
}
