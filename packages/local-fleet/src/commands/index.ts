import type { Command } from 'commander';
import { registerAuditCommands } from './audit.js';
import { registerDoctorCommand } from './doctor.js';
import { registerPolicyCommand } from './policy.js';
import { registerRunCommand } from './run.js';
import { registerUpCommand } from './up.js';

/**
 * What `harombe` loads from here when this package is installed: the commands that need this
 * host's Docker, Redis or the fleet's services. Kept light to import (each loads its heavy parts
 * when it runs), as every `harombe` invocation imports this module.
 */
export function registerFleetCommands(program: Command): void {
  registerUpCommand(program);
  registerRunCommand(program);
  registerDoctorCommand(program);
  registerAuditCommands(program);
  registerPolicyCommand(program);
}

export { configPathOf } from '@harombe/cli';
export * from './audit.js';
export * from './doctor.js';
export * from './policy.js';
export * from './run.js';
export * from './up.js';
