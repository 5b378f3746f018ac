export * from './helpers.js';
export * from './test-fleet.js';
