import type { Clock, JobStatus, RiskLevel } from '@harombe/core';
import type { BatchStore, JobEvents, JobStore, RedisKeys } from '@harombe/queue';
import type { webApi } from '@slack/bolt';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { SlackApprovers } from './slack-approvers.js';
import { isBatchSubject } from './slack-keys.js';
import type { SlackMessageRefs } from './slack-message-refs.js';
import {
  approvalMetadata,
  approvalOutcome,
  approvalReminder,
  approvalRequest,
  batchOutcome,
  batchRequest,
  isApprovalOf,
  type BatchOutcome,
  type BatchSummary,
  type PreviewOptions,
  type SlackMessage,
} from './slack-messages.js';
import type { OutboxTask, SlackOutbox, TaskKind } from './slack-outbox.js';

/** Told of each Slack call that failed (for metrics). */
export interface DeliveryObserver {
  deliveryFailed(kind: TaskKind | 'ephemeral' | 'modal'): void;
}

export interface ApprovalAnnouncerOptions {
  /** The bot's Web API client. */
  client: webApi.WebClient;
  /** Id of the channel requests are posted to. */
  channel: string;
  store: JobStore;
  batches: BatchStore;
  events: JobEvents;
  keys: RedisKeys;
  /** A command connection. */
  redis: Redis;
  outbox: SlackOutbox;
  refs: SlackMessageRefs;
  approvers: SlackApprovers;
  clock: Clock;
  logger: Logger;
  preview: PreviewOptions;
  /** Re-announce an approval still open at half its timeout. Default true. */
  reminders?: boolean;
  observer?: DeliveryObserver;
  /** Deliveries run at once. Default 8. */
  concurrency?: number;
  /** Milliseconds between looks at the outbox for due tasks. Default 250. */
  pollIntervalMs?: number;
  /** Milliseconds between reconciliations of Slack with the job store. Default 15 000. */
  reconcileIntervalMs?: number;
}

/** Longest wait for a batch's jobs to be all written before announcing it, ms (a reconciliation catches a later one). */
const SEAL_WAIT_MS = 5_000;

/** Statuses a pending approval can move to: each may end one. */
const ENDING_STATUSES: ReadonlySet<JobStatus> = new Set(['queued', 'denied', 'expired', 'cancelled']);
const PAGE = 1_000;

/** How far before a lost post's first attempt its message is looked for, ms: Slack's clock and ours may differ. */
const LOOKUP_MARGIN_MS = 60_000;
/** Messages per page of that look, and pages at most (an approvals channel is quiet). */
const LOOKUP_PAGE_SIZE = 50;
const LOOKUP_PAGES = 10;

/**
 * Keeps Slack in step with the job store. It asks for a delivery (through the outbox) when a job
 * starts waiting for approval, when one's approval ends (whoever ended it: Slack, the API, the
 * timeout), and at half its timeout; then runs due deliveries: post the request, update it in
 * place, remind in its thread. Job events make this quick; a periodic reconciliation against the
 * job store makes it complete, since pub/sub drops what is published while no one listens.
 */
export class ApprovalAnnouncer {
  private readonly concurrency: number;
  private readonly pollIntervalMs: number;
  private readonly reconcileIntervalMs: number;
  private readonly reminders: boolean;
  /** Subjects whose announcement this process asked for since the last reconciliation. */
  private readonly asked = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private drainAgain = false;
  private stopped = true;

  constructor(private readonly options: ApprovalAnnouncerOptions) {
    this.concurrency = options.concurrency ?? 8;
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.reconcileIntervalMs = options.reconcileIntervalMs ?? 15_000;
    this.reminders = options.reminders ?? true;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.unsubscribe = this.options.events.onEvent((jobId, status, { approval }) => {
      // A job without an approval has nothing to say in Slack: it is not read at all.
      if (!approval) return;
      this.onJobEvent(jobId, status).catch((error: unknown) =>
        this.options.logger.error({ err: error, job_id: jobId }, 'slack: job event not handled'),
      );
    });
    await this.options.events.start();
    await this.reconcile();
    const poll = (): void => {
      // Whether or not the round failed (drain logs it), the next one comes.
      const next = (): void => {
        if (!this.stopped) poll();
      };
      this.pollTimer = setTimeout(() => void this.drain().then(next, next), this.pollIntervalMs);
    };
    poll();
    this.reconcileTimer = setInterval(() => {
      this.reconcile().catch((error: unknown) =>
        this.options.logger.error({ err: error }, 'slack: reconciliation failed'),
      );
    }, this.reconcileIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.pollTimer);
    clearInterval(this.reconcileTimer);
    await this.draining;
  }

  /** Asks for the subject's message to be brought up to date now (after a decision from Slack). */
  async refresh(subject: string): Promise<void> {
    await this.options.outbox.enqueue('update', subject);
    this.kick();
  }

  /**
   * Compares Slack with the job store and asks for what is missing: an announcement for each
   * pending approval without a message, an update for each open message whose approval ended.
   */
  async reconcile(): Promise<void> {
    const { redis, keys, outbox, refs } = this.options;
    this.asked.clear();
    for (let offset = 0; ; offset += PAGE) {
      const ids = await redis.zrange(keys.approvalDeadlines(), offset, offset + PAGE - 1);
      const batchIds = await this.fields(ids, 'batch_id');
      const subjects = [...new Set(ids.map((id, index) => batchIds[index] || id))];
      const announced = await refs.existing(subjects);
      for (const subject of subjects) if (!announced.has(subject)) await outbox.enqueue('announce', subject);
      if (ids.length < PAGE) break;
    }
    for (const subject of await refs.open()) {
      const ended = isBatchSubject(subject)
        ? !(Number(await redis.hget(keys.batchCounts(subject), 'awaiting_approval')) > 0)
        : (await redis.hget(keys.job(subject), 'status')) !== 'awaiting_approval';
      if (ended) await outbox.enqueue('update', subject);
    }
    this.kick();
  }

  /** Runs every due task, a few at a time, until none is due. */
  async drain(): Promise<void> {
    if (this.draining) {
      this.drainAgain = true;
      return this.draining;
    }
    this.draining = (async () => {
      do {
        this.drainAgain = false;
        for (;;) {
          const tasks = await this.options.outbox.claimDue(this.concurrency);
          if (tasks.length === 0) break;
          await Promise.all(tasks.map((task) => this.run(task)));
        }
      } while (this.drainAgain && !this.stopped);
    })()
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'slack: outbox not processed'))
      .finally(() => {
        this.draining = undefined;
      });
    return this.draining;
  }

  private kick(): void {
    // drain() has logged whatever failed; the next poll tries again.
    if (!this.stopped) void this.drain().catch(() => undefined);
  }

  private async onJobEvent(jobId: string, status: JobStatus): Promise<void> {
    const { redis, keys, outbox, refs } = this.options;
    if (status === 'awaiting_approval') {
      const subject = (await redis.hget(keys.job(jobId), 'batch_id')) || jobId;
      if (this.asked.has(subject)) return;
      this.asked.add(subject);
      await outbox.enqueue('announce', subject);
      this.kick();
      return;
    }
    if (!ENDING_STATUSES.has(status)) return;
    const [approvalId, batchId] = await redis.hmget(keys.job(jobId), 'approval_id', 'batch_id');
    if (!approvalId) return;
    const subject = batchId || jobId;
    // Not posted yet: the announcement, when it runs, sees the end itself.
    if (await refs.exists(subject)) {
      await outbox.enqueue('update', subject);
      this.kick();
    }
  }

  private async run(task: OutboxTask): Promise<void> {
    const { outbox, logger } = this.options;
    const log = logger.child({ slack_task: task.task });
    try {
      await this.perform(task);
      await outbox.complete(task);
    } catch (error) {
      if (isSlackError(error)) this.options.observer?.deliveryFailed(task.kind);
      if (task.kind !== 'announce' && GONE_ERRORS.has(slackErrorOf(error) ?? '')) {
        // Someone deleted the message or its channel: nothing will ever update it.
        log.error({ err: errorText(error) }, 'slack: the message is gone; no longer updating it');
        await this.options.refs.forget(task.subject);
        await outbox.complete(task);
        return;
      }
      // Retried until it succeeds or has nothing left to do (its approval ended, its records expired).
      const delay = await outbox.retry(task, retryAfterMs(error));
      log.warn(
        { err: errorText(error), attempt: task.attempts + 1, retry_in_ms: delay },
        'slack delivery failed; retrying',
      );
    }
  }

  private perform(task: OutboxTask): Promise<void> {
    const batch = isBatchSubject(task.subject);
    switch (task.kind) {
      case 'announce':
        return batch ? this.announceBatch(task.subject) : this.announceJob(task.subject);
      case 'update':
        return this.update(task.subject);
      case 'remind':
        return this.remind(task.subject);
    }
  }

  /**
   * Posts a job's request, unless it is no longer pending or was posted already. Updates and
   * reminders asked for before it was posted found no message and did nothing: once posted,
   * it schedules its reminder and asks for an update if the approval ended meanwhile.
   */
  private async announceJob(jobId: string): Promise<void> {
    const job = await this.options.store.get(jobId);
    if (!job?.approval || job.status !== 'awaiting_approval' || this.pastDeadline(job.approval_deadline))
      return this.adoptLost(jobId);
    if (await this.options.refs.exists(jobId)) return;
    await this.post(jobId, approvalRequest(job, this.options.preview));
    await this.scheduleReminder(jobId, halfway(job.created_at, job.approval_deadline));
    await this.updateIfEnded(jobId);
  }

  private async announceBatch(batchId: string): Promise<void> {
    let summary = await this.summarize(batchId);
    // The job events come while the batch is being written: wait (real time) until all of it is.
    for (let waited = 0; summary && !summary.sealed && waited < SEAL_WAIT_MS; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      summary = await this.summarize(batchId);
    }
    if (!summary?.sealed || summary.pending === 0 || this.pastDeadline(summary.latest_deadline))
      return this.adoptLost(batchId);
    if (await this.options.refs.exists(batchId)) return;
    await this.post(batchId, batchRequest(summary, this.options.preview));
    if (summary.first_reminder !== null) await this.scheduleReminder(batchId, summary.first_reminder);
    await this.updateIfEnded(batchId);
  }

  private async update(subject: string): Promise<void> {
    const { refs, client } = this.options;
    const ref = await refs.get(subject);
    // No reference: not posted (yet: its announcement sees the end itself), or it expired (forget it).
    if (!ref) return refs.forget(subject);
    if (ref.final) return;
    let message: SlackMessage;
    let final: boolean;
    if (isBatchSubject(subject)) {
      const summary = await this.summarize(subject);
      if (!summary) return this.options.refs.forget(subject);
      final = summary.pending === 0;
      message = final ? batchOutcome(summary, this.options.preview) : batchRequest(summary, this.options.preview);
    } else {
      const job = await this.options.store.get(subject);
      if (!job) return this.options.refs.forget(subject);
      if (job.status === 'awaiting_approval') return;
      final = true;
      message = approvalOutcome(job, this.options.preview);
    }
    await client.chat.update({ channel: ref.channel, ts: ref.ts, text: message.text, blocks: message.blocks });
    if (final) await refs.finalized(subject);
  }

  private async remind(subject: string): Promise<void> {
    const ref = await this.options.refs.get(subject);
    if (!ref || ref.final) return;
    let deadline: number | null;
    if (isBatchSubject(subject)) {
      const summary = await this.summarize(subject);
      deadline = summary && summary.pending > 0 ? summary.earliest_deadline : null;
    } else {
      const job = await this.options.store.get(subject);
      deadline = job?.status === 'awaiting_approval' ? job.approval_deadline : null;
    }
    if (deadline === null) return;
    const what = isBatchSubject(subject) ? `batch ${subject}` : `job ${subject}`;
    const { text } = approvalReminder(deadline, this.options.approvers.mention(), what);
    await this.options.client.chat.postMessage({ channel: ref.channel, thread_ts: ref.ts, text });
  }

  /**
   * Posts a subject's request, once. A post whose answer was lost (a timeout, a reset connection,
   * a crash before the ts was recorded) may have been carried out by Slack: before posting again,
   * it is looked for in the channel by its metadata, and adopted when found.
   */
  private async post(subject: string, message: SlackMessage): Promise<void> {
    const { client, refs, clock, channel, logger } = this.options;
    const adopted = await this.adoptPosted(subject);
    if (adopted) {
      logger.info(
        { subject, channel, ts: adopted },
        'slack: approval request found posted after a lost answer; not posting it again',
      );
      return;
    }
    await refs.postAttempted(subject, clock.now());
    let reply: webApi.ChatPostMessageResponse;
    try {
      reply = await client.chat.postMessage({
        channel,
        text: message.text,
        blocks: message.blocks,
        metadata: approvalMetadata(subject),
        unfurl_links: false,
        unfurl_media: false,
      });
    } catch (error) {
      if (!mayHaveReachedSlack(error)) await refs.postRefused(subject);
      throw error;
    }
    if (!reply.ts) throw new Error('chat.postMessage answered without a message ts');
    await refs.posted(subject, { channel: reply.channel ?? channel, ts: reply.ts, posted_at: clock.now() });
    logger.info({ subject, channel: reply.channel, ts: reply.ts }, 'slack: approval request posted');
  }

  /**
   * Nothing to ask any more (the approval ended before its request was known posted): a post whose
   * answer was lost may still be in the channel, with its buttons; found, it is brought up to date.
   */
  private async adoptLost(subject: string): Promise<void> {
    const adopted = await this.adoptPosted(subject);
    if (!adopted) return;
    this.options.logger.info(
      { subject, channel: this.options.channel, ts: adopted },
      'slack: approval request found posted after a lost answer; updating it',
    );
    await this.options.outbox.enqueue('update', subject);
  }

  /** A post of the subject's request whose answer was lost, found in the channel: recorded as posted. Its ts, when found. */
  private async adoptPosted(subject: string): Promise<string | undefined> {
    const { refs, clock, channel } = this.options;
    const pending = await refs.pendingPost(subject);
    if (!pending?.unsure) return undefined;
    const found = await this.findPosted(subject, pending.started_at);
    if (found) await refs.posted(subject, { channel, ts: found, posted_at: clock.now() });
    return found;
  }

  /**
   * The ts of the subject's request if it is in the channel: the messages since the first attempt
   * (less a margin for clocks apart), a page at a time, with their metadata.
   */
  private async findPosted(subject: string, startedAt: number): Promise<string | undefined> {
    const oldest = ((startedAt - LOOKUP_MARGIN_MS) / 1000).toFixed(6);
    let cursor: string | undefined;
    for (let page = 0; page < LOOKUP_PAGES; page += 1) {
      const reply = await this.options.client.conversations.history({
        channel: this.options.channel,
        oldest,
        limit: LOOKUP_PAGE_SIZE,
        include_all_metadata: true,
        ...(cursor ? { cursor } : {}),
      });
      const match = reply.messages?.find((message) => isApprovalOf(message.metadata, subject));
      if (match?.ts) return match.ts;
      cursor = reply.response_metadata?.next_cursor;
      if (!reply.has_more || !cursor) return undefined;
    }
    this.options.logger.warn(
      { subject, pages: LOOKUP_PAGES },
      'slack: approval request not found in the messages looked at; posting it again',
    );
    return undefined;
  }

  /** An approval whose deadline has passed is about to expire: too late to ask anyone (the sweep ends it). */
  private pastDeadline(deadline: number | null): boolean {
    return deadline !== null && deadline <= this.options.clock.now();
  }

  /** A request posted after its halfway point (Slack was down) gets no reminder: it was just announced. */
  private async scheduleReminder(subject: string, atMs: number): Promise<void> {
    if (this.reminders && atMs > this.options.clock.now()) await this.options.outbox.enqueue('remind', subject, atMs);
  }

  /** The approval may have ended while its request was being posted: then update it at once. */
  private async updateIfEnded(subject: string): Promise<void> {
    const { redis, keys } = this.options;
    const ended = isBatchSubject(subject)
      ? !(Number(await redis.hget(keys.batchCounts(subject), 'awaiting_approval')) > 0)
      : (await redis.hget(keys.job(subject), 'status')) !== 'awaiting_approval';
    if (ended) await this.options.outbox.enqueue('update', subject);
  }

  /** One field of many jobs, in one round trip ('' where absent). */
  private async fields(jobIds: readonly string[], field: string): Promise<string[]> {
    if (jobIds.length === 0) return [];
    const pipeline = this.options.redis.pipeline();
    for (const id of jobIds) pipeline.hget(this.options.keys.job(id), field);
    return ((await pipeline.exec()) ?? []).map(([, value]) => (typeof value === 'string' ? value : ''));
  }

  /** What a batch message shows, read from the jobs' small fields (never their code, but for one sample). */
  private async summarize(
    batchId: string,
  ): Promise<
    (BatchSummary & { sealed: boolean; first_reminder: number | null; latest_deadline: number | null }) | undefined
  > {
    const { batches, redis, keys, store } = this.options;
    const batch = await batches.get(batchId);
    if (!batch) return undefined;
    const ids = await batches.jobIds(batchId);
    const pipeline = redis.pipeline();
    for (const id of ids)
      pipeline.hmget(
        keys.job(id),
        'status',
        'risk',
        'tool',
        'approval',
        'approval_deadline',
        'created_at',
        'submitted_by',
        'submitted_by_slack',
      );
    const rows = ((await pipeline.exec()) ?? []).map(([, value]) => value as (string | null)[]);
    const summary: BatchSummary & { sealed: boolean; first_reminder: number | null; latest_deadline: number | null } = {
      batch_id: batchId,
      tenant: batch.tenant,
      submitted_by: '',
      submitted_by_slack: null,
      total: batch.total,
      needing_approval: 0,
      pending: 0,
      pending_by_risk: {},
      tools: [],
      earliest_deadline: null,
      outcomes: [],
      sample: undefined,
      sealed: ids.length >= batch.total,
      first_reminder: null,
      latest_deadline: null,
    };
    const tools = new Set<string>();
    const outcomes = new Map<string, BatchOutcome>();
    let sampleId: string | undefined;
    rows.forEach((row, index) => {
      const [status, risk, tool, approvalJson, deadline, createdAt, submittedBy, submittedBySlack] = row;
      summary.submitted_by ||= submittedBy ?? '';
      summary.submitted_by_slack ??= submittedBySlack || null;
      if (!approvalJson) return;
      summary.needing_approval += 1;
      const approval = JSON.parse(approvalJson) as {
        status: BatchOutcome['status'] | 'pending';
        decided_by: string | null;
        channel: string | null;
        reason: string | null;
        decided_at: string | null;
      };
      if (status === 'awaiting_approval') {
        summary.pending += 1;
        summary.pending_by_risk[risk as RiskLevel] = (summary.pending_by_risk[risk as RiskLevel] ?? 0) + 1;
        if (tool) tools.add(tool);
        const due = Number(deadline);
        summary.earliest_deadline = summary.earliest_deadline === null ? due : Math.min(summary.earliest_deadline, due);
        summary.latest_deadline = summary.latest_deadline === null ? due : Math.max(summary.latest_deadline, due);
        const reminder = halfway(Number(createdAt), due);
        summary.first_reminder =
          summary.first_reminder === null ? reminder : Math.min(summary.first_reminder, reminder);
        sampleId ??= ids[index];
      } else if (approval.status !== 'pending') {
        const key = JSON.stringify([
          approval.status,
          approval.decided_by,
          approval.channel,
          approval.status === 'expired' ? null : approval.reason,
        ]);
        const group = outcomes.get(key) ?? {
          status: approval.status,
          decided_by: approval.decided_by,
          channel: approval.channel,
          reason: approval.reason,
          decided_at: approval.decided_at,
          count: 0,
        };
        group.count += 1;
        outcomes.set(key, group);
      }
    });
    summary.tools = [...tools].sort();
    summary.outcomes = [...outcomes.values()].sort((a, b) => b.count - a.count);
    sampleId ??= ids[0];
    summary.sample = sampleId ? await store.get(sampleId) : undefined;
    return summary;
  }
}

/** Half-way between submission and deadline: when an open approval is re-announced. */
function halfway(createdAt: number, deadline: number): number {
  return createdAt + Math.floor((deadline - createdAt) / 2);
}

/** Slack's answers meaning a message can never be updated or replied to. */
const GONE_ERRORS: ReadonlySet<string> = new Set([
  'message_not_found',
  'cant_update_message',
  'thread_not_found',
  'channel_not_found',
  'is_archived',
]);

/** The `error` of Slack's `{ok: false, error}` answer, for a platform error. */
function slackErrorOf(error: unknown): string | undefined {
  const data = (error as { data?: { error?: unknown } } | null)?.data;
  return typeof data?.error === 'string' ? data.error : undefined;
}

/** Errors of the Slack Web API client (as opposed to Redis or a bug). */
function isSlackError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('slack_');
}

/** Failures of the connection itself: the request never left, so Slack cannot have carried it out. */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Whether Slack may have carried out a call that failed: yes unless it answered (`{ok: false}`,
 * rate limited, a 4xx) or the request never left (refused connection, unknown host). A timeout, a
 * reset connection, a 5xx or anything unknown may hide a success.
 */
export function mayHaveReachedSlack(error: unknown): boolean {
  const failure = error as { code?: unknown; statusCode?: unknown; original?: unknown } | null;
  switch (failure?.code) {
    case 'slack_webapi_platform_error':
    case 'slack_webapi_rate_limited_error':
      return false;
    case 'slack_webapi_http_error':
      return typeof failure.statusCode !== 'number' || failure.statusCode >= 500;
    case 'slack_webapi_request_error': {
      const codes = errorCodes(failure.original);
      return codes.length === 0 || !codes.every((code) => NOT_SENT_CODES.has(code));
    }
    default:
      return true;
  }
}

/** The `code`s along an error's causes (fetch wraps the socket's error in a TypeError, happy eyeballs in an AggregateError). */
function errorCodes(error: unknown, depth = 0): string[] {
  if (typeof error !== 'object' || error === null || depth > 5) return [];
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  return [
    ...(typeof code === 'string' ? [code] : []),
    ...errorCodes(cause, depth + 1),
    ...(Array.isArray(errors) ? errors.flatMap((inner) => errorCodes(inner, depth + 1)) : []),
  ];
}

/** Slack's Retry-After, when it rate-limited the call. */
function retryAfterMs(error: unknown): number {
  const retryAfter = (error as { retryAfter?: unknown } | null)?.retryAfter;
  return typeof retryAfter === 'number' ? retryAfter * 1000 : 0;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
