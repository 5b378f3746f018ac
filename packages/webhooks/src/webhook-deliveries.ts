import {
  WEBHOOK_DELIVERY_STATES,
  type WebhookDelivery,
  type WebhookDeliveryState,
  type WebhookEventType,
} from '@harombe/core';
import type { Redis } from 'ioredis';
import type { WebhookKeys } from './webhook-keys.js';
import { CREATE_DELIVERY, UPDATE_DELIVERY } from './webhook-scripts.js';

/** One delivery as stored: one event on its way to one target. Times are ms since the epoch. */
export interface DeliveryRecord {
  delivery_id: string;
  event_id: string;
  event_type: WebhookEventType;
  subject_id: string;
  tenant: string;
  target: 'callback' | 'subscription';
  subscription_id: string | null;
  url: string;
  state: WebhookDeliveryState;
  /** HTTP attempts made. */
  attempts: number;
  /** Incremented by a manual retry or a reconciliation: the BullMQ job id is `<delivery_id>-<round>`. */
  round: number;
  created_at: number;
  first_attempt_at: number | null;
  last_attempt_at: number | null;
  next_attempt_at: number | null;
  finished_at: number | null;
  last_status: number | null;
  last_error: string | null;
}

export type DeliveryPatch = Partial<
  Pick<
    DeliveryRecord,
    | 'attempts'
    | 'round'
    | 'first_attempt_at'
    | 'last_attempt_at'
    | 'next_attempt_at'
    | 'finished_at'
    | 'last_status'
    | 'last_error'
  >
>;

export interface WebhookDeliveriesOptions {
  redis: Redis;
  keys: WebhookKeys;
  /** How long a delivery is kept after its last change, s. Default 604 800 (7 days). */
  retentionSeconds?: number;
}

const NUMBER_FIELDS = [
  'attempts',
  'round',
  'created_at',
  'first_attempt_at',
  'last_attempt_at',
  'next_attempt_at',
  'finished_at',
  'last_status',
] as const;

/**
 * The deliveries' records, the source of truth for their state (BullMQ only carries the work):
 * pending → delivered | dead, and dead → pending on a manual retry. Each tenant's deliveries are
 * indexed by state for the API (GET /v1/webhooks/deliveries?state=dead).
 */
export class WebhookDeliveries {
  private readonly redis: Redis;
  readonly retentionSeconds: number;

  constructor(private readonly options: WebhookDeliveriesOptions) {
    this.redis = options.redis;
    this.retentionSeconds = options.retentionSeconds ?? 7 * 86_400;
  }

  /** Writes a new pending delivery; one that exists is left as it is. Answers its state and round. */
  async create(record: DeliveryRecord): Promise<{ created: boolean; state: WebhookDeliveryState; round: number }> {
    const { keys } = this.options;
    const [outcome, state, round] = await CREATE_DELIVERY.run(
      this.redis,
      [keys, record.delivery_id, record.tenant],
      [
        JSON.stringify(encode(record)),
        String(record.created_at),
        String(this.retentionSeconds),
        String(record.created_at - this.retentionSeconds * 1000),
      ],
    );
    return { created: outcome === 'created', state: state as WebhookDeliveryState, round: Number(round) };
  }

  async get(deliveryId: string): Promise<DeliveryRecord | undefined> {
    return decode(await this.redis.hgetall(this.options.keys.delivery(deliveryId)));
  }

  /**
   * Moves a delivery to `state` with `patch`, only from `from` (any state when omitted); `dueAt` is
   * when its next attempt is due (pending), else it leaves the due index. False when refused.
   */
  async update(
    record: Pick<DeliveryRecord, 'delivery_id' | 'tenant'>,
    state: WebhookDeliveryState,
    patch: DeliveryPatch,
    now: number,
    options: { from?: WebhookDeliveryState; dueAt?: number } = {},
  ): Promise<boolean> {
    const applied = await UPDATE_DELIVERY.run(
      this.redis,
      [this.options.keys, record.delivery_id, record.tenant],
      [
        options.from ?? '',
        state,
        JSON.stringify(encode(patch)),
        String(now),
        String(this.retentionSeconds),
        String(now - this.retentionSeconds * 1000),
        options.dueAt === undefined ? '' : String(options.dueAt),
        ...WEBHOOK_DELIVERY_STATES,
      ],
    );
    return applied === 1;
  }

  /** A tenant's deliveries, newest first, in one state or all. */
  async list(
    tenant: string,
    options: { state?: WebhookDeliveryState; offset?: number; limit?: number } = {},
  ): Promise<DeliveryRecord[]> {
    const offset = options.offset ?? 0;
    const limit = options.limit ?? 100;
    const ids = await this.redis.zrevrange(
      this.options.keys.tenantDeliveries(tenant, options.state ?? 'all'),
      offset,
      offset + limit - 1,
    );
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.options.keys.delivery(id));
    const out: DeliveryRecord[] = [];
    for (const [error, hash] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      const record = decode(hash as Record<string, string>);
      // An index may name a record that expired before the index was trimmed.
      if (record) out.push(record);
    }
    return out;
  }

  /** Pending deliveries whose next attempt was due before `beforeMs`: what the reconciliation looks at. */
  async overdue(beforeMs: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.options.keys.due(), '-inf', beforeMs, 'LIMIT', 0, limit);
  }
}

export function toDeliveryView(record: DeliveryRecord): WebhookDelivery {
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  return {
    delivery_id: record.delivery_id,
    event_id: record.event_id,
    event_type: record.event_type,
    subject_id: record.subject_id,
    target: record.target,
    subscription_id: record.subscription_id,
    url: record.url,
    state: record.state,
    attempts: record.attempts,
    created_at: iso(record.created_at) as string,
    last_attempt_at: iso(record.last_attempt_at),
    next_attempt_at: record.state === 'pending' ? iso(record.next_attempt_at) : null,
    finished_at: iso(record.finished_at),
    last_status: record.last_status,
    last_error: record.last_error,
  };
}

/** Redis hash fields are strings: '' for null. */
function encode(fields: Partial<DeliveryRecord>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out[key] = value === null ? '' : String(value);
  }
  return out;
}

function decode(hash: Record<string, string>): DeliveryRecord | undefined {
  if (!hash.delivery_id) return undefined;
  const out: Record<string, unknown> = { ...hash };
  for (const key of NUMBER_FIELDS) out[key] = hash[key] ? Number(hash[key]) : null;
  out.attempts = Number(hash.attempts ?? 0);
  out.round = Number(hash.round ?? 0);
  for (const key of ['subscription_id', 'last_error'] as const) out[key] = hash[key] || null;
  return out as unknown as DeliveryRecord;
}
