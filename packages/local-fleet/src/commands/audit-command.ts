import { lazyAction, positiveInteger } from '@harombe/cli/command-kit';
import type { Command } from 'commander';

/** `harombe audit verify` and `harombe audit tail`. */
export function registerAuditCommands(program: Command): void {
  const audit = program
    .command('audit')
    .description(
      'the audit trail in Redis: verify its hash chain, or print its latest records (reads Redis directly: --redis-url, $HAROMBE_REDIS_URL or redis.url)',
    );

  audit
    .command('verify')
    .description(
      "check every record's hash and link, and the head: exits 0 when intact, 1 when a record was edited, inserted or removed",
    )
    .option(
      '--redis-url <url>',
      'Redis holding the trail (default: $HAROMBE_REDIS_URL, else redis.url of the configuration)',
    )
    .option('--json', 'print the verdict as JSON')
    .action(lazyAction(() => import('./audit.js'), 'runAuditVerify'));

  audit
    .command('tail')
    .description('print the latest records, oldest first; with --follow, keep printing new ones until Ctrl-C')
    .option('-n, --lines <n>', 'how many of the latest records', positiveInteger, 20)
    .option('-f, --follow', 'wait for new records and print them as they come')
    .option('--job <job_id>', 'only records about this job')
    .option('--tenant <tenant>', 'only records of this tenant')
    .option(
      '--redis-url <url>',
      'Redis holding the trail (default: $HAROMBE_REDIS_URL, else redis.url of the configuration)',
    )
    .option('--json', 'one JSON record per line (NDJSON)')
    .action(lazyAction(() => import('./audit.js'), 'runAuditTail'));
}
