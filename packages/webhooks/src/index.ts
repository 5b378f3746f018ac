export { DeliveryQueue, type DeliveryJobData, type DeliveryQueueOptions } from './delivery-queue.js';
export {
  ExponentialBackoff,
  type ExponentialBackoffOptions,
  type FailedAttempt,
  type RetrySchedule,
} from './retry-schedule.js';
export {
  normalize as normalizeAddress,
  WebhookTargetGuard,
  type LookupAll,
  type RefusalReason,
  type ResolvedTarget,
  type WebhookTargetGuardOptions,
} from './target-guard.js';
export {
  toDeliveryView,
  WebhookDeliveries,
  type DeliveryPatch,
  type DeliveryRecord,
  type WebhookDeliveriesOptions,
} from './webhook-deliveries.js';
export { WebhookDeliverer, type WebhookDelivererOptions } from './webhook-deliverer.js';
export { WebhookDispatcher, type WebhookDispatcherOptions } from './webhook-dispatcher.js';
export { deliveryIdOf, eventIdOf, WEBHOOK_QUEUE, WebhookKeys } from './webhook-keys.js';
export { WebhookMetrics, type AttemptOutcome, type WebhookMetricsOptions } from './webhook-metrics.js';
export { WebhookSecrets, type WebhookSecretsOptions } from './webhook-secrets.js';
export { parseRetryAfter, WebhookSender, type AttemptResult, type WebhookSenderOptions } from './webhook-sender.js';
export { WebhookSubscriptions, type WebhookSubscriptionsOptions } from './webhook-subscriptions.js';
export { Webhooks, type WebhooksOptions } from './webhooks.js';
