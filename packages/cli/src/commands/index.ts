/**
 * The fleet commands and their reusable helpers (connection settings, the submit plan and
 * state file, exec's reporting, doctor's checks, key making), for tests and other tools.
 */
export * from '../api-client-options.js';
export * from '../cli-error.js';
export * from '../cli-options.js';
export * from '../config-path.js';
export * from '../submit-plan.js';
export * from './approvals.js';
export * from './audit.js';
export * from './doctor.js';
export * from './exec.js';
export * from './jobs.js';
export * from './keys.js';
export * from './run.js';
export * from './sandboxes.js';
export * from './submit.js';
