import { ID_FORMATS } from '@harombe/core/names';
import { Option, type Command } from 'commander';
import { idOf, positiveInteger } from '../cli-options.js';
import { lazyAction } from '../lazy-action.js';

/** `harombe approvals list|approve|deny`, with the approver key (HAROMBE_APPROVER_KEY, keys.approve). */
export function registerApprovalsCommands(program: Command): void {
  const approvals = program
    .command('approvals')
    .description(
      'jobs waiting for a person: list, approve, deny (uses the approver key: --api-key, $HAROMBE_APPROVER_KEY or keys.approve)',
    );

  approvals
    .command('list')
    .description('list the pending approvals of your tenant')
    .option('--limit <n>', "at most this many (default: the API's, 100)", positiveInteger)
    .option('--json', 'print the jobs as JSON instead of a table')
    .action(lazyAction(() => import('./approvals.js'), 'runApprovalsList'));

  for (const verb of ['approve', 'deny'] as const) {
    const decide = approvals
      .command(verb)
      .description(
        verb === 'approve'
          ? 'approve a pending approval, or with --batch every pending job of a batch'
          : 'deny a pending approval, or with --batch every pending job of a batch; the reason is required',
      )
      .argument('[approval_id]', 'approval-<24 hex digits> (or use --batch)', idOf(ID_FORMATS.approval_id))
      .option('--batch <batch_id>', 'decide every pending approval of this batch', idOf(ID_FORMATS.batch_id))
      .option('--json', "print the API's answer as JSON");
    if (verb === 'deny')
      decide.addOption(new Option('--reason <reason>', 'why (shown to the submitter)').makeOptionMandatory());
    else decide.option('--reason <reason>', 'why (recorded with the decision)');
    decide.action(lazyAction(() => import('./approvals.js'), verb === 'approve' ? 'runApprove' : 'runDeny'));
  }
}
