import { createHash } from 'node:crypto';
import { AUDIT_GENESIS_HASH, AuditRecord, type AuditRecordView } from '@harombe/core';

/**
 * The audit trail's hash chain, apart from where it is stored. A record is serialized once, with
 * its fields in a fixed order, and its hash is the SHA-256 of exactly that text; the next
 * record carries the hash as `prev_hash`. Editing, inserting or removing a record breaks either
 * a record's own hash or the link from its successor, and AuditChainVerifier says which.
 */

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The stored text of a record: the fields in the order of the AuditRecord contract. */
export function serializeAuditRecord(record: AuditRecord): string {
  const ordered: AuditRecord = {
    seq: record.seq,
    at: record.at,
    type: record.type,
    tenant: record.tenant,
    job_id: record.job_id,
    tool: record.tool,
    payload_sha256: record.payload_sha256,
    actor: record.actor,
    channel: record.channel,
    details: record.details,
    prev_hash: record.prev_hash,
  };
  return JSON.stringify(ordered);
}

/** One stream entry as read back, before it is trusted. */
export interface StoredAuditEntry {
  /** The stream id. */
  id: string;
  /** The record's text, as hashed. */
  record: string | undefined;
  hash: string | undefined;
}

export type AuditProblemKind =
  /** The record's text does not match its hash: it was changed after it was written. */
  | 'edited'
  /** Records are missing before this one (its seq skips ahead). */
  | 'removed'
  /** This record does not continue the chain where it stands (its seq does not follow). */
  | 'inserted'
  /** The record names a predecessor other than the one before it (a record was replaced or re-hashed). */
  | 'broken_link'
  /** The entry is not a record at all. */
  | 'malformed'
  /** The chain's recorded head is not its last record: records were removed from the end (or the head was changed). */
  | 'head_mismatch';

export interface AuditProblem {
  kind: AuditProblemKind;
  /** Stream id of the entry where the problem shows; null for the head. */
  id: string | null;
  seq: number | null;
  message: string;
}

export interface AuditVerification {
  ok: boolean;
  /** Entries read. */
  records: number;
  /** Hash and seq of the last record read; null for an empty trail. */
  last: { hash: string; seq: number } | null;
  problems: AuditProblem[];
}

/** Parses and checks one entry; returns the record view, or a problem. */
export function parseAuditEntry(entry: StoredAuditEntry): { view: AuditRecordView } | { problem: AuditProblem } {
  const malformed = (message: string): { problem: AuditProblem } => ({
    problem: { kind: 'malformed', id: entry.id, seq: null, message },
  });
  if (entry.record === undefined || entry.hash === undefined)
    return malformed(`entry ${entry.id} lacks its record or hash field`);
  let raw: unknown;
  try {
    raw = JSON.parse(entry.record);
  } catch {
    return malformed(`entry ${entry.id} is not JSON`);
  }
  const parsed = AuditRecord.safeParse(raw);
  if (!parsed.success)
    return malformed(`entry ${entry.id} is not an audit record: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return { view: { ...parsed.data, id: entry.id, hash: entry.hash } };
}

/**
 * Checks a trail read in order, one entry at a time, in constant memory. After a problem it
 * carries on from what is stored, so one tampered record is reported once, not as every record
 * after it.
 */
export class AuditChainVerifier {
  private readonly problems: AuditProblem[] = [];
  private count = 0;
  private previous: { hash: string; seq: number } | null = null;

  add(entry: StoredAuditEntry): void {
    this.count += 1;
    const parsed = parseAuditEntry(entry);
    if ('problem' in parsed) {
      this.problems.push(parsed.problem);
      return;
    }
    const { view } = parsed;
    const problem = (kind: AuditProblemKind, message: string): void => {
      this.problems.push({ kind, id: view.id, seq: view.seq, message });
    };
    if (sha256Hex(entry.record as string) !== view.hash)
      problem('edited', `record ${view.seq} (${view.id}) was changed: its content does not match its hash`);
    const expectedSeq = (this.previous?.seq ?? 0) + 1;
    const expectedPrev = this.previous?.hash ?? AUDIT_GENESIS_HASH;
    if (view.seq > expectedSeq) {
      const missing = view.seq - expectedSeq;
      problem(
        'removed',
        `${missing} record${missing === 1 ? '' : 's'} missing before record ${view.seq} (${view.id}): removed`,
      );
    } else if (view.seq < expectedSeq) {
      problem(
        'inserted',
        `record ${view.seq} (${view.id}) does not follow record ${expectedSeq - 1}: inserted or moved`,
      );
    } else if (view.prev_hash !== expectedPrev) {
      problem(
        'broken_link',
        `record ${view.seq} (${view.id}) does not name the record before it: a record was replaced or re-hashed`,
      );
    }
    this.previous = { hash: view.hash, seq: view.seq };
  }

  /** The verdict, given the head the trail recorded (hash and seq of its last append). */
  finish(head: { hash: string; seq: number } | null): AuditVerification {
    const last = this.previous;
    if (head && (!last || last.hash !== head.hash || last.seq !== head.seq)) {
      const removed = head.seq - (last?.seq ?? 0);
      this.problems.push({
        kind: 'head_mismatch',
        id: null,
        seq: head.seq,
        message: `the trail's head is record ${head.seq}, but its last record is ${last ? last.seq : 'none'}${removed > 0 ? `: ${removed} record${removed === 1 ? '' : 's'} removed from the end` : ''}`,
      });
    } else if (!head && last) {
      this.problems.push({
        kind: 'head_mismatch',
        id: null,
        seq: null,
        message: 'the trail has records but no head: its head was removed',
      });
    }
    return { ok: this.problems.length === 0, records: this.count, last, problems: this.problems };
  }
}
