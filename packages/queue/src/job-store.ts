import { randomBytes } from 'node:crypto';
import { isTerminal, type JobStatus } from '@harombe/core';
import type { Redis } from 'ioredis';
import { DEADLINE_GUARDED, transitionOf, type JobEvent } from './job-lifecycle.js';
import { decodeRecord, encodeFields, type JobRecord } from './job-record.js';
import { auditInboxItem, type AuditEntry } from './audit-entry.js';
import {
  CREATE_JOB,
  JOB_EVENTS_MAXLEN,
  PLACE_JOB,
  QUEUE_SCRIPTS,
  TRANSITION_JOB,
  type JobRouting,
} from './queue-scripts.js';
import { outputEventFields, type OutputChunk } from './job-event-stream.js';
import { fieldsOf } from './redis-fields.js';
import { RedisKeys } from './redis-keys.js';
import { batchJobEndedEvent, submittedEvent, transitionEvent } from './status-events.js';

export interface JobStoreOptions {
  /** A connection for commands (not one in subscriber mode). */
  redis: Redis;
  /** Default: `new RedisKeys()` (prefix `harombe`). */
  keys?: RedisKeys;
  /** How long a finished job, its result and its idempotency key are kept, in seconds. Default 86 400. */
  resultTtlSeconds?: number;
}

/** What a step may carry besides its change (see JobStore.transition). */
export interface StepOptions {
  /** The step applies only while the job runs on this worker (a worker's own steps). */
  worker?: string;
  /**
   * The step applies only to a job that has made this many attempts before it: a queue entry of
   * an earlier attempt does not start a later one, nor does a run's end end another's.
   */
  attempts?: number;
  /** The job's last output, appended to its event stream with the step, before its status event. */
  output?: readonly OutputChunk[];
  /** The job's fields its keys are built from, as the caller knows them (a worker, from the queue): no read first. */
  routing?: JobRouting;
  /** Answer the job as the step left it (`job` of the outcome), in the same round trip. */
  read?: boolean;
}

export type TransitionOutcome =
  | { outcome: 'ok'; previous: JobStatus; job?: JobRecord }
  | { outcome: 'missing' }
  | { outcome: 'refused' | 'late'; previous: JobStatus };

export function newId(kind: 'job' | 'batch' | 'approval'): string {
  return `${kind}-${randomBytes(12).toString('hex')}`;
}

const PAGE = 500;
/**
 * Calls of one step before giving up when what its keys are built from keeps changing under it
 * (an idempotency key claimed by another request in between): in practice a second call settles it.
 */
const MAX_CALLS = 5;
/** The fields of a job its steps' keys are built from (JobRouting), in this order. */
const ROUTING_FIELDS = ['tenant', 'submitted_by', 'batch_id', 'approval_id', 'idempotency_ref'] as const;
/** Jobs whose JobRouting a store keeps at most (about 300 bytes each), the oldest forgotten first. */
const ROUTES_KEPT = 10_000;

/**
 * The source of truth for every job: one Redis hash per job, changed only through the
 * lifecycle's events, each applied atomically and at most once.
 */
export class JobStore {
  readonly keys: RedisKeys;
  readonly resultTtlSeconds: number;
  private readonly redis: Redis;
  /**
   * JobRouting of jobs this store created, moved or read (while they had not ended), by job id: a
   * job's next step then needs no read first. They never change; a step checks them all the same
   * (see transition).
   */
  private readonly routes = new Map<string, JobRouting>();

  constructor(options: JobStoreOptions) {
    this.keys = options.keys ?? new RedisKeys();
    this.resultTtlSeconds = options.resultTtlSeconds ?? 86_400;
    this.redis = options.redis;
    // Before any pipeline is made: a pipeline has the scripts its client had then.
    QUEUE_SCRIPTS.install(this.redis);
  }

  /**
   * Stores a new job. With an idempotency key already used by the tenant, stores nothing and
   * returns the job that key made (`created: false`); when that job's payload_sha256 differs
   * (another tool or params under the same key), `conflict` is true as well.
   */
  async create(
    job: JobRecord,
    idempotencyKey?: string,
    audit: readonly AuditEntry[] = [],
  ): Promise<{ job_id: string; created: boolean; conflict: boolean }> {
    // The job a used key names is one of the script's keys: first expect none, then the one it answers.
    let existing = '';
    for (let call = 1; ; call += 1) {
      const [keyArgs, argv] = this.createArgs(job, idempotencyKey, audit, existing);
      const [outcome, jobId] = await CREATE_JOB.run(this.redis, keyArgs, argv);
      if (outcome === 'created') this.remember(keyArgs[1]);
      if (outcome !== 'retry')
        return { job_id: jobId, created: outcome === 'created', conflict: outcome === 'conflict' };
      if (call >= MAX_CALLS) throw new Error(`job store: the idempotency key of job ${job.job_id} kept changing`);
      existing = jobId;
    }
  }

  /** Stores many new jobs in pipelined round trips (a batch), each with the audit records `auditOf` gives it. */
  async createMany(jobs: JobRecord[], auditOf: (job: JobRecord) => readonly AuditEntry[] = () => []): Promise<void> {
    for (let i = 0; i < jobs.length; i += PAGE) {
      // Queued on the pipeline (no promise of its own): the replies come with exec().
      const pipeline = this.redis.pipeline();
      for (const job of jobs.slice(i, i + PAGE))
        CREATE_JOB.queue(pipeline, ...this.createArgs(job, undefined, auditOf(job), ''));
      for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
      for (const job of jobs.slice(i, i + PAGE)) this.remember(this.createArgs(job, undefined, [], '')[0][1]);
    }
  }

  /** Whether the tenant's idempotency key already names a job (a retry, stored already). */
  async idempotencyKeyUsed(tenant: string, idempotencyKey: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.idempotency(tenant, idempotencyKey))) === 1;
  }

  /** Records the worker whose queue a queued job was put on (see JobRecord.placed_on). */
  async place(jobId: string, workerId: string): Promise<void> {
    await PLACE_JOB.run(this.redis, [this.keys, jobId], [workerId]);
  }

  /**
   * The job as stored. One that has not ended is remembered (its JobRouting, read with it), so
   * that a step this store takes next (the worker's start after its read, a decision after the
   * approval's) needs no read of those fields first.
   */
  async get(jobId: string): Promise<JobRecord | undefined> {
    const hash = await this.redis.hgetall(this.keys.job(jobId));
    const job = decodeRecord(hash);
    if (job && !isTerminal(job.status)) {
      const fields = ROUTING_FIELDS.map((field) => hash[field]);
      this.remember(routingOf(jobId, fields));
    }
    return job;
  }

  /** A job's status alone (cheap to ask often); undefined when the job is gone. */
  async status(jobId: string): Promise<JobStatus | undefined> {
    return ((await this.redis.hget(this.keys.job(jobId), 'status')) as JobStatus | null) ?? undefined;
  }

  async getMany(jobIds: string[]): Promise<(JobRecord | undefined)[]> {
    const out: (JobRecord | undefined)[] = [];
    for (let i = 0; i < jobIds.length; i += PAGE) {
      const pipeline = this.redis.pipeline();
      for (const id of jobIds.slice(i, i + PAGE)) pipeline.hgetall(this.keys.job(id));
      for (const [error, hash] of (await pipeline.exec()) ?? []) {
        if (error) throw error;
        out.push(decodeRecord(hash as Record<string, string>));
      }
    }
    return out;
  }

  /**
   * Each job's status and the bytes its params and result take, without reading them: what
   * reading it whole would cost (undefined for a job that is gone).
   */
  async footprints(jobIds: string[]): Promise<({ status: JobStatus; bytes: number } | undefined)[]> {
    const out: ({ status: JobStatus; bytes: number } | undefined)[] = [];
    for (let i = 0; i < jobIds.length; i += PAGE) {
      const pipeline = this.redis.pipeline();
      for (const id of jobIds.slice(i, i + PAGE)) {
        const key = this.keys.job(id);
        pipeline.hget(key, 'status').hstrlen(key, 'params').hstrlen(key, 'result');
      }
      const answers = (await pipeline.exec()) ?? [];
      for (let j = 0; j < answers.length; j += 3) {
        const [[e1, status], [e2, params], [e3, result]] = answers.slice(j, j + 3) as [
          [Error | null, unknown],
          [Error | null, unknown],
          [Error | null, unknown],
        ];
        const failed = e1 ?? e2 ?? e3;
        if (failed) throw failed;
        out.push(status ? { status: status as JobStatus, bytes: Number(params) + Number(result) } : undefined);
      }
    }
    return out;
  }

  /**
   * Applies one lifecycle event with the given field changes, atomically: nothing happens
   * unless the job is in one of the event's `from` statuses (and, for decisions, before its
   * approval deadline). `audit`, the step's record, goes to the audit inbox in the same step, and
   * the step's status event to the job's event stream (and, for a batch job's end, to the batch's).
   * The job's other keys are built from its fields (JobRouting): those this store saw last (made,
   * stepped or read), else read first; a step finds them changed ('moved') only if they were
   * wrong, and then reads them. See StepOptions for what else a step may do.
   */
  async transition(
    jobId: string,
    event: JobEvent,
    patch: Partial<JobRecord>,
    nowMs: number,
    audit?: AuditEntry,
    step: StepOptions = {},
  ): Promise<TransitionOutcome> {
    const { from, to, terminal } = transitionOf(event);
    const argv = [
      event,
      from.join(','),
      to,
      String(nowMs),
      String(this.resultTtlSeconds),
      JSON.stringify(encodeFields(terminal ? { finished_at: nowMs, ...patch } : patch)),
      DEADLINE_GUARDED.includes(event) ? '1' : '0',
      terminal ? '1' : '0',
      this.keys.jobEvents(),
      audit ? auditInboxItem(audit, nowMs) : '',
      transitionEvent(jobId, event, to, nowMs, patch),
      terminal ? batchJobEndedEvent(jobId, to, patch) : '',
      String(JOB_EVENTS_MAXLEN),
    ];
    const extra = [
      step.worker ?? '',
      step.read ? '1' : '0',
      step.attempts === undefined ? '' : String(step.attempts),
      ...(step.output ?? []).flatMap(outputEventFields),
    ];
    let job = step.routing ?? this.routes.get(jobId) ?? (await this.routing(jobId));
    for (let call = 1; ; call += 1) {
      const route = job;
      const [outcome, previous, fields] = await TRANSITION_JOB.run(
        this.redis,
        [this.keys, route],
        [...argv, ...ROUTING_FIELDS.map((field) => route[field]), ...extra],
      );
      if (outcome === 'missing') {
        this.routes.delete(jobId);
        return { outcome };
      }
      if (outcome !== 'moved') {
        // An ended job takes no further step.
        if (terminal && outcome === 'ok') this.routes.delete(jobId);
        else this.remember(route);
        if (outcome === 'ok' && fields) return { outcome, previous: previous as JobStatus, job: recordOf(fields) };
        return { outcome, previous: previous as JobStatus };
      }
      // Not the job's fields (they are set once: never, but for a job gone and made again): read them.
      if (call >= MAX_CALLS) throw new Error(`job store: the fields of job ${jobId} kept changing`);
      job = await this.routing(jobId);
    }
  }

  /** The fields a job's keys are built from, when this store knows them (it made, moved or read the job). */
  knownRouting(jobId: string): JobRouting | undefined {
    return this.routes.get(jobId);
  }

  private remember(routing: JobRouting): void {
    this.routes.delete(routing.job_id);
    this.routes.set(routing.job_id, routing);
    if (this.routes.size > ROUTES_KEPT) this.routes.delete(this.routes.keys().next().value as string);
  }

  /** What a job's step keys are built from, '' for fields it lacks (all of them for a job that is gone). */
  private async routing(jobId: string): Promise<JobRouting> {
    return routingOf(jobId, await this.redis.hmget(this.keys.job(jobId), ...ROUTING_FIELDS));
  }

  async jobIdForApproval(approvalId: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.approval(approvalId))) ?? undefined;
  }

  /** Pending approvals of one tenant, oldest first. */
  async pendingApprovalJobIds(tenant: string, limit: number): Promise<string[]> {
    return this.redis.zrange(this.keys.tenantPending(tenant), 0, limit - 1);
  }

  /** Jobs whose approval deadline has passed. */
  async dueApprovalJobIds(nowMs: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.approvalDeadlines(), '-inf', nowMs, 'LIMIT', 0, limit);
  }

  async forgetApprovalDeadline(jobId: string): Promise<void> {
    await this.redis.zrem(this.keys.approvalDeadlines(), jobId);
  }

  /** Earliest pending approval deadline (ms) after `afterMs`, if any: when the next expiry is due. */
  async nextApprovalDeadline(afterMs = Number.NEGATIVE_INFINITY): Promise<number | undefined> {
    const [, score] = await this.redis.zrangebyscore(
      this.keys.approvalDeadlines(),
      Number.isFinite(afterMs) ? `(${afterMs}` : '-inf',
      '+inf',
      'WITHSCORES',
      'LIMIT',
      0,
      1,
    );
    return score === undefined ? undefined : Number(score);
  }

  async countIndex(status: 'queued' | 'running'): Promise<number> {
    return this.redis.zcard(this.keys.index(status));
  }

  async countAwaitingApproval(): Promise<number> {
    return this.redis.zcard(this.keys.approvalDeadlines());
  }

  /** A page of a status index: jobs that entered it before `beforeMs`, oldest first. */
  async indexedBefore(
    status: 'queued' | 'running',
    beforeMs: number,
    offset: number,
    limit: number,
  ): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.index(status), '-inf', beforeMs, 'LIMIT', offset, limit);
  }

  /** Oldest entry of a status index: how long the longest-waiting job has waited. */
  async oldestIndexed(status: 'queued' | 'running'): Promise<number | undefined> {
    const [, score] = await this.redis.zrange(this.keys.index(status), 0, 0, 'WITHSCORES');
    return score === undefined ? undefined : Number(score);
  }

  /** CREATE_JOB's key arguments and ARGV; `existing`: the job expected under the idempotency key, or ''. */
  private createArgs(
    job: JobRecord,
    idempotencyKey: string | undefined,
    audit: readonly AuditEntry[],
    existing: string,
  ): [Parameters<typeof CREATE_JOB.keys>, string[]] {
    const idem = idempotencyKey ? this.keys.idempotency(job.tenant, idempotencyKey) : this.keys.unused();
    const fields = encodeFields(job);
    if (idempotencyKey) fields.idempotency_ref = idem;
    // Plain fields the scripts read without decoding the approval's JSON.
    if (job.approval) fields.approval_id = job.approval.approval_id;
    // Counted against its tenant's and key's quotas (waiting jobs, stored bytes) from now on.
    fields.quota = '1';
    // Whether its webhook events are recorded whatever its tenant's stored subscriptions (a job
    // with a callback_url always wants them). Always written: a job without the field (stored by an
    // older version) has its events recorded, as it always had.
    fields.webhooks = job.webhooks || job.callback_url ? 'true' : 'false';
    const routing: JobRouting = {
      job_id: job.job_id,
      tenant: job.tenant,
      submitted_by: job.submitted_by,
      batch_id: job.batch_id ?? '',
      approval_id: fields.approval_id ?? '',
      idempotency_ref: fields.idempotency_ref ?? '',
    };
    return [
      [this.keys, routing, idem, existing],
      [
        JSON.stringify(fields),
        String(job.created_at),
        this.keys.jobEvents(),
        idempotencyKey ? '1' : '0',
        existing,
        submittedEvent(job),
        String(JOB_EVENTS_MAXLEN),
        ...audit.map((entry) => auditInboxItem(entry, job.created_at)),
      ],
    ];
  }
}

/** A job as a script answers its hash (HGETALL's flat list of fields and values); undefined when it does not decode. */
function recordOf(flat: readonly string[]): JobRecord | undefined {
  try {
    return decodeRecord(fieldsOf(flat));
  } catch {
    return undefined;
  }
}

/** A job's JobRouting from the values of ROUTING_FIELDS, in that order ('' for those it lacks). */
function routingOf(jobId: string, values: readonly (string | null | undefined)[]): JobRouting {
  const routing: JobRouting = {
    job_id: jobId,
    tenant: '',
    submitted_by: '',
    batch_id: '',
    approval_id: '',
    idempotency_ref: '',
  };
  ROUTING_FIELDS.forEach((field, i) => (routing[field] = values[i] ?? ''));
  return routing;
}
