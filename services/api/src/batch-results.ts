import { isTerminal } from '@harombe/core';
import { toJobView, type BatchRecord, type BatchStore, type JobStore } from '@harombe/queue';

export interface BatchResultsOptions {
  /** Job ids looked at a time. Default 500. */
  idsPerPage?: number;
  /** Jobs read from Redis at once take at most this many bytes (one job at least, whatever its size). Default 4 MiB. */
  maxReadBytes?: number;
}

/**
 * The NDJSON lines of a batch's ended jobs, in submission order, one line per yield. Jobs are
 * read a few at a time, by their size (a batch of jobs with 16 MiB outputs is read one job at a
 * time), and only as the consumer takes the lines, so memory stays bounded whatever the batch.
 */
export async function* batchResultLines(
  store: JobStore,
  batches: BatchStore,
  batch: BatchRecord,
  options: BatchResultsOptions = {},
): AsyncGenerator<string> {
  const idsPerPage = options.idsPerPage ?? 500;
  const maxReadBytes = options.maxReadBytes ?? 4 * 1_048_576;
  for (let offset = 0; offset < batch.total; offset += idsPerPage) {
    const ids = await batches.jobIds(batch.batch_id, offset, idsPerPage);
    const footprints = await store.footprints(ids);
    let group: string[] = [];
    let groupBytes = 0;
    const ended = ids.flatMap((id, i) => {
      const footprint = footprints[i];
      return footprint && isTerminal(footprint.status) ? [{ id, bytes: footprint.bytes }] : [];
    });
    for (let i = 0; i <= ended.length; i += 1) {
      const next = ended[i];
      if (group.length > 0 && (!next || groupBytes + next.bytes > maxReadBytes)) {
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
