import {
  AUDIT_GENESIS_HASH,
  redactSecrets,
  systemClock,
  type AuditEventType,
  type AuditPage,
  type AuditRecord,
  type AuditRecordView,
  type Clock,
} from '@harombe/core';
import type { Redis } from 'ioredis';
import {
  AuditChainVerifier,
  parseAuditEntry,
  serializeAuditRecord,
  sha256Hex,
  type AuditVerification,
  type StoredAuditEntry,
} from './audit-chain.js';
import { jobEntry, parseAuditInboxItem, type AuditedJob, type AuditEntry } from './audit-entry.js';
import { APPEND_AUDIT } from './queue-scripts.js';
import { fieldsOf } from './redis-fields.js';
import { RedisKeys } from './redis-keys.js';

export interface AuditTrailOptions {
  /** A connection for commands (not one in subscriber mode). */
  redis: Redis;
  /** Default: `new RedisKeys()` (prefix `harombe`). */
  keys?: RedisKeys;
  /** When records say they happened. Default: the system clock. */
  clock?: Clock;
  /** Tries of one append when other writers keep moving the chain's head. Default 100. */
  maxAttempts?: number;
}

/** Records sent to Redis in one script call (a 10,000-job batch takes 20). */
const CHUNK = 500;
const PAGE = 500;

type Head = { hash: string; seq: number } | null;
type Chained = { record: AuditRecord; text: string; hash: string };

/**
 * The audit trail: an append-only Redis stream of every classification, approval request,
 * decision, expiry, cancellation, execution start and end and refused network attempt, each
 * record carrying the hash of the one before (see audit-chain.ts). Secrets are redacted before a
 * record is written. Harombe never trims or rewrites the stream.
 */
export class AuditTrail {
  readonly keys: RedisKeys;
  private readonly redis: Redis;
  private readonly clock: Clock;
  private readonly maxAttempts: number;

  constructor(options: AuditTrailOptions) {
    this.keys = options.keys ?? new RedisKeys();
    this.clock = options.clock ?? systemClock;
    this.maxAttempts = options.maxAttempts ?? 100;
    this.redis = options.redis;
  }

  get streamKey(): string {
    return this.keys.audit();
  }

  get headKey(): string {
    return this.keys.auditHead();
  }

  /** Records the job store wrote with their steps, not yet in the trail (see drain). */
  get inboxKey(): string {
    return this.keys.auditInbox();
  }

  /**
   * Moves the records the job store wrote with its steps (the inbox) into the trail, in order.
   * Any instance may drain, at any time: after its own steps, and on a timer for the records of
   * a process that crashed between its step and its drain. Returns how many records it moved.
   */
  async drain(): Promise<number> {
    let moved = 0;
    let head = await this.head();
    for (let attempt = 1; attempt <= this.maxAttempts;) {
      const items = await this.redis.lrange(this.inboxKey, 0, CHUNK - 1);
      if (items.length === 0) return moved;
      const chained = chain(
        items.flatMap((item) => parseAuditInboxItem(item) ?? []),
        head,
      );
      const written = await this.write(chained, head, items);
      if ('moved' in written) {
        // Another writer appended or drained first: read again.
        head = written.moved;
        attempt += 1;
      } else {
        moved += chained.length;
        const last = chained.at(-1);
        if (last) head = { hash: last.hash, seq: last.record.seq };
      }
    }
    throw new Error(`audit trail: could not drain the inbox after ${this.maxAttempts} tries (the head kept moving)`);
  }

  async append(entry: AuditEntry): Promise<AuditRecordView> {
    return (await this.appendMany([entry]))[0] as AuditRecordView;
  }

  /** Appends in order, as one contiguous run of the chain per chunk of 500. */
  async appendMany(entries: readonly AuditEntry[]): Promise<AuditRecordView[]> {
    const at = new Date(this.clock.now()).toISOString();
    const out: AuditRecordView[] = [];
    for (let i = 0; i < entries.length; i += CHUNK)
      out.push(...(await this.appendChunk(entries.slice(i, i + CHUNK), at)));
    return out;
  }

  /** A record about a job, carrying its tenant, tool and payload hash. */
  async job(
    type: AuditEventType,
    job: AuditedJob,
    fields: Pick<AuditEntry, 'actor' | 'channel' | 'details'> = {},
  ): Promise<AuditRecordView> {
    return this.append(jobEntry(type, job, fields));
  }

  /**
   * A sandbox tried to reach a destination its network policy refuses. For the egress proxy:
   * `job` when the attempt can be tied to the job that made it.
   */
  async networkRefused(attempt: {
    tenant: string;
    sandbox_id: string;
    destination: string;
    reason: string;
    /** Attempts this record stands for when the proxy summarised a flood (default 1). */
    count?: number;
    worker_id?: string;
    job?: AuditedJob;
    /** The attempt came from background processes `job` kept, while no execution ran. */
    background?: boolean;
  }): Promise<AuditRecordView> {
    const details = {
      sandbox_id: attempt.sandbox_id,
      destination: attempt.destination,
      reason: attempt.reason,
      ...(attempt.count && attempt.count > 1 ? { count: attempt.count } : {}),
      ...(attempt.background ? { background: true } : {}),
    };
    const fields = { actor: attempt.worker_id ?? null, channel: 'sandbox', details };
    if (attempt.job) return this.job('network_refused', attempt.job, fields);
    return this.append({ type: 'network_refused', tenant: attempt.tenant, ...fields });
  }

  /** Hash and seq of the last record; null while the trail is empty. */
  async head(): Promise<Head> {
    const [hash, seq] = await this.redis.hmget(this.headKey, 'hash', 'seq');
    return hash ? { hash, seq: Number(seq) } : null;
  }

  /**
   * Records after the stream id `after` (from the start without it), oldest first: at most
   * `limit` (default 100), looking at most at `maxScan` entries (default 10 000). With `tenant`
   * or `jobId`, only matching records; `next_after` moves past the others all the same.
   */
  async read(
    options: { after?: string; limit?: number; tenant?: string; jobId?: string; maxScan?: number } = {},
  ): Promise<AuditPage> {
    // Records written with their steps and not drained yet belong in what a reader sees.
    await this.drain();
    const limit = options.limit ?? 100;
    const maxScan = options.maxScan ?? 10_000;
    const records: AuditRecordView[] = [];
    let cursor = options.after;
    let scanned = 0;
    for (;;) {
      const page = await this.range(cursor, Math.min(PAGE, maxScan - scanned));
      for (const entry of page) {
        cursor = entry.id;
        scanned += 1;
        const parsed = parseAuditEntry(entry);
        if ('problem' in parsed) continue;
        const { view } = parsed;
        if (options.tenant !== undefined && view.tenant !== options.tenant) continue;
        if (options.jobId !== undefined && view.job_id !== options.jobId) continue;
        records.push(view);
        if (records.length === limit) return { records, next_after: cursor };
      }
      if (page.length < PAGE || scanned >= maxScan) return { records, next_after: cursor ?? null };
    }
  }

  /** The newest `count` records, oldest first. */
  async latest(count: number): Promise<AuditRecordView[]> {
    const raw = (await this.redis.xrevrange(this.streamKey, '+', '-', 'COUNT', count)) as [string, string[]][];
    return raw
      .reverse()
      .map(toStored)
      .flatMap((entry) => {
        const parsed = parseAuditEntry(entry);
        return 'view' in parsed ? [parsed.view] : [];
      });
  }

  /**
   * Waits up to `blockMs` for records after `after` (`$`: only new ones) and returns them. Blocks
   * the connection: give it one of its own.
   */
  async waitForMore(after: string, blockMs: number): Promise<AuditRecordView[]> {
    const reply = await this.redis.xread('BLOCK', blockMs, 'STREAMS', this.streamKey, after);
    const entries = reply?.[0]?.[1] ?? [];
    return entries.map(toStored).flatMap((entry) => {
      const parsed = parseAuditEntry(entry);
      return 'view' in parsed ? [parsed.view] : [];
    });
  }

  /** Reads the whole trail in order and checks every record's hash and link, and the head. */
  async verify(): Promise<AuditVerification> {
    const verifier = new AuditChainVerifier();
    // The head first: records appended while reading then only extend past it.
    const head = await this.head();
    let cursor: string | undefined;
    for (;;) {
      const page = await this.range(cursor, PAGE);
      for (const entry of page) {
        const parsed = parseAuditEntry(entry);
        if (head && 'view' in parsed && parsed.view.seq > head.seq) return verifier.finish(head);
        verifier.add(entry);
        cursor = entry.id;
      }
      if (page.length < PAGE) return verifier.finish(head);
    }
  }

  private async range(after: string | undefined, count: number): Promise<StoredAuditEntry[]> {
    const raw = (await this.redis.xrange(this.streamKey, after ? `(${after}` : '-', '+', 'COUNT', count)) as [
      string,
      string[],
    ][];
    return raw.map(toStored);
  }

  private async appendChunk(entries: readonly AuditEntry[], at: string): Promise<AuditRecordView[]> {
    let head = await this.head();
    for (let attempt = 1; attempt <= this.maxAttempts; attempt += 1) {
      const chained = chain(
        entries.map((entry) => ({ entry, at })),
        head,
      );
      const written = await this.write(chained, head, []);
      if (!('moved' in written))
        return chained.map(({ record, hash }, index) => ({ ...record, hash, id: written.ids[index] as string }));
      // Another writer appended in between: chain to the head it left.
      head = written.moved;
    }
    throw new Error(`audit trail: could not append after ${this.maxAttempts} tries (the head kept moving)`);
  }

  /** One APPEND_AUDIT call: the stream ids of the records, or the head that moved under them. */
  private async write(
    chained: readonly Chained[],
    head: Head,
    inboxItems: readonly string[],
  ): Promise<{ ids: string[] } | { moved: Head }> {
    const pairs = chained.flatMap(({ text, hash }) => [text, hash]);
    const [outcome, ...rest] = await APPEND_AUDIT.run(
      this.redis,
      [this.keys],
      [head?.hash ?? '', String(inboxItems.length), inboxItems[0] ?? '', ...pairs],
    );
    if (outcome === 'ok') return { ids: rest };
    const [hash, seq] = rest as [string, string];
    return { moved: hash ? { hash, seq: Number(seq) } : null };
  }
}

/** Chains entries, each with the time of its step, after `head`. */
function chain(entries: readonly { entry: AuditEntry; at: string }[], head: Head): Chained[] {
  let prev = head?.hash ?? AUDIT_GENESIS_HASH;
  let seq = head?.seq ?? 0;
  return entries.map(({ entry, at }) => {
    seq += 1;
    const record: AuditRecord = {
      seq,
      at,
      type: entry.type,
      tenant: entry.tenant ?? null,
      job_id: entry.job_id ?? null,
      tool: entry.tool ?? null,
      payload_sha256: entry.payload_sha256 ?? null,
      actor: entry.actor === undefined || entry.actor === null ? null : redactSecrets(entry.actor),
      channel: entry.channel ?? null,
      details: redactSecrets(entry.details ?? {}),
      prev_hash: prev,
    };
    const text = serializeAuditRecord(record);
    prev = sha256Hex(text);
    return { record, text, hash: prev };
  });
}

function toStored([id, flat]: [string, string[]]): StoredAuditEntry {
  const { record, hash } = fieldsOf(flat);
  return { id, record, hash };
}
