export { ApprovalService, type ApprovalServiceOptions } from './approval-service.js';
export { ApprovalMetrics, type ApprovalMetricsOptions } from './approval-metrics.js';
export { FleetController, type FleetControllerOptions } from './fleet-controller.js';
