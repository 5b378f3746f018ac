import { z } from 'zod';
import { BatchId, BatchView, JobId, JobView, PageQuery } from './jobs.js';
import { WebhookUrl } from './webhook-url.js';

/**
 * The webhooks' wire contract: the events the fleet sends, the subscriptions a tenant keeps, and
 * the deliveries the API shows. Every event is signed (see webhook-signature.ts).
 */

export const WEBHOOK_EVENT_TYPES = [
  /** A job waits for a person's decision. */
  'job.awaiting_approval',
  /** A job ended, whatever the end: completed, failed, denied, expired, cancelled. */
  'job.finished',
  /** Every job of a batch has ended. */
  'batch.finished',
] as const;
export const WebhookEventType = z.enum(WEBHOOK_EVENT_TYPES);
export type WebhookEventType = z.infer<typeof WebhookEventType>;

export const WebhookEventId = z.string().regex(/^evt-[0-9a-f]{24}$/, 'an event id looks like evt-<24 hex digits>');
export const WebhookSubscriptionId = z
  .string()
  .regex(/^wh-[0-9a-f]{24}$/, 'a subscription id looks like wh-<24 hex digits>');
export const WebhookDeliveryId = z.string().regex(/^dlv-[0-9a-f]{24}$/, 'a delivery id looks like dlv-<24 hex digits>');

const EventFields = {
  /** The same for every delivery and retry of one event: receivers de-duplicate by it. */
  id: WebhookEventId,
  /** When the step happened, ISO 8601. */
  created_at: z.string(),
};

/**
 * One event, as the body of a delivery. `data.job` is the job as the API shows it when the event
 * is sent out (for job.awaiting_approval a job decided within milliseconds may already show its
 * next status); `data.batch` is the batch's counts, with an empty page of jobs (page through
 * GET /v1/batches/{id} or read /results).
 */
export const WebhookEvent = z.discriminatedUnion('type', [
  z.object({ ...EventFields, type: z.literal('job.awaiting_approval'), data: z.object({ job: JobView }) }),
  z.object({ ...EventFields, type: z.literal('job.finished'), data: z.object({ job: JobView }) }),
  z.object({ ...EventFields, type: z.literal('batch.finished'), data: z.object({ batch: BatchView }) }),
]);
export type WebhookEvent = z.infer<typeof WebhookEvent>;

/** POST /v1/webhooks: a tenant-wide subscription. */
export const CreateWebhookRequest = z.strictObject({
  url: WebhookUrl,
  /** Default: every event type. */
  events: z
    .array(WebhookEventType)
    .min(1)
    .default([...WEBHOOK_EVENT_TYPES]),
  description: z.string().max(200).optional(),
});
export type CreateWebhookRequest = z.input<typeof CreateWebhookRequest>;

export const WebhookSubscription = z.object({
  subscription_id: WebhookSubscriptionId,
  url: z.string(),
  events: z.array(WebhookEventType),
  description: z.string().nullable(),
  /** `config`: from harombe.yaml, changed only there; `api`: made through POST /v1/webhooks. */
  source: z.enum(['api', 'config']),
  /** ISO 8601; null for one from the configuration. */
  created_at: z.string().nullable(),
});
export type WebhookSubscription = z.infer<typeof WebhookSubscription>;

/** GET /v1/webhooks: the tenant's subscriptions (those in the configuration first). */
export const WebhookSubscriptionList = z.object({ subscriptions: z.array(WebhookSubscription) });
export type WebhookSubscriptionList = z.infer<typeof WebhookSubscriptionList>;

export const WebhookSubscriptionPathParams = z.object({ subscription_id: WebhookSubscriptionId });

export const WEBHOOK_DELIVERY_STATES = [
  /** Waiting for its first attempt or a retry. */
  'pending',
  'delivered',
  /** Retries exhausted (or the target refused): kept for inspection and a manual retry. */
  'dead',
] as const;
export const WebhookDeliveryState = z.enum(WEBHOOK_DELIVERY_STATES);
export type WebhookDeliveryState = z.infer<typeof WebhookDeliveryState>;

/** One event on its way to one target (a job's or batch's callback_url, or a subscription). */
export const WebhookDelivery = z.object({
  delivery_id: WebhookDeliveryId,
  event_id: WebhookEventId,
  event_type: WebhookEventType,
  /** The job or batch the event is about. */
  subject_id: z.union([JobId, BatchId]),
  target: z.enum(['callback', 'subscription']),
  subscription_id: WebhookSubscriptionId.nullable(),
  url: z.string(),
  state: WebhookDeliveryState,
  /** HTTP attempts made so far. */
  attempts: z.number().int(),
  created_at: z.string(),
  last_attempt_at: z.string().nullable(),
  /** When the next attempt is due (pending only). */
  next_attempt_at: z.string().nullable(),
  /** When it was delivered or declared dead. */
  finished_at: z.string().nullable(),
  /** The HTTP status of the last answer; null when none came (timeout, reset, refused). */
  last_status: z.number().int().nullable(),
  last_error: z.string().nullable(),
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

/** GET /v1/webhooks/deliveries: a page, newest first. */
export const WebhookDeliveryPage = z.object({
  deliveries: z.array(WebhookDelivery),
  /** Offset of the next page; null at the end. */
  next_offset: z.number().int().nullable(),
});
export type WebhookDeliveryPage = z.infer<typeof WebhookDeliveryPage>;

/** GET /v1/webhooks/deliveries: a page (PageQuery), of one state (default: every state). */
export const WebhookDeliveriesQuery = z.strictObject({ state: WebhookDeliveryState.optional(), ...PageQuery.shape });
export type WebhookDeliveriesQuery = z.input<typeof WebhookDeliveriesQuery>;

export const WebhookDeliveryPathParams = z.object({ delivery_id: WebhookDeliveryId });

/** The tenant's signing secret (scope admin). */
export const WebhookSecretView = z.object({
  /** `config`: set by the operator (webhooks.tenants.<tenant>.secret_env), not shown here; `generated`: kept by the fleet. */
  source: z.enum(['config', 'generated']),
  secret: z.string().nullable(),
  /** After a rotation the previous secret still signs (a second v1) until then, ISO 8601. */
  previous_expires_at: z.string().nullable(),
});
export type WebhookSecretView = z.infer<typeof WebhookSecretView>;
