import {
  isHarombeError,
  WEBHOOK_DELIVERY_ID_HEADER,
  WEBHOOK_EVENT_ID_HEADER,
  WEBHOOK_EVENT_TYPE_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  webhookSignatureHeader,
} from '@harombe/core';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DeliveryJobData, DeliveryQueue } from './delivery-queue.js';
import type { RetrySchedule } from './retry-schedule.js';
import type { ResolvedTarget, WebhookTargetGuard } from './target-guard.js';
import type { DeliveryRecord, WebhookDeliveries } from './webhook-deliveries.js';
import type { WebhookKeys } from './webhook-keys.js';
import type { WebhookMetrics } from './webhook-metrics.js';
import type { WebhookSecrets } from './webhook-secrets.js';
import type { AttemptResult, WebhookSender } from './webhook-sender.js';

export interface WebhookDelivererOptions {
  /** A command connection (event bodies). */
  redis: Redis;
  keys: WebhookKeys;
  queue: DeliveryQueue;
  deliveries: WebhookDeliveries;
  secrets: WebhookSecrets;
  guard: WebhookTargetGuard;
  sender: WebhookSender;
  schedule: RetrySchedule;
  logger: Logger;
  /** Default: not counted. */
  metrics?: WebhookMetrics;
  /** Deliveries made at once. Default 8. */
  concurrency?: number;
}

/**
 * Works the webhooks queue: each job is one attempt of one delivery. The target is checked again
 * (SSRF) and connected to at the address checked; the body is the event's, signed afresh with the
 * tenant's secrets. A 2xx ends it delivered; anything else is retried when the schedule says (a
 * Retry-After honoured) by delaying the same BullMQ job, until the schedule gives up: dead. A
 * target refused at delivery is dead at once. Times are real time: BullMQ's delays are.
 */
export class WebhookDeliverer {
  private worker: Worker<DeliveryJobData> | undefined;

  constructor(private readonly options: WebhookDelivererOptions) {}

  /**
   * Resolves once the worker's connections are up: BullMQ closing a worker whose connections are
   * still being made (a service stopped right after it started) leaves a rejection nobody handles.
   */
  async start(): Promise<void> {
    const { queue } = this.options;
    this.worker ??= new Worker<DeliveryJobData>(queue.name, (job, token) => this.process(job, token), {
      connection: queue.connection,
      prefix: queue.prefix,
      concurrency: this.options.concurrency ?? 8,
      // A delivery whose worker died mid-attempt is taken up again, not failed: the receiver de-duplicates.
      maxStalledCount: 100,
    });
    this.worker.on('error', (error) => this.options.logger.warn({ err: error.message }, 'webhook worker error'));
    await this.worker.waitUntilReady();
  }

  async stop(): Promise<void> {
    await this.worker?.close();
    this.worker = undefined;
  }

  /** One attempt of the job's delivery; exported for tests that drive it without a worker. */
  async process(job: Job<DeliveryJobData>, token?: string): Promise<void> {
    const { deliveries, logger } = this.options;
    const record = await deliveries.get(job.data.delivery_id);
    // Delivered, dead, or taken over by a later round (a manual retry, a reconciliation): nothing to do.
    if (!record || record.state !== 'pending' || record.round !== job.data.round) return;
    const log = logger.child({
      delivery_id: record.delivery_id,
      event_id: record.event_id,
      event_type: record.event_type,
      [record.subject_id.startsWith('batch-') ? 'batch_id' : 'job_id']: record.subject_id,
      tenant: record.tenant,
    });
    const startedAt = Date.now();
    const attempts = record.attempts + 1;
    const attempt = { attempts, first_attempt_at: record.first_attempt_at ?? startedAt, last_attempt_at: startedAt };
    const body = await this.options.redis.get(this.options.keys.event(record.event_id));
    if (body === null) return this.dead(record, log, { ...attempt, last_status: null }, 'the event is no longer kept');

    let target: ResolvedTarget;
    let result: AttemptResult;
    try {
      target = await this.options.guard.resolve(record.url);
    } catch (error) {
      if (!isHarombeError(error, 'WebhookTargetRefused')) throw error;
      // A name that does not resolve now may resolve later; anything else is refused for good.
      if (error.details?.reason !== 'unresolvable')
        return this.dead(record, log, { ...attempt, last_status: null }, error.message, true);
      result = { outcome: 'failed', status: null, retryAfterMs: null, error: error.message, durationMs: 0 };
      return this.failed(job, token, record, log, attempt, result);
    }
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      [WEBHOOK_SIGNATURE_HEADER]: webhookSignatureHeader(
        await this.options.secrets.signing(record.tenant),
        timestamp,
        body,
      ),
      [WEBHOOK_EVENT_ID_HEADER]: record.event_id,
      [WEBHOOK_EVENT_TYPE_HEADER]: record.event_type,
      [WEBHOOK_DELIVERY_ID_HEADER]: record.delivery_id,
    };
    result = await this.options.sender.send(target, headers, body);
    if (result.outcome === 'delivered') {
      const now = Date.now();
      await deliveries.update(
        record,
        'delivered',
        { ...attempt, last_status: result.status, last_error: null, finished_at: now, next_attempt_at: null },
        now,
        { from: 'pending' },
      );
      this.options.metrics?.attempt('delivered', result.durationMs);
      log.info(
        { attempt: attempts, status: result.status, ms: Math.round(result.durationMs), address: target.address },
        'webhook delivered',
      );
      return;
    }
    return this.failed(job, token, record, log, attempt, result);
  }

  /** A failed attempt: delayed until the schedule's next one, or dead when it gives up. */
  private async failed(
    job: Job<DeliveryJobData>,
    token: string | undefined,
    record: DeliveryRecord,
    log: Logger,
    attempt: { attempts: number; first_attempt_at: number; last_attempt_at: number },
    result: AttemptResult,
  ): Promise<void> {
    const now = Date.now();
    const error = result.error ?? 'failed';
    const delay = this.options.schedule.next({
      attempts: attempt.attempts,
      firstAttemptAt: attempt.first_attempt_at,
      now,
      retryAfterMs: result.retryAfterMs,
      status: result.status,
      error,
    });
    if (delay === undefined)
      return this.dead(record, log, { ...attempt, last_status: result.status }, error, false, result.durationMs);
    const next = now + delay;
    await this.options.deliveries.update(
      record,
      'pending',
      { ...attempt, last_status: result.status, last_error: error, next_attempt_at: next },
      now,
      { from: 'pending', dueAt: next },
    );
    this.options.metrics?.attempt('failed', result.durationMs);
    log.warn(
      {
        attempt: attempt.attempts,
        status: result.status,
        error,
        retry_in_ms: delay,
        retry_after_ms: result.retryAfterMs,
      },
      'webhook delivery failed; retrying',
    );
    // The same BullMQ job runs again then: the delay is ours (backoff, Retry-After), not BullMQ's.
    await job.moveToDelayed(next, token);
    throw new DelayedError();
  }

  /** Given up: kept as dead (the API lists it, a manual retry revives it), and failed in BullMQ too. */
  private async dead(
    record: DeliveryRecord,
    log: Logger,
    patch: { attempts: number; first_attempt_at: number; last_attempt_at: number; last_status: number | null },
    error: string,
    refused = false,
    durationMs?: number,
  ): Promise<never> {
    const now = Date.now();
    await this.options.deliveries.update(
      record,
      'dead',
      { ...patch, last_error: error, finished_at: now, next_attempt_at: null },
      now,
      { from: 'pending' },
    );
    this.options.metrics?.attempt('dead', durationMs);
    log.error({ attempts: patch.attempts, error, refused }, 'webhook delivery dead');
    throw new UnrecoverableError(`webhook delivery dead: ${error}`);
  }
}
