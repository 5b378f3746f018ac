export { ApprovalService, type ApprovalServiceOptions } from './approval-service.js';
export { ApprovalAnnouncer, type ApprovalAnnouncerOptions, type DeliveryObserver } from './approval-announcer.js';
export { ApprovalMetrics, type ApprovalMetricsOptions } from './approval-metrics.js';
export { SlackApprovals, type SlackApprovalsOptions, type SlackTuning } from './slack-approvals.js';
export { SlackDecisions, type DecisionOutcome } from './slack-decisions.js';
export { SlackKeys } from './slack-keys.js';
export { SlackOutbox, type OutboxTask, type TaskKind } from './slack-outbox.js';
export * from './slack-messages.js';
