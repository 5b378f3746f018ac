/**
 * The client commands and their reusable helpers (connection settings, the submit plan and
 * state file, exec's reporting, key making), for tests and for the fleet commands of
 * @harombe/local-fleet.
 */
export * from '../api-client-options.js';
export * from '../cli-error.js';
export * from '../cli-options.js';
export * from '../config-path.js';
export * from '../fleet-commands.js';
export * from '../local-credentials.js';
export * from '../submit-plan.js';
export * from '../lazy-action.js';
export * from './approvals.js';
export * from './approvals-command.js';
export * from './exec.js';
export * from './exec-command.js';
export * from './jobs.js';
export * from './jobs-command.js';
export * from './keys.js';
export * from './keys-command.js';
export * from './sandboxes.js';
export * from './sandboxes-command.js';
export * from './submit.js';
export * from './submit-command.js';
