import { z } from 'zod';
import { JobId, PageLimit } from './jobs.js';

/**
 * The audit trail's wire contract: one record per step a job takes that someone may have to
 * answer for later. Records form a hash chain: each carries the SHA-256 of the one before.
 */

export const AUDIT_EVENT_TYPES = [
  /** The risk policy classified a submitted job. */
  'classified',
  /** The job waits for a person's decision. */
  'approval_requested',
  /** A person approved or denied it (who, through which channel, when, why). */
  'decided',
  /** Nobody decided before the deadline: the job was denied. */
  'expired',
  'cancelled',
  /** A worker began running the job. */
  'execution_started',
  /** The job's execution ended (completed, failed, cancelled, or its worker was lost). */
  'execution_finished',
  /** A sandbox tried to reach a destination its network policy does not allow. */
  'network_refused',
  /** A request came with a missing, malformed or unknown API key (rate-limited per source address). */
  'authentication_refused',
  /** A decision was refused: by the job's own submitter, or by another tenant's approver (recorded under the job's tenant). */
  'decision_refused',
] as const;
export const AuditEventType = z.enum(AUDIT_EVENT_TYPES);
export type AuditEventType = z.infer<typeof AuditEventType>;

/** The hash a chain's first record names as its predecessor. */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a hex SHA-256');

/** One record as stored (and hashed): everything but its own hash. */
export const AuditRecord = z.object({
  /** Position in the chain, from 1, without gaps. */
  seq: z.number().int().positive(),
  /** When it happened, ISO 8601. */
  at: z.string(),
  type: AuditEventType,
  tenant: z.string().nullable(),
  job_id: z.string().nullable(),
  tool: z.string().nullable(),
  /** SHA-256 of the job's payload (tool and params), so the record names exactly what ran. */
  payload_sha256: Sha256.nullable(),
  /** Who acted: an API key's name, `slack:<user id>`, a worker id; null for the system itself. */
  actor: z.string().nullable(),
  /** Through what: api, slack, policy, timeout, worker, sandbox. */
  channel: z.string().nullable(),
  /** What else the event says (risk, rule, reason, exit code, ...); secrets redacted. */
  details: z.record(z.string(), z.unknown()),
  /** Hash of the previous record; AUDIT_GENESIS_HASH for the first. */
  prev_hash: Sha256,
});
export type AuditRecord = z.infer<typeof AuditRecord>;

/** A record as read back: with its stream id and its hash. */
export const AuditRecordView = AuditRecord.extend({
  /** Redis stream id, the cursor for reading on (`after`). */
  id: z.string(),
  hash: Sha256,
});
export type AuditRecordView = z.infer<typeof AuditRecordView>;

export const AuditPage = z.object({
  records: z.array(AuditRecordView),
  /** Pass as `after` to read on (the last entry looked at); null while the trail is empty. */
  next_after: z.string().nullable(),
});
export type AuditPage = z.infer<typeof AuditPage>;

/** GET /v1/audit: from `after` (the next_after of the page before; default: the start), at most `limit` (default 100). */
export const AuditQuery = z.strictObject({
  after: z
    .string()
    .regex(/^\d+-\d+$/, 'a stream id such as 1700000000000-0 (the next_after of the page before)')
    .optional(),
  limit: PageLimit,
  /** Only the records of this job. Default: every record of the tenant. */
  job_id: JobId.optional(),
});
export type AuditQuery = z.input<typeof AuditQuery>;
