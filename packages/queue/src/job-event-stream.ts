import { JOB_STATUSES, type JobStatus } from '@harombe/core';
import type { Redis } from 'ioredis';
import { APPEND_OUTPUT, JOB_EVENTS_MAXLEN } from './queue-scripts.js';
import { fieldsOf } from './redis-fields.js';
import { RedisKeys } from './redis-keys.js';

/** One event as stored: what an SSE event carries. */
export interface StoredEvent {
  /** The stream entry's id: the SSE id, and what Last-Event-ID resumes after. */
  id: string;
  /** The SSE event name: `status`, `stdout` or `stderr` for a job, `job` for a batch. */
  type: string;
  /** The event's data, JSON (see JobStatusEvent, OutputEvent, BatchJobEvent in core). */
  data: string;
  /** A job's end: its last event. */
  ended: boolean;
}

export type OutputStreamName = 'stdout' | 'stderr';

export interface OutputChunk {
  stream: OutputStreamName;
  text: string;
}

/** An output chunk as a stream event's type and data (an OutputEvent), as the scripts take them. */
export function outputEventFields(chunk: OutputChunk): [string, string] {
  return [chunk.stream, JSON.stringify({ text: chunk.text })];
}

export interface JobEventStreamOptions {
  /** A connection for commands (not one in subscriber mode). */
  redis: Redis;
  /** Default: `new RedisKeys()` (prefix `harombe`). */
  keys?: RedisKeys;
}

/**
 * The events of jobs and batches, kept in Redis streams so that any API instance can serve and
 * resume them. Status events are written by the job store's scripts, in the same step as the
 * change; a job's output by its worker, through appendOutput. A job's stream expires with its
 * result, a batch's with the batch.
 */
export class JobEventStream {
  readonly keys: RedisKeys;
  private readonly redis: Redis;

  constructor(options: JobEventStreamOptions) {
    this.keys = options.keys ?? new RedisKeys();
    this.redis = options.redis;
  }

  /**
   * Appends output of a running job, each chunk as one event, in one step. Refused (false) once
   * the job no longer runs on `workerId`: its end event stays the last.
   */
  async appendOutput(jobId: string, workerId: string, chunks: readonly OutputChunk[]): Promise<boolean> {
    if (chunks.length === 0) return true;
    const argv = chunks.flatMap(outputEventFields);
    const added = await APPEND_OUTPUT.run(
      this.redis,
      [this.keys, jobId],
      [workerId, String(JOB_EVENTS_MAXLEN), ...argv],
    );
    return added === 1;
  }

  /**
   * Up to `count` of the job's events after the event `after` (from the first without it),
   * oldest first. The end carries the job's result, read from the job itself.
   */
  async readJob(jobId: string, after: string | undefined, count: number): Promise<StoredEvent[]> {
    const entries = await this.range(this.keys.jobEventStream(jobId), after, count);
    const events: StoredEvent[] = [];
    for (const [id, fields] of entries) {
      const entry = fieldsOf(fields);
      let data = entry.data ?? '{}';
      const ended = entry.ended === '1';
      if (ended) {
        // The event's JSON with the result added as its last field, without parsing a large output.
        const result = (await this.redis.hget(this.keys.job(jobId), 'result')) || 'null';
        data = `${data.slice(0, -1)},"result":${result}}`;
      }
      events.push({ id, type: entry.type ?? 'status', data, ended });
    }
    return events;
  }

  /** Up to `count` job ends of the batch after the event `after`, oldest first, each with the counts right after it. */
  async readBatch(batchId: string, total: number, after: string | undefined, count: number): Promise<StoredEvent[]> {
    const entries = await this.range(this.keys.batchEventStream(batchId), after, count);
    return entries.map(([id, fields]) => {
      const entry = fieldsOf(fields);
      const counts = allCounts(JSON.parse(entry.counts || '{}') as Partial<Record<JobStatus, number>>);
      const head = JSON.stringify({ batch_id: batchId, total, counts });
      return { id, type: 'job', data: `${head.slice(0, -1)},${(entry.data ?? '{}').slice(1)}`, ended: false };
    });
  }

  private async range(key: string, after: string | undefined, count: number): Promise<[string, string[]][]> {
    return this.redis.xrange(key, after ? `(${after}` : '-', '+', 'COUNT', count);
  }
}

/** Counts with every status present (0 when absent). */
export function allCounts(counts: Partial<Record<JobStatus, number>>): Record<JobStatus, number> {
  return Object.fromEntries(JOB_STATUSES.map((status) => [status, Math.max(0, counts[status] ?? 0)])) as Record<
    JobStatus,
    number
  >;
}
