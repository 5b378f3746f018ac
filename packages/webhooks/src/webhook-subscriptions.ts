import { createHash, randomBytes } from 'node:crypto';
import {
  CreateWebhookRequest,
  HarombeError,
  type Clock,
  type WebhookEventType,
  type WebhookSubscription,
  type WebhooksConfig,
} from '@harombe/core';
import type { Redis } from 'ioredis';
import type { WebhookKeys } from './webhook-keys.js';
import { ADD_WEBHOOK } from './webhook-scripts.js';

export interface WebhookSubscriptionsOptions {
  redis: Redis;
  keys: WebhookKeys;
  config: WebhooksConfig;
  clock: Clock;
}

/**
 * A tenant's subscriptions: those the operator keeps in harombe.yaml (read-only here, with ids
 * that follow from them) and those made through the API (in Redis). Every call is for one tenant:
 * another tenant's subscription is not found, exactly as a missing one.
 */
export class WebhookSubscriptions {
  private readonly redis: Redis;

  constructor(private readonly options: WebhookSubscriptionsOptions) {
    this.redis = options.redis;
  }

  /** The configured ones first, in their order, then those made through the API, oldest first. */
  async list(tenant: string): Promise<WebhookSubscription[]> {
    const stored = Object.values(await this.redis.hgetall(this.options.keys.subscriptions(tenant)))
      .map((json) => JSON.parse(json) as WebhookSubscription)
      .sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? ''));
    return [...this.configured(tenant), ...stored];
  }

  /** The subscriptions that want an event type. */
  async forEvent(tenant: string, type: WebhookEventType): Promise<WebhookSubscription[]> {
    return (await this.list(tenant)).filter((subscription) => subscription.events.includes(type));
  }

  async get(tenant: string, subscriptionId: string): Promise<WebhookSubscription> {
    const found = (await this.list(tenant)).find((subscription) => subscription.subscription_id === subscriptionId);
    if (!found) throw new HarombeError('NotFound', `webhook ${subscriptionId} not found`);
    return found;
  }

  /** Stores a subscription whose URL the caller has checked; QuotaExceeded past max_subscriptions_per_tenant. */
  async create(tenant: string, request: CreateWebhookRequest): Promise<WebhookSubscription> {
    const input = CreateWebhookRequest.parse(request);
    const subscription: WebhookSubscription = {
      subscription_id: `wh-${randomBytes(12).toString('hex')}`,
      url: input.url,
      events: [...new Set(input.events)],
      description: input.description ?? null,
      source: 'api',
      created_at: new Date(this.options.clock.now()).toISOString(),
    };
    const max = this.options.config.max_subscriptions_per_tenant;
    const added = await ADD_WEBHOOK.run(
      this.redis,
      [this.options.keys, tenant],
      [subscription.subscription_id, JSON.stringify(subscription), String(max)],
    );
    if (added !== 1)
      throw new HarombeError(
        'QuotaExceeded',
        `a tenant may have ${max} webhooks made through the API; delete one first`,
        {
          quota: 'max_subscriptions_per_tenant',
          limit: max,
        },
      );
    return subscription;
  }

  /** Deletes one made through the API; one from the configuration is changed only there (Conflict). */
  async delete(tenant: string, subscriptionId: string): Promise<WebhookSubscription> {
    const subscription = await this.get(tenant, subscriptionId);
    if (subscription.source === 'config')
      throw new HarombeError(
        'Conflict',
        `webhook ${subscriptionId} is kept in the configuration (webhooks.tenants.${tenant}.subscriptions); remove it there`,
      );
    await this.redis.hdel(this.options.keys.subscriptions(tenant), subscriptionId);
    return subscription;
  }

  private configured(tenant: string): WebhookSubscription[] {
    const entries = this.options.config.tenants[tenant]?.subscriptions ?? [];
    return entries.map((entry, index) => ({
      subscription_id: `wh-${createHash('sha256').update(`${tenant} ${index} ${entry.url}`).digest('hex').slice(0, 24)}`,
      url: entry.url,
      events: [...new Set(entry.events)],
      description: entry.description ?? null,
      source: 'config',
      created_at: null,
    }));
  }
}
