export {
  ApprovalAnnouncer,
  mayHaveReachedSlack,
  type ApprovalAnnouncerOptions,
  type DeliveryObserver,
} from './approval-announcer.js';
export { BoltLogger } from './bolt-logger.js';
export { SlackApprovals, type SlackApprovalsOptions, type SlackTuning } from './slack-approvals.js';
export { SlackApprovers, type SlackApproversOptions } from './slack-approvers.js';
export { SlackDecisions, type DecisionOutcome } from './slack-decisions.js';
export { SlackHttpServer, type SlackHttpServerOptions } from './slack-http-server.js';
export { isBatchSubject, SlackKeys } from './slack-keys.js';
export { SlackMessageRefs, type PendingPost, type SlackMessageRef } from './slack-message-refs.js';
export { SlackOutbox, type OutboxTask, type TaskKind } from './slack-outbox.js';
export { SIGNATURE_WINDOW_SECONDS, SlackReplayGuard } from './slack-replay-guard.js';
export * from './slack-messages.js';
