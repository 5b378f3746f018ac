/**
 * Every Redis key and queue name of one deployment. The prefix is wrapped in a hash tag
 * (`{harombe}`) so that all of them land in one Redis Cluster slot: scripts touching several
 * keys and BullMQ's own scripts then run on a cluster as on a single server.
 */
export class RedisKeys {
  readonly tag: string;

  constructor(prefix = 'harombe') {
    this.tag = `{${prefix}}`;
  }

  job(jobId: string): string {
    return `${this.tag}:job:${jobId}`;
  }
  /** approval_id → job_id. */
  approval(approvalId: string): string {
    return `${this.tag}:approval:${approvalId}`;
  }
  idempotency(tenant: string, key: string): string {
    return `${this.tag}:idem:${tenant}:${key}`;
  }
  batch(batchId: string): string {
    return `${this.tag}:batch:${batchId}`;
  }
  batchCounts(batchId: string): string {
    return `${this.tag}:batch:${batchId}:counts`;
  }
  batchJobs(batchId: string): string {
    return `${this.tag}:batch:${batchId}:jobs`;
  }
  /** Jobs per status that something must act on, scored by when they entered it. */
  index(status: 'queued' | 'running' | 'awaiting_approval'): string {
    return `${this.tag}:index:${status}`;
  }
  /** awaiting_approval jobs scored by their approval deadline (ms). */
  approvalDeadlines(): string {
    return `${this.tag}:approval-deadlines`;
  }
  /** Pending approvals per tenant, for the approvals list. */
  tenantPending(tenant: string): string {
    return `${this.tag}:pending:${tenant}`;
  }
  workers(): string {
    return `${this.tag}:workers`;
  }
  worker(workerId: string): string {
    return `${this.tag}:worker:${workerId}`;
  }
  sandbox(sandboxId: string): string {
    return `${this.tag}:sandbox:${sandboxId}`;
  }
  tenantSandboxes(tenant: string): string {
    return `${this.tag}:sandboxes:${tenant}`;
  }
  /** Kept sandboxes being made for a tenant, scored by when the reservation lapses (ms). */
  tenantSandboxReservations(tenant: string): string {
    return `${this.tag}:sandbox-reservations:${tenant}`;
  }
  /** A sandbox lost with its worker: why, for the jobs that name it later. */
  lostSandbox(sandboxId: string): string {
    return `${this.tag}:sandbox-lost:${sandboxId}`;
  }
  workerSandboxes(workerId: string): string {
    return `${this.tag}:worker-sandboxes:${workerId}`;
  }
  /**
   * A job's events (status changes and output), a Redis stream; the pub/sub channel of the same
   * name says that one was added. The job store's scripts write its status events.
   */
  jobEventStream(jobId: string): string {
    return `${this.tag}:events:job:${jobId}`;
  }
  /** The ends of a batch's jobs, a Redis stream; the channel of the same name says that a job of the batch moved. */
  batchEventStream(batchId: string): string {
    return `${this.tag}:events:batch:${batchId}`;
  }
  /**
   * Pub/sub channel of job status changes: `<job_id> <status> <flags>`, flags being `a` when the
   * job has an approval and `w` when the step recorded a webhook event. Only the changes someone
   * listens for are told: every end, and each step of a job with a flag (see JobEvents).
   */
  jobEvents(): string {
    return `${this.tag}:job-events`;
  }
  /**
   * Webhook events not yet turned into deliveries: members `<type> <job or batch id> <ms>`, added
   * by the job store's scripts in the same step as the status change, scored by when they are due.
   */
  webhookEvents(): string {
    return `${this.tag}:webhooks:events`;
  }
  /**
   * A tenant's webhook subscriptions made through the API (hash: id → JSON). The job store's
   * scripts record a job's webhook events only while it exists (or the job asks for them).
   */
  webhookSubscriptions(tenant: string): string {
    return `${this.tag}:webhooks:subscriptions:${tenant}`;
  }
  /** What a tenant holds, for its submission quotas: `waiting` jobs and stored `bytes` (hash). */
  quota(tenant: string): string {
    return `${this.tag}:quota:${tenant}`;
  }
  /** What one API key of the tenant holds, as quota() for the tenant. */
  keyQuota(tenant: string, keyName: string): string {
    return `${this.quota(tenant)}:key:${keyName}`;
  }
  /**
   * Bytes of the tenant's ended jobs that leave its quotas when the jobs expire: members
   * `<job id>|<bytes>|<key name>` scored by that moment (ms).
   */
  quotaLapse(tenant: string): string {
    return `${this.tag}:quota-lapse:${tenant}`;
  }
  /** The audit trail (a stream) and its head (hash and seq of the last record). */
  audit(): string {
    return `${this.tag}:audit`;
  }
  auditHead(): string {
    return `${this.tag}:audit:head`;
  }
  /** Records the job store's scripts wrote with their steps, not yet chained into the trail. */
  auditInbox(): string {
    return `${this.tag}:audit:inbox`;
  }
  /**
   * Stands in a script's KEYS for a key the call does not touch (a job without a batch, a
   * submission without an idempotency key): in the same slot as the others, and never written.
   */
  unused(): string {
    return `${this.tag}:unused`;
  }
  /** BullMQ's prefix: its keys carry the same hash tag. */
  bullPrefix(): string {
    return this.tag;
  }
}

/** Queue names under the BullMQ prefix. */
export const SHARED_QUEUE = 'exec';
export function workerQueueName(workerId: string): string {
  return `worker-${workerId}`;
}
