export { createLogger, redactUrl, REDACTED_PATHS } from './logger.js';
export { createRegistry, registerOpsRoutes, startOpsServer, type OpsRoutesOptions, type ReadinessCheck } from './ops-routes.js';
export { RedisConnections } from './redis-connections.js';
export { loadServiceConfig } from './service-config.js';
export { createJobPipeline, type JobPipeline } from './job-pipeline.js';
