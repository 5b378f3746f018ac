export {
  AuditChainVerifier,
  parseAuditEntry,
  serializeAuditRecord,
  sha256Hex,
  type AuditProblem,
  type AuditProblemKind,
  type AuditVerification,
  type StoredAuditEntry,
} from './audit-chain.js';
export { AuditTrail, type AuditTrailOptions } from './audit-trail.js';
export { jobEntry, type AuditedJob, type AuditEntry } from './audit-entry.js';
export { BatchStore, type BatchRecord } from './batch-store.js';
export { BatchViews, type BatchViewsOptions } from './batch-views.js';
export { Housekeeper, type HousekeeperOptions } from './housekeeper.js';
export { JobConsumer, REDIS_GRACE_MS, type JobConsumerOptions, type RunJob } from './job-consumer.js';
export { JobDispatcher, type JobDispatcherOptions, type QueuedJobData } from './job-dispatcher.js';
export { JobEvents, type JobEndListener, type JobEventFlags, type JobEventListener } from './job-events.js';
export {
  allCounts,
  JobEventStream,
  type JobEventStreamOptions,
  type OutputChunk,
  type OutputStreamName,
  type StoredEvent,
} from './job-event-stream.js';
export { JobOutputWriter, type JobOutputWriterOptions } from './job-output-writer.js';
export { JOB_EVENTS, transitionOf, type JobEvent } from './job-lifecycle.js';
export type { JobObserver } from './job-observer.js';
export { decodeRecord, encodeFields, toJobView, type JobRecord } from './job-record.js';
export {
  JobService,
  parseOrThrow,
  type CallbackTargetCheck,
  type Classifier,
  type JobServiceOptions,
} from './job-service.js';
export { JobStore, newId, type JobStoreOptions, type TransitionOutcome } from './job-store.js';
export { KeptSandboxAdmission, type KeptSandboxAdmissionOptions } from './kept-sandbox-admission.js';
export { PendingApprovals, type PendingByRisk } from './pending-approvals.js';
export type { Principal } from './principal.js';
export { JOB_EVENTS_MAXLEN, QUEUE_SCRIPTS } from './queue-scripts.js';
export { RedisKeys, SHARED_QUEUE, workerQueueName } from './redis-keys.js';
export { hashTag, RedisScript, type ScriptArgument, type ScriptSource } from './redis-script.js';
export { RedisScripts } from './redis-scripts.js';
export { endEventFor, failedResult, failedToolResult, INFRASTRUCTURE_ERRORS } from './results.js';
export { SandboxDirectory, type LostSandbox, type SandboxEntry } from './sandbox-directory.js';
export { SandboxViews, type SandboxViewsOptions } from './sandbox-views.js';
export { isOutOfMemory, StoreHeadroom, storeFull, type StoreHeadroomOptions } from './store-headroom.js';
export { SubmissionQuotas, type SubmissionQuotasOptions } from './submission-quotas.js';
export { StreamNotifier, type StreamWatch } from './stream-notifier.js';
export { WorkerRegistry, type WorkerCapacity, type WorkerInfo } from './worker-registry.js';
