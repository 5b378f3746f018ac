import {
  isTerminal,
  WebhookEventType,
  type Clock,
  type JobStatus,
  type JobView,
  type WebhookEvent,
} from '@harombe/core';
import { BatchViews, toJobView, type BatchStore, type JobStore } from '@harombe/queue';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DeliveryQueue } from './delivery-queue.js';
import type { WebhookDeliveries } from './webhook-deliveries.js';
import { deliveryIdOf, eventIdOf, type WebhookKeys } from './webhook-keys.js';
import { CLAIM_WEBHOOK_EVENTS } from './webhook-scripts.js';
import type { WebhookSubscriptions } from './webhook-subscriptions.js';

export interface WebhookDispatcherOptions {
  /** A command connection. */
  redis: Redis;
  keys: WebhookKeys;
  store: JobStore;
  batches: BatchStore;
  subscriptions: WebhookSubscriptions;
  deliveries: WebhookDeliveries;
  queue: DeliveryQueue;
  /** The clock of the job store's steps, which time the recorded events. Deliveries keep real time. */
  clock: Clock;
  logger: Logger;
  /** Milliseconds between looks at the recorded events (job events wake it sooner). Default 1 000. */
  intervalMs?: number;
  /** How long a claimed event is held before another dispatcher may take it over, ms. Default 30 000. */
  leaseMs?: number;
  /** Milliseconds between reconciliations of pending deliveries with their BullMQ jobs. Default 30 000. */
  reconcileEveryMs?: number;
  /** A pending delivery this long past due without a live BullMQ job is queued again, ms. Default 60 000. */
  reconcileAfterMs?: number;
}

/** Events claimed per round trip. */
const PAGE = 100;

interface Target {
  target: 'callback' | 'subscription';
  subscription_id: string | null;
  url: string;
}

/**
 * Turns the events the job store's scripts record (RedisKeys.webhookEvents) into deliveries: one
 * per event and target (the job's or batch's callback_url, the tenant's subscriptions), each put
 * on the webhooks queue. An event leaves the record only once its deliveries exist, and every id
 * follows from the event, so a crash or a second dispatcher makes nothing twice; a dispatcher that
 * dies while holding events loses them to another after the lease. The last job.finished of a
 * batch records batch.finished the same way. Any number of dispatchers may run.
 */
export class WebhookDispatcher {
  private readonly redis: Redis;
  private readonly intervalMs: number;
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private again = false;
  private reconcileDue = 0;
  private readonly batchViews: BatchViews;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.redis = options.redis;
    this.batchViews = new BatchViews({ store: options.store, batches: options.batches });
    this.intervalMs = options.intervalMs ?? 1_000;
    this.leaseMs = options.leaseMs ?? 30_000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop();
  }

  /** Looks at the events now (a job event said one may be there); pub/sub may drop it, the timer does not. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Turns every recorded event due now into deliveries; answers how many events it handled. */
  async drain(): Promise<number> {
    let handled = 0;
    for (;;) {
      const claimed = await CLAIM_WEBHOOK_EVENTS.run(
        this.redis,
        [this.options.keys],
        [String(this.options.clock.now()), String(this.leaseMs), String(PAGE)],
      );
      for (const member of claimed) {
        try {
          await this.fanOut(member);
          handled += 1;
        } catch (error) {
          // Left claimed: it is taken up again after the lease.
          this.options.logger.error({ err: error, event: member }, 'webhook event not fanned out; retrying later');
        }
      }
      if (claimed.length < PAGE) return handled;
    }
  }

  /**
   * Queues again the pending deliveries whose BullMQ job is gone (a job that failed for reasons of
   * its own, say Redis failing under it over and over): no delivery stays pending forever.
   */
  async reconcile(): Promise<number> {
    const { deliveries, queue, logger } = this.options;
    // Deliveries keep real time, as BullMQ's delays do.
    const now = Date.now();
    let requeued = 0;
    for (const deliveryId of await deliveries.overdue(now - (this.options.reconcileAfterMs ?? 60_000), PAGE)) {
      const record = await deliveries.get(deliveryId);
      if (!record || record.state !== 'pending') {
        await this.redis.zrem(this.options.keys.due(), deliveryId);
        continue;
      }
      if (await queue.isLive(deliveryId, record.round)) {
        // Waiting behind others or running: looked at again after the grace.
        await this.redis.zadd(this.options.keys.due(), 'XX', now, deliveryId);
        continue;
      }
      const round = record.round + 1;
      if (!(await deliveries.update(record, 'pending', { round }, now, { from: 'pending', dueAt: now }))) continue;
      await queue.add(deliveryId, round);
      logger.warn({ delivery_id: deliveryId, round }, 'pending webhook delivery had no queued job: queued again');
      requeued += 1;
    }
    return requeued;
  }

  private loop(): void {
    this.running = this.sweep()
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'webhook dispatch failed'))
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.loop();
          return;
        }
        this.timer = setTimeout(() => this.loop(), this.intervalMs);
      });
  }

  private async sweep(): Promise<void> {
    await this.drain();
    const now = Date.now();
    if (now >= this.reconcileDue) {
      this.reconcileDue = now + (this.options.reconcileEveryMs ?? 30_000);
      await this.reconcile();
    }
  }

  /** One recorded event (`<type> <subject> <ms>`) into its deliveries, then off the record. */
  private async fanOut(member: string): Promise<void> {
    const { logger } = this.options;
    const [rawType, subject = '', at] = member.split(' ');
    const type = WebhookEventType.safeParse(rawType);
    const createdAt = Number(at) || this.options.clock.now();
    const found = type.success && subject ? await this.subjectOf(type.data, subject, createdAt) : undefined;
    if (!type.success || !found) {
      logger.warn({ event: member }, 'webhook event dropped: its job or batch is no longer kept');
      await this.redis.zrem(this.options.keys.events(), member);
      return;
    }
    const targets = [
      ...(found.callbackUrl ? [{ target: 'callback', subscription_id: null, url: found.callbackUrl } as const] : []),
      ...(await this.options.subscriptions.forEvent(found.tenant, type.data)).map((subscription): Target => ({
        target: 'subscription',
        subscription_id: subscription.subscription_id,
        url: subscription.url,
      })),
    ];
    if (targets.length > 0) await this.deliver(type.data, subject, createdAt, found, targets);
    await this.redis.zrem(this.options.keys.events(), member);
  }

  private async deliver(
    type: WebhookEventType,
    subject: string,
    createdAt: number,
    found: { tenant: string; data: WebhookEvent['data'] },
    targets: Target[],
  ): Promise<void> {
    const { keys, deliveries, queue, logger } = this.options;
    const eventId = eventIdOf(type, subject);
    const event = { id: eventId, type, created_at: new Date(createdAt).toISOString(), data: found.data };
    // The first fan-out's body stays: every delivery and retry of the event sends the same bytes.
    await this.redis.set(keys.event(eventId), JSON.stringify(event), 'EX', deliveries.retentionSeconds, 'NX');
    for (const target of targets) {
      const deliveryId = deliveryIdOf(eventId, target.subscription_id ?? 'callback');
      const { created, state, round } = await deliveries.create({
        delivery_id: deliveryId,
        event_id: eventId,
        event_type: type,
        subject_id: subject,
        tenant: found.tenant,
        ...target,
        state: 'pending',
        attempts: 0,
        round: 0,
        created_at: Date.now(),
        first_attempt_at: null,
        last_attempt_at: null,
        next_attempt_at: Date.now(),
        finished_at: null,
        last_status: null,
        last_error: null,
      });
      if (state === 'pending') await queue.add(deliveryId, round);
      if (created)
        logger.info(
          { delivery_id: deliveryId, event_id: eventId, event_type: type, subject_id: subject, tenant: found.tenant },
          'webhook delivery queued',
        );
    }
  }

  /** The job or batch an event is about, as the event carries it; undefined when it is gone. */
  private async subjectOf(
    type: WebhookEventType,
    subject: string,
    createdAt: number,
  ): Promise<{ tenant: string; callbackUrl: string | undefined; data: WebhookEvent['data'] } | undefined> {
    if (type === 'batch.finished') {
      const batch = await this.options.batches.get(subject);
      if (!batch) return undefined;
      // Counts only: the receiver pages through GET /v1/batches/{id} (or reads /results).
      const view = await this.batchViews.page(batch, 0, 0);
      return { tenant: batch.tenant, callbackUrl: batch.callback_url, data: { batch: view } };
    }
    const job = await this.options.store.get(subject);
    if (!job) return undefined;
    if (type === 'job.finished' && job.batch_id) await this.recordBatchEnd(job.batch_id, createdAt);
    const view: JobView = toJobView(job);
    return { tenant: job.tenant, callbackUrl: job.callback_url ?? undefined, data: { job: view } };
  }

  /**
   * Records batch.finished when every job of the batch has ended. Looked at after each of its
   * jobs' ends, before that end leaves the record: the last one always sees the batch complete.
   */
  private async recordBatchEnd(batchId: string, at: number): Promise<void> {
    const batch = await this.options.batches.get(batchId);
    if (!batch || batch.total === 0) return;
    const counts = await this.options.batches.counts(batchId);
    const ended = Object.entries(counts).reduce(
      (sum, [status, n]) => sum + (isTerminal(status as JobStatus) ? (n ?? 0) : 0),
      0,
    );
    if (ended < batch.total) return;
    await this.redis.zadd(
      this.options.keys.events(),
      'NX',
      this.options.clock.now(),
      `batch.finished ${batchId} ${at}`,
    );
  }
}
