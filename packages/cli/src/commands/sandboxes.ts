import { LANGUAGES, SandboxId, type CodeCreateSandboxParams, type Language } from '@harombe/core';
import { Option, type Command } from 'commander';
import { connectionFlags, createClient } from '../api-client-options.js';
import { CliError, EXIT } from '../cli-error.js';
import { idOf, seconds } from '../cli-options.js';

interface CreateFlags {
  language: Language;
  network?: boolean;
  allowDomain?: string[];
  idleTimeout?: number;
}

/** `harombe sandboxes list|create|destroy`: kept sandboxes, which live on for later calls. */
export function registerSandboxesCommands(program: Command): void {
  const sandboxes = program
    .command('sandboxes')
    .description('kept sandboxes: list them, make one up front, destroy one');

  sandboxes
    .command('list')
    .description("print the tenant's kept sandboxes as JSON")
    .action(async (_options: unknown, command: Command) => {
      const client = createClient('submit', { flags: connectionFlags(command) });
      process.stdout.write(`${JSON.stringify(await client.listSandboxes(), null, 2)}\n`);
    });

  sandboxes
    .command('create')
    .description(
      'make a kept sandbox (POST /v1/sandboxes) and print it as JSON; network-enabled ones wait for approval',
    )
    .addOption(new Option('-l, --language <language>', 'language it runs').choices(LANGUAGES).makeOptionMandatory())
    .option('--network', 'give it network, through its egress proxy (CRITICAL: needs approval)')
    .option('--allow-domain <domain...>', 'a domain (or *.domain) it may reach, with --network')
    .option(
      '--idle-timeout <seconds>',
      "destroy it after this long unused (default: the fleet's idle_timeout)",
      seconds,
    )
    .action(async (options: CreateFlags, command: Command) => {
      if (options.allowDomain && !options.network) {
        throw new CliError('InvalidArgument', '--allow-domain needs --network');
      }
      const client = createClient('submit', { flags: connectionFlags(command) });
      const params: CodeCreateSandboxParams = {
        language: options.language,
        ...(options.network ? { network_enabled: true, allowed_domains: options.allowDomain ?? [] } : {}),
        ...(options.idleTimeout ? { idle_timeout: options.idleTimeout } : {}),
      };
      const result = await client.createSandbox(params);
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      process.exitCode = result.success ? EXIT.ok : EXIT.failed;
    });

  sandboxes
    .command('destroy')
    .description('destroy a kept sandbox and print the code_destroy_sandbox job as JSON')
    .argument('<sandbox_id>', 'sandbox-<16 hex digits>', idOf(SandboxId))
    .action(async (sandboxId: string, _options: unknown, command: Command) => {
      const client = createClient('submit', { flags: connectionFlags(command) });
      const job = await client.destroySandbox(sandboxId);
      process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
      process.exitCode = job.status === 'completed' && job.result?.success === true ? EXIT.ok : EXIT.failed;
    });
}
