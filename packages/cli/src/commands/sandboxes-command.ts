import { ID_FORMATS, LANGUAGES } from '@harombe/core/names';
import { Option, type Command } from 'commander';
import { idOf, seconds } from '../cli-options.js';
import { lazyAction } from '../lazy-action.js';

/** `harombe sandboxes list|create|destroy`: kept sandboxes, which live on for later calls. */
export function registerSandboxesCommands(program: Command): void {
  const sandboxes = program
    .command('sandboxes')
    .description('kept sandboxes: list them, make one up front, destroy one');

  sandboxes
    .command('list')
    .description("print the tenant's kept sandboxes as JSON")
    .action(lazyAction(() => import('./sandboxes.js'), 'runSandboxesList'));

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
    .action(lazyAction(() => import('./sandboxes.js'), 'runSandboxesCreate'));

  sandboxes
    .command('destroy')
    .description('destroy a kept sandbox and print the code_destroy_sandbox job as JSON')
    .argument('<sandbox_id>', 'sandbox-<16 hex digits>', idOf(ID_FORMATS.sandbox_id))
    .action(lazyAction(() => import('./sandboxes.js'), 'runSandboxesDestroy'));
}
