export { McpMetrics } from './mcp-metrics.js';
export { McpService, type McpServiceOptions } from './mcp-service.js';
