import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

/** `harombe keys hash|create`. */
export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('API keys: make one, or hash one for harombe.yaml');

  keys
    .command('hash')
    .description('print the SHA-256 of a key, for api.keys[].key_sha256 in harombe.yaml')
    .argument('<key>', 'the key ("-" reads it from stdin, which keeps it out of the shell history)')
    .action(lazyAction(() => import('./keys.js'), 'runKeysHash'));

  keys
    .command('create')
    .description('make a new random key: prints it once, and the entry to add to api.keys in harombe.yaml')
    .requiredOption(
      '--name <name>',
      'who uses the key (shown as decided_by, and nobody approves jobs of their own name)',
    )
    .requiredOption('--tenant <tenant>', 'tenant the key acts for (letters, digits, dot, dash, underscore)')
    .requiredOption('--scopes <scopes>', 'comma-separated: submit, approve, admin')
    .option(
      '--slack-user-id <id>',
      "the owner's Slack user id, so they cannot approve their own jobs from Slack either",
    )
    .option('--json', 'print {"key": ..., "entry": ...} as JSON instead')
    .action(lazyAction(() => import('./keys.js'), 'runKeysCreate'));
}
