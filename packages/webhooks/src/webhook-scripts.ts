import { WEBHOOK_DELIVERY_STATES } from '@harombe/core';
import { RedisScripts } from '@harombe/queue';
import type { WebhookKeys } from './webhook-keys.js';

/** The webhooks' Redis scripts: src/commands/*.lua, copied to dist/commands by the build. */
export const WEBHOOK_SCRIPTS = new RedisScripts(new URL('./commands/', import.meta.url));

/** See create-delivery-4.lua. */
export const CREATE_DELIVERY = WEBHOOK_SCRIPTS.define<
  [keys: WebhookKeys, deliveryId: string, tenant: string],
  [outcome: 'created' | 'exists', state: string, round: string]
>('create-delivery', (keys, deliveryId, tenant) => [
  keys.delivery(deliveryId),
  keys.tenantDeliveries(tenant, 'all'),
  keys.tenantDeliveries(tenant, 'pending'),
  keys.due(),
]);

/** See update-delivery-5.lua: the tenant's index of each state follows, as WEBHOOK_DELIVERY_STATES orders them. */
export const UPDATE_DELIVERY = WEBHOOK_SCRIPTS.define<[keys: WebhookKeys, deliveryId: string, tenant: string], number>(
  'update-delivery',
  (keys, deliveryId, tenant) => [
    keys.delivery(deliveryId),
    keys.due(),
    ...WEBHOOK_DELIVERY_STATES.map((state) => keys.tenantDeliveries(tenant, state)),
  ],
);

/** See claim-webhook-events-1.lua. */
export const CLAIM_WEBHOOK_EVENTS = WEBHOOK_SCRIPTS.define<[keys: WebhookKeys], string[]>(
  'claim-webhook-events',
  (keys) => [keys.events()],
);

/** See add-webhook-1.lua. */
export const ADD_WEBHOOK = WEBHOOK_SCRIPTS.define<[keys: WebhookKeys, tenant: string], number>(
  'add-webhook',
  (keys, tenant) => [keys.subscriptions(tenant)],
);

/** See rotate-webhook-secret-1.lua. */
export const ROTATE_WEBHOOK_SECRET = WEBHOOK_SCRIPTS.define<[keys: WebhookKeys, tenant: string], number>(
  'rotate-webhook-secret',
  (keys, tenant) => [keys.secret(tenant)],
);
