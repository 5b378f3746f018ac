export * from './clock.js';
export * from './config.js';
export * from './errors.js';
export * from './jobs.js';
export * from './languages.js';
export * from './limits.js';
export * from './risk.js';
export * from './tools.js';
