import type { RedisKeys } from '@harombe/queue';
import { Queue, type ConnectionOptions, type JobState } from 'bullmq';
import { WEBHOOK_QUEUE } from './webhook-keys.js';

/** What a BullMQ delivery job carries: which delivery, in which round. The record holds the rest. */
export interface DeliveryJobData {
  delivery_id: string;
  round: number;
}

export interface DeliveryQueueOptions {
  connection: ConnectionOptions;
  keys: RedisKeys;
  /** How long BullMQ keeps a finished job, s (the records are kept apart). Default 3 600. */
  keepSeconds?: number;
}

/** BullMQ states in which a delivery job will still run. */
const LIVE: readonly (JobState | 'unknown')[] = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'];

/**
 * The webhooks' own BullMQ queue. Adding is idempotent: the job id is the delivery id and its
 * round, so fanning an event out again, or a crash between the record and the job, adds nothing twice.
 */
export class DeliveryQueue {
  private queue: Queue<DeliveryJobData> | undefined;

  constructor(private readonly options: DeliveryQueueOptions) {}

  async add(deliveryId: string, round: number): Promise<void> {
    const keep = this.options.keepSeconds ?? 3_600;
    await this.open().add(
      'deliver',
      { delivery_id: deliveryId, round },
      {
        jobId: `${deliveryId}-${round}`,
        // Attempts of the work itself (Redis failing under it): the HTTP retries are the deliverer's own.
        attempts: 20,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: { age: keep },
        removeOnFail: { age: keep },
      },
    );
  }

  /** Whether the job of this delivery's round will still run. */
  async isLive(deliveryId: string, round: number): Promise<boolean> {
    return LIVE.includes(await this.open().getJobState(`${deliveryId}-${round}`));
  }

  get name(): string {
    return WEBHOOK_QUEUE;
  }

  get prefix(): string {
    return this.options.keys.bullPrefix();
  }

  get connection(): ConnectionOptions {
    return this.options.connection;
  }

  /** The BullMQ queue (opened on first use: a process that never delivers opens no connection). */
  open(): Queue<DeliveryJobData> {
    this.queue ??= new Queue<DeliveryJobData>(WEBHOOK_QUEUE, {
      connection: this.options.connection,
      prefix: this.options.keys.bullPrefix(),
    });
    return this.queue;
  }

  async close(): Promise<void> {
    await this.queue?.close();
    this.queue = undefined;
  }
}
