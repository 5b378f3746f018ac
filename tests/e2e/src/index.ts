export * from './deploy-queries.js';
export * from './helpers.js';
export * from './prometheus-server.js';
export * from './test-fleet.js';
