import { deepFreeze, type PolicyRule } from './policy-rule.js';

/**
 * The reference design's rules ("HITL Integration"), in evaluation order: the first rule
 * whose tools, conditions and predicate match wins. Plain data where core's condition
 * language suffices; a built-in predicate where it does not (the dangerous-pattern list,
 * the configured registries).
 */
export const DEFAULT_RULES: readonly PolicyRule[] = deepFreeze([
  {
    tools: ['code_execute'],
    risk: 'CRITICAL',
    timeout: 30,
    conditions: [{ param: 'network_enabled', equals: true, negate: false }],
    description: 'Code execution with network access',
  },
  {
    tools: ['code_execute'],
    risk: 'CRITICAL',
    timeout: 30,
    conditions: [],
    predicate: 'dangerous_code',
    description: 'Code contains a dangerous pattern',
  },
  {
    tools: ['code_execute'],
    risk: 'HIGH',
    timeout: 60,
    conditions: [],
    description: 'Code execution',
  },
  {
    tools: ['code_install_package'],
    risk: 'HIGH',
    timeout: 60,
    conditions: [],
    predicate: 'allowed_registry',
    description: 'Package installation from an allowed registry',
  },
  {
    tools: ['code_install_package'],
    risk: 'CRITICAL',
    timeout: 30,
    conditions: [],
    predicate: 'other_registry',
    description: 'Package installation from a non-standard registry',
  },
  {
    tools: ['code_write_file'],
    risk: 'HIGH',
    timeout: 60,
    // Searched case-insensitively: script.py, dir/run.SH.
    conditions: [{ param: 'file_path', matches: String.raw`\.(?:sh|py|js|exe|bin)$`, negate: false }],
    description: 'Writing an executable file',
  },
  {
    tools: ['code_write_file'],
    risk: 'MEDIUM',
    timeout: 120,
    conditions: [],
    description: 'Writing a non-executable file',
  },
  {
    tools: ['code_read_file'],
    risk: 'MEDIUM',
    timeout: 120,
    conditions: [],
    description: 'Reading a file from the workspace',
  },
  {
    tools: ['code_list_files'],
    risk: 'MEDIUM',
    timeout: 120,
    conditions: [],
    description: 'Listing files in the workspace',
  },
  {
    tools: ['code_destroy_sandbox'],
    risk: 'LOW',
    conditions: [],
    description: 'Destroying a sandbox (cleanup)',
  },
  {
    tools: ['code_create_sandbox'],
    risk: 'CRITICAL',
    timeout: 30,
    conditions: [{ param: 'network_enabled', equals: true, negate: false }],
    description: 'Creating a sandbox with network access',
  },
  {
    // No code runs: what later runs in it is classified when it is asked for.
    tools: ['code_create_sandbox'],
    risk: 'LOW',
    conditions: [],
    description: 'Creating a sandbox',
  },
]);
