export { refuseOversizedBodiesEarly } from './early-body-refusal.js';
export { createLogger, redactUrl, REDACTED_PATHS } from './logger.js';
export {
  createRegistry,
  EVENT_LOOP_SAMPLE_MS,
  registerOpsRoutes,
  startOpsServer,
  type OpsRoutesOptions,
  type ReadinessCheck,
} from './ops-routes.js';
export { RedisConnections } from './redis-connections.js';
export { fleetId, loadServiceConfig } from './service-config.js';
export { createJobPipeline, type JobPipeline, type WebhookTuning } from './job-pipeline.js';
export { ALL_QUEUES, APPROVALS_QUEUE, FleetMetrics, QUEUE_STATES, type FleetMetricsOptions } from './fleet-metrics.js';
export { JobMetrics, languageOf, type ApprovalOutcome, type EndedJob, type JobPhase } from './job-metrics.js';
export { WebhookMetrics } from '@harombe/webhooks';
