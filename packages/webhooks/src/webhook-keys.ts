import { createHash } from 'node:crypto';
import type { WebhookDeliveryState, WebhookEventType } from '@harombe/core';
import type { RedisKeys } from '@harombe/queue';

/** The webhooks' BullMQ queue, under the fleet's BullMQ prefix (its keys must not meet `<tag>:webhooks:*`). */
export const WEBHOOK_QUEUE = 'webhook-deliveries';

/** Every webhook key of one deployment, under the fleet's hash tag (one Redis Cluster slot). */
export class WebhookKeys {
  readonly tag: string;

  constructor(readonly redisKeys: RedisKeys) {
    this.tag = redisKeys.tag;
  }

  /** Events the job store's scripts recorded, not yet turned into deliveries (see RedisKeys.webhookEvents). */
  events(): string {
    return this.redisKeys.webhookEvents();
  }
  /** An event's body, exactly as every delivery of it sends it. */
  event(eventId: string): string {
    return `${this.tag}:webhooks:event:${eventId}`;
  }
  /** One delivery's record (hash). */
  delivery(deliveryId: string): string {
    return `${this.tag}:webhooks:delivery:${deliveryId}`;
  }
  /** A tenant's deliveries in one state, or all of them, scored by when they were made or ended. */
  tenantDeliveries(tenant: string, state: WebhookDeliveryState | 'all'): string {
    return `${this.tag}:webhooks:deliveries:${tenant}:${state}`;
  }
  /** Pending deliveries scored by when their next attempt is due: what the reconciliation checks. */
  due(): string {
    return `${this.tag}:webhooks:due`;
  }
  /** A tenant's subscriptions made through the API (hash: id → JSON). */
  subscriptions(tenant: string): string {
    return this.redisKeys.webhookSubscriptions(tenant);
  }
  /** A tenant's generated signing secret: current, previous and until when the previous one signs. */
  secret(tenant: string): string {
    return `${this.tag}:webhooks:secret:${tenant}`;
  }
}

const digest = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 24);

/** An event's id follows from what it is about: every fan-out of it, however often, names the same one. */
export function eventIdOf(type: WebhookEventType, subjectId: string): string {
  return `evt-${digest(`${type} ${subjectId}`)}`;
}

/** One delivery per event and target (`callback`, or a subscription id): fanning out twice makes none twice. */
export function deliveryIdOf(eventId: string, target: string): string {
  return `dlv-${digest(`${eventId} ${target}`)}`;
}
