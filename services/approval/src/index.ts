export { ApprovalService, type ApprovalServiceOptions } from './approval-service.js';
