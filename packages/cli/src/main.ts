#!/usr/bin/env node
import { Command } from 'commander';
import { describeError } from './cli-error.js';
import { registerApprovalsCommands } from './commands/approvals.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerExecCommand } from './commands/exec.js';
import { registerJobsCommands } from './commands/jobs.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerMcpCommand } from './commands/mcp.js';
import { registerPolicyCommand } from './commands/policy.js';
import { registerRunCommand } from './commands/run.js';
import { registerSandboxesCommands } from './commands/sandboxes.js';
import { registerSubmitCommand } from './commands/submit.js';
import { registerUpCommand } from './commands/up.js';

const program = new Command()
  .name('harombe')
  .description('Run untrusted code in gVisor sandboxes, on this host or on a Harombe fleet')
  .option('--config <file>', 'harombe.yaml to read (default: $HAROMBE_CONFIG, else the defaults)')
  .option(
    '--api-url <url>',
    "the fleet's API (default: $HAROMBE_API_URL, else the local fleet of `harombe up`, else http://127.0.0.1:8080)",
  )
  .option(
    '--api-key <key>',
    "API key (default: $HAROMBE_API_KEY, or $HAROMBE_APPROVER_KEY for approvals, else the local fleet's keys)",
  )
  .showHelpAfterError('(harombe --help lists the commands; harombe <command> --help explains one)')
  // Usage errors exit 2 (reported below), not through process.exit from inside commander.
  .exitOverride();

// `harombe … | head`: the reader left; stop quietly rather than die on an unhandled EPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
});

registerUpCommand(program);
registerRunCommand(program);
registerExecCommand(program);
registerSubmitCommand(program);
registerJobsCommands(program);
registerSandboxesCommands(program);
registerApprovalsCommands(program);
registerAuditCommands(program);
registerKeysCommands(program);
registerPolicyCommand(program);
registerDoctorCommand(program);
registerMcpCommand(program);

program.parseAsync().catch((error: unknown) => {
  const { text, exitCode } = describeError(error);
  if (text) process.stderr.write(text);
  process.exitCode = exitCode;
});
