import { HarombeError, systemClock, type Clock, type WebhookDelivery, type WebhooksConfig } from '@harombe/core';
import type { BatchStore, JobEvents, JobStore, RedisKeys } from '@harombe/queue';
import type { ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { DeliveryQueue } from './delivery-queue.js';
import { ExponentialBackoff, type RetrySchedule } from './retry-schedule.js';
import { WebhookTargetGuard, type LookupAll } from './target-guard.js';
import { WebhookDeliverer } from './webhook-deliverer.js';
import { toDeliveryView, WebhookDeliveries } from './webhook-deliveries.js';
import { WebhookDispatcher } from './webhook-dispatcher.js';
import { WebhookKeys } from './webhook-keys.js';
import type { WebhookMetrics } from './webhook-metrics.js';
import { WebhookSecrets } from './webhook-secrets.js';
import { WebhookSender } from './webhook-sender.js';
import { WebhookSubscriptions } from './webhook-subscriptions.js';

export interface WebhooksOptions {
  config: WebhooksConfig;
  /** A command connection. */
  redis: Redis;
  /** For the webhooks queue (BullMQ opens its own connections from it). */
  connection: ConnectionOptions;
  keys: RedisKeys;
  store: JobStore;
  batches: BatchStore;
  logger: Logger;
  /** Default: the system clock. Deliveries' own timing is always real time. */
  clock?: Clock;
  /** Where secret_env variables are read. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default: exponential backoff from webhooks.retry. Tests inject one that runs in ms. */
  schedule?: RetrySchedule;
  /** Default: the system resolver. Tests inject one to prove a name is resolved once per attempt. */
  lookup?: LookupAll;
  /** The dispatcher's timings (tests shorten them). Default: production's. */
  dispatcher?: { intervalMs?: number; leaseMs?: number; reconcileEveryMs?: number; reconcileAfterMs?: number };
}

/**
 * The webhooks of one process over its Redis connections, configured from harombe.yaml: the API
 * uses the guard (callback_url, subscriptions), subscriptions, secrets and deliveries; the approval
 * service also runs the dispatcher (recorded events into deliveries) and the deliverer (HTTP).
 */
export class Webhooks {
  readonly keys: WebhookKeys;
  readonly guard: WebhookTargetGuard;
  readonly secrets: WebhookSecrets;
  readonly subscriptions: WebhookSubscriptions;
  readonly deliveries: WebhookDeliveries;
  readonly queue: DeliveryQueue;
  readonly dispatcher: WebhookDispatcher;
  private deliverer: WebhookDeliverer | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: WebhooksOptions) {
    const { config, redis, logger } = options;
    const clock = options.clock ?? systemClock;
    this.keys = new WebhookKeys(options.keys);
    this.guard = new WebhookTargetGuard({
      allowedRanges: config.allowed_ranges,
      deniedRanges: config.denied_ranges,
      ...(options.lookup ? { lookup: options.lookup } : {}),
    });
    this.secrets = new WebhookSecrets({
      redis,
      keys: this.keys,
      config,
      clock,
      ...(options.env ? { env: options.env } : {}),
    });
    this.subscriptions = new WebhookSubscriptions({ redis, keys: this.keys, config, clock });
    this.deliveries = new WebhookDeliveries({ redis, keys: this.keys, retentionSeconds: config.retention_seconds });
    this.queue = new DeliveryQueue({ connection: options.connection, keys: options.keys });
    this.dispatcher = new WebhookDispatcher({
      redis,
      keys: this.keys,
      store: options.store,
      batches: options.batches,
      subscriptions: this.subscriptions,
      deliveries: this.deliveries,
      queue: this.queue,
      clock,
      logger,
      ...options.dispatcher,
    });
  }

  /**
   * Dispatches and delivers (the approval service). Fails, naming the variable, when a configured
   * secret_env is not set. With `events`, each job event wakes the dispatcher at once.
   */
  async start(options: { events?: JobEvents; metrics?: WebhookMetrics } = {}): Promise<void> {
    const { config, logger } = this.options;
    this.secrets.checkConfigured();
    const retry = config.retry;
    this.deliverer ??= new WebhookDeliverer({
      redis: this.options.redis,
      keys: this.keys,
      queue: this.queue,
      deliveries: this.deliveries,
      secrets: this.secrets,
      guard: this.guard,
      sender: new WebhookSender({
        connectTimeoutMs: config.connect_timeout_ms,
        timeoutMs: config.timeout_ms,
        maxResponseBytes: config.max_response_bytes,
      }),
      schedule:
        this.options.schedule ??
        new ExponentialBackoff({
          initialDelayMs: retry.initial_delay_ms,
          maxDelayMs: retry.max_delay_ms,
          jitter: retry.jitter,
          windowMs: retry.window_seconds * 1000,
          ...(retry.max_attempts ? { maxAttempts: retry.max_attempts } : {}),
        }),
      logger,
      concurrency: config.concurrency,
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });
    await this.deliverer.start();
    this.dispatcher.start();
    // Only the steps that recorded an event (a job ending, or one made waiting for a person, that someone wants).
    this.unsubscribe ??= options.events?.onEvent((_jobId, _status, { webhook }) => {
      if (webhook) this.dispatcher.wake();
    });
  }

  /** Events recorded and not yet turned into deliveries. */
  pendingEvents(): Promise<number> {
    return this.options.redis.zcard(this.keys.events());
  }

  /** A tenant's delivery; another tenant's is NotFound, as a missing one. */
  async delivery(tenant: string, deliveryId: string): Promise<WebhookDelivery> {
    const record = await this.deliveries.get(deliveryId);
    if (!record || record.tenant !== tenant) throw new HarombeError('NotFound', `delivery ${deliveryId} not found`);
    return toDeliveryView(record);
  }

  /** A dead delivery tried again from scratch (a new round, a new 24-hour window); Conflict for any other. */
  async redeliver(tenant: string, deliveryId: string): Promise<WebhookDelivery> {
    const record = await this.deliveries.get(deliveryId);
    if (!record || record.tenant !== tenant) throw new HarombeError('NotFound', `delivery ${deliveryId} not found`);
    const now = Date.now();
    const round = record.round + 1;
    const revived = await this.deliveries.update(
      record,
      'pending',
      { round, attempts: 0, first_attempt_at: null, next_attempt_at: now, finished_at: null },
      now,
      { from: 'dead', dueAt: now },
    );
    if (!revived)
      throw new HarombeError('Conflict', `delivery ${deliveryId} is ${record.state}; only a dead one is retried`);
    await this.queue.add(deliveryId, round);
    this.options.logger.info({ delivery_id: deliveryId, tenant, round }, 'dead webhook delivery retried');
    return this.delivery(tenant, deliveryId);
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.dispatcher.stop();
    await this.deliverer?.stop();
    await this.queue.close();
  }
}
