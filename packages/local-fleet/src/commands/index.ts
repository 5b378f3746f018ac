import type { Command } from 'commander';
import { registerAuditCommands } from './audit-command.js';
import { registerDoctorCommand } from './doctor-command.js';
import { registerPolicyCommand } from './policy-command.js';
import { registerRunCommand } from './run-command.js';
import { registerUpCommand } from './up-command.js';

/**
 * What `harombe` loads from here when this package is installed: the commands that need this
 * host's Docker, Redis or the fleet's services. Only their definitions load here (commander,
 * @harombe/cli/command-kit, @harombe/core/names), as every `harombe` invocation imports this
 * module; each command loads what it does (audit.ts, doctor.ts, ...) when it runs.
 */
export function registerFleetCommands(program: Command): void {
  registerUpCommand(program);
  registerRunCommand(program);
  registerDoctorCommand(program);
  registerAuditCommands(program);
  registerPolicyCommand(program);
}

export * from './audit-command.js';
export * from './doctor-command.js';
export * from './policy-command.js';
export * from './run-command.js';
export * from './up-command.js';
