#!/usr/bin/env node
import { Command } from 'commander';
import { describeError } from './cli-error.js';
import { registerApprovalsCommands } from './commands/approvals-command.js';
import { registerExecCommand } from './commands/exec-command.js';
import { registerJobsCommands } from './commands/jobs-command.js';
import { registerKeysCommands } from './commands/keys-command.js';
import { registerMcpCommand } from './commands/mcp-command.js';
import { registerSandboxesCommands } from './commands/sandboxes-command.js';
import { registerSubmitCommand } from './commands/submit-command.js';
import { registerFleetCommands } from './fleet-commands.js';

// Only the commands' definitions load here (commander, the ids' shapes, the languages): each
// command loads what it does when it runs (lazyAction), so `--help` and usage errors come fast.

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

async function main(): Promise<void> {
  // up, run, doctor, audit, policy: from @harombe/local-fleet when it is installed.
  await registerFleetCommands(program);
  registerExecCommand(program);
  registerSubmitCommand(program);
  registerJobsCommands(program);
  registerSandboxesCommands(program);
  registerApprovalsCommands(program);
  registerKeysCommands(program);
  registerMcpCommand(program);
  await program.parseAsync();
}

main().catch(async (error: unknown) => {
  const { text, exitCode } = await describeError(error);
  if (text) process.stderr.write(text);
  process.exitCode = exitCode;
});
