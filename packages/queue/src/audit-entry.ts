import type { AuditEventType } from '@harombe/core';
import type { JobRecord } from './job-record.js';

/** What a caller says about an event; the trail adds seq, time and the chain. */
export interface AuditEntry {
  type: AuditEventType;
  tenant?: string | null;
  job_id?: string | null;
  tool?: string | null;
  payload_sha256?: string | null;
  actor?: string | null;
  channel?: string | null;
  /**
   * What else there is to say. In a record written with a job's transition, a `previous_status`
   * of null is filled with the status the transition moved the job from.
   */
  details?: Record<string, unknown>;
}

/** The parts of a job every record about it carries. */
export type AuditedJob = Pick<JobRecord, 'job_id' | 'tenant' | 'tool' | 'payload_sha256'>;

/** A job's record fields. */
export function jobEntry(
  type: AuditEventType,
  job: AuditedJob,
  fields: Pick<AuditEntry, 'actor' | 'channel' | 'details'> = {},
): AuditEntry {
  return {
    type,
    tenant: job.tenant,
    job_id: job.job_id,
    tool: job.tool,
    payload_sha256: job.payload_sha256,
    ...fields,
  };
}

/** An entry as the job store's scripts push it to the audit inbox, with when its step happened. */
export function auditInboxItem(entry: AuditEntry, atMs: number): string {
  return JSON.stringify({ at: new Date(atMs).toISOString(), entry });
}

/** An audit inbox item back as the entry and its time; undefined for one that is not. */
export function parseAuditInboxItem(item: string): { entry: AuditEntry; at: string } | undefined {
  const bar = item.indexOf('|');
  if (bar < 0) return undefined;
  const previous = item.slice(0, bar);
  try {
    const { at, entry } = JSON.parse(item.slice(bar + 1)) as { at?: unknown; entry?: AuditEntry };
    if (typeof at !== 'string' || !entry || typeof entry.type !== 'string') return undefined;
    if (previous && entry.details && entry.details.previous_status === null)
      entry.details = { ...entry.details, previous_status: previous };
    return { entry, at };
  } catch {
    return undefined;
  }
}
