import { systemClock, type Clock, type HarombeConfig } from '@harombe/core';
import { RiskPolicy } from '@harombe/policy';
import {
  AuditTrail,
  BatchStore,
  JobDispatcher,
  JobEvents,
  JobEventStream,
  JobService,
  JobStore,
  KeptSandboxAdmission,
  RedisKeys,
  SandboxDirectory,
  StoreHeadroom,
  SubmissionQuotas,
  StreamNotifier,
  WorkerRegistry,
  type JobObserver,
} from '@harombe/queue';
import { Webhooks, type WebhooksOptions } from '@harombe/webhooks';
import type { Logger } from 'pino';
import type { RedisConnections } from './redis-connections.js';

/** The job pipeline's parts over one process's Redis connections, configured from harombe.yaml. */
export interface JobPipeline {
  keys: RedisKeys;
  clock: Clock;
  store: JobStore;
  batches: BatchStore;
  workers: WorkerRegistry;
  sandboxes: SandboxDirectory;
  /** Quotas and room for kept sandboxes. */
  admission: KeptSandboxAdmission;
  events: JobEvents;
  /** The events of jobs and batches (Redis streams), for the API's live events. */
  eventStream: JobEventStream;
  /** Wakes readers of those streams; its connection opens on the first watch. */
  notifier: StreamNotifier;
  dispatcher: JobDispatcher;
  jobs: JobService;
  policy: RiskPolicy;
  /** The audit trail the job service writes to (and workers and the housekeeper, given it). */
  audit: AuditTrail;
  /** Callback URLs are checked with its guard; the approval service starts its delivery. */
  webhooks: Webhooks;
  close(): Promise<void>;
}

/** What tests (and only they) change of the webhooks' wiring: a fast retry schedule, a resolver. */
export type WebhookTuning = Partial<Pick<WebhooksOptions, 'schedule' | 'lookup' | 'env' | 'dispatcher'>>;

/** Batches outlive their jobs' results by a day, for stragglers. */
const BATCH_GRACE_SECONDS = 86_400;

/** With `observer` (JobMetrics), the job service and the dispatcher tell it what they do to jobs. */
export function createJobPipeline(
  config: HarombeConfig,
  redis: RedisConnections,
  logger: Logger,
  clock: Clock = systemClock,
  observer?: JobObserver,
  webhookTuning: WebhookTuning = {},
): JobPipeline {
  const keys = new RedisKeys(config.redis.prefix);
  const store = new JobStore({ redis: redis.commands, keys, resultTtlSeconds: config.api.result_ttl_seconds });
  const audit = new AuditTrail({ redis: redis.commands, keys, clock });
  const batches = new BatchStore(redis.commands, keys, config.api.result_ttl_seconds + BATCH_GRACE_SECONDS);
  const workers = new WorkerRegistry(redis.commands, keys, config.worker.lost_after_seconds * 1000);
  const sandboxes = new SandboxDirectory(redis.commands, keys);
  const events = new JobEvents(redis.subscriber, keys);
  const eventStream = new JobEventStream({ redis: redis.commands, keys });
  const notifier = new StreamNotifier(() => redis.commands.duplicate());
  const admission = new KeptSandboxAdmission({ directory: sandboxes, workers, quotas: config.quotas, clock });
  const dispatcher = new JobDispatcher({
    connection: redis.bullConnection(),
    keys,
    store,
    sandboxes,
    workers,
    clock,
    logger,
    admission,
    observer,
  });
  const webhooks = new Webhooks({
    config: config.webhooks,
    redis: redis.commands,
    connection: redis.bullConnection(),
    keys,
    store,
    batches,
    logger,
    clock,
    ...webhookTuning,
  });
  const sandbox = config.security.sandbox;
  const policy = RiskPolicy.fromConfig(config);
  const jobs = new JobService({
    store,
    batches,
    dispatcher,
    events,
    policy,
    clock,
    logger,
    maxCodeBytes: sandbox.max_code_bytes,
    maxFileBytes: sandbox.max_file_bytes,
    maxLimits: sandbox.max_limits,
    audit,
    admission,
    sandboxes,
    quotas: new SubmissionQuotas({ redis: redis.commands, keys, quotas: config.quotas, clock }),
    headroom: new StoreHeadroom({ redis: redis.commands, clock }),
    callbacks: webhooks.guard,
    observer,
    configuredWebhooks: (tenant) => (config.webhooks.tenants[tenant]?.subscriptions.length ?? 0) > 0,
  });
  return {
    keys,
    clock,
    store,
    batches,
    workers,
    sandboxes,
    admission,
    events,
    eventStream,
    notifier,
    dispatcher,
    jobs,
    policy,
    audit,
    webhooks,
    async close() {
      await webhooks.stop();
      await dispatcher.close();
      await events.close();
      await notifier.close();
    },
  };
}
