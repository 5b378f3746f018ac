import type { Approval, JobStatus } from '@harombe/core';
import type { JobEvents, RedisKeys } from '@harombe/queue';
import type { DeliveryObserver, SlackOutbox } from '@harombe/slack-approvals';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ApprovalMetricsOptions {
  registry: Registry;
  /** A command connection. */
  redis: Redis;
  keys: RedisKeys;
  events: JobEvents;
  logger: Logger;
  /** How long a counted decision is remembered, s (against counting it twice). Default 86 400. */
  rememberSeconds?: number;
}

/** Seconds from submission to decision: from a quick click to a day-long timeout. */
const DECISION_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14_400, 86_400];
const ENDING_STATUSES: ReadonlySet<JobStatus> = new Set(['queued', 'denied', 'expired', 'cancelled']);

/**
 * The approval metrics of issue 4 that the fleet-wide ones (harombe_approvals_pending by risk,
 * harombe_approvals_total by outcome and risk) leave out: decisions by outcome and channel,
 * time to decision by channel, and Slack deliveries. Decisions are counted from job events,
 * whichever process made them (the API, Slack, the timeout), and each once across approval
 * service instances (a Redis SET NX per approval). Pub/sub may drop an event while the
 * subscription reconnects: such a decision goes uncounted.
 */
export class ApprovalMetrics implements DeliveryObserver {
  private readonly decisions: Counter<'outcome' | 'channel'>;
  private readonly timeToDecision: Histogram<'outcome' | 'channel'>;
  private readonly deliveryFailures: Counter<'kind'>;
  private readonly rememberSeconds: number;
  private unsubscribe: (() => void) | undefined;
  private outbox: SlackOutbox | undefined;

  constructor(private readonly options: ApprovalMetricsOptions) {
    const registers = [options.registry];
    this.rememberSeconds = options.rememberSeconds ?? 86_400;
    this.decisions = new Counter({
      name: 'harombe_approval_decisions_total',
      help: 'Approvals ended, by outcome (approved, denied, expired, cancelled) and channel (api, slack, timeout)',
      labelNames: ['outcome', 'channel'],
      registers,
    });
    this.timeToDecision = new Histogram({
      name: 'harombe_approval_time_to_decision_seconds',
      help: 'Seconds from submission to the end of the approval, by outcome and channel',
      labelNames: ['outcome', 'channel'],
      buckets: DECISION_BUCKETS,
      registers,
    });
    this.deliveryFailures = new Counter({
      name: 'harombe_slack_delivery_failures_total',
      help: 'Slack Web API calls that failed, by kind (announce, update, remind: retried from the outbox; ephemeral, modal: answers to a click)',
      labelNames: ['kind'],
      registers,
    });
    const outboxSize = async (): Promise<number> => (this.outbox ? this.outbox.size() : 0);
    new Gauge({
      name: 'harombe_slack_outbox_pending',
      help: 'Slack deliveries waiting in the outbox (due, retrying, or scheduled reminders)',
      registers,
      async collect() {
        this.set(await outboxSize());
      },
    });
    for (const kind of ['announce', 'update', 'remind', 'ephemeral', 'modal']) this.deliveryFailures.inc({ kind }, 0);
  }

  /** Counts the outbox's size too. */
  watchOutbox(outbox: SlackOutbox): void {
    this.outbox = outbox;
  }

  start(): void {
    this.unsubscribe ??= this.options.events.onEvent((jobId, status, { approval }) => {
      // Only a job with an approval has a decision to count: the others are not read at all.
      if (!approval || !ENDING_STATUSES.has(status)) return;
      this.countDecision(jobId).catch((error: unknown) =>
        this.options.logger.warn({ err: error, job_id: jobId }, 'decision not counted'),
      );
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  deliveryFailed(kind: string): void {
    this.deliveryFailures.inc({ kind });
  }

  private async countDecision(jobId: string): Promise<void> {
    const { redis, keys } = this.options;
    const [approvalJson, createdAt] = await redis.hmget(keys.job(jobId), 'approval', 'created_at');
    if (!approvalJson) return;
    const approval = JSON.parse(approvalJson) as Approval;
    if (approval.status === 'pending' || !approval.channel) return;
    const first = await redis.set(
      `${keys.tag}:approval-metrics:counted:${approval.approval_id}`,
      '1',
      'EX',
      this.rememberSeconds,
      'NX',
    );
    if (first !== 'OK') return;
    const labels = { outcome: approval.status, channel: approval.channel };
    this.decisions.inc(labels);
    const decidedAt = approval.decided_at ? Date.parse(approval.decided_at) : Number.NaN;
    const seconds = (decidedAt - Number(createdAt)) / 1000;
    if (Number.isFinite(seconds) && seconds >= 0) this.timeToDecision.observe(labels, seconds);
  }
}
