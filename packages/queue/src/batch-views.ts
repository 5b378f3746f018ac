import { HarombeError, isTerminal, type BatchView } from '@harombe/core';
import type { BatchRecord, BatchStore } from './batch-store.js';
import { allCounts } from './job-event-stream.js';
import { toJobView } from './job-record.js';
import type { JobStore } from './job-store.js';

export interface BatchViewsOptions {
  store: JobStore;
  batches: BatchStore;
  /** Job ids looked at a time by resultLines. Default 500. */
  idsPerPage?: number;
  /**
   * Jobs resultLines reads from Redis at once take at most this many bytes (one job at least,
   * whatever its size). Default 4 MiB.
   */
  maxReadBytes?: number;
}

/**
 * Batches as the API (and batch.finished) shows them: a tenant's batch, its counts with a page of
 * its jobs, and the NDJSON lines of its ended jobs. Counts are kept by the job store's
 * transitions, so a 10,000-job batch's progress is one read whatever the page.
 */
export class BatchViews {
  private readonly idsPerPage: number;
  private readonly maxReadBytes: number;

  constructor(private readonly options: BatchViewsOptions) {
    this.idsPerPage = options.idsPerPage ?? 500;
    this.maxReadBytes = options.maxReadBytes ?? 4 * 1_048_576;
  }

  /** The tenant's batch; one of another tenant is NotFound, as one that does not exist. */
  async owned(tenant: string, batchId: string): Promise<BatchRecord> {
    const batch = await this.options.batches.get(batchId);
    if (!batch || batch.tenant !== tenant) throw new HarombeError('NotFound', `batch ${batchId} not found`);
    return batch;
  }

  /**
   * The batch's counts (every status present) and its jobs from `offset`, at most `limit` of them,
   * in submission order. `limit` 0: the counts alone, next_offset pointing at the first page.
   */
  async page(batch: BatchRecord, offset: number, limit: number): Promise<BatchView> {
    const { store, batches } = this.options;
    const ids = limit > 0 ? await batches.jobIds(batch.batch_id, offset, limit) : [];
    const jobs = ids.length > 0 ? (await store.getMany(ids)).flatMap((job) => (job ? [toJobView(job)] : [])) : [];
    const counts = allCounts(await batches.counts(batch.batch_id));
    return {
      batch_id: batch.batch_id,
      created_at: new Date(batch.created_at).toISOString(),
      total: batch.total,
      counts,
      jobs,
      next_offset: offset + ids.length < batch.total ? offset + ids.length : null,
      ...(batch.callback_url ? { callback_url: batch.callback_url } : {}),
    };
  }

  /**
   * The NDJSON lines of the batch's ended jobs, in submission order, one line per yield. Jobs are
   * read a few at a time, by their size (a batch of jobs with 16 MiB outputs is read one job at a
   * time), and only as the consumer takes the lines, so memory stays bounded whatever the batch.
   */
  async *resultLines(batch: BatchRecord): AsyncGenerator<string> {
    const { store, batches } = this.options;
    for (let offset = 0; offset < batch.total; offset += this.idsPerPage) {
      const ids = await batches.jobIds(batch.batch_id, offset, this.idsPerPage);
      const footprints = await store.footprints(ids);
      let group: string[] = [];
      let groupBytes = 0;
      const ended = ids.flatMap((id, i) => {
        const footprint = footprints[i];
        return footprint && isTerminal(footprint.status) ? [{ id, bytes: footprint.bytes }] : [];
      });
      for (let i = 0; i <= ended.length; i += 1) {
        const next = ended[i];
        if (group.length > 0 && (!next || groupBytes + next.bytes > this.maxReadBytes)) {
          for (const job of await store.getMany(group)) if (job) yield `${JSON.stringify(toJobView(job))}\n`;
          group = [];
          groupBytes = 0;
        }
        if (next) {
          group.push(next.id);
          groupBytes += next.bytes;
        }
      }
    }
  }
}
