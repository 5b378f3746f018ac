import type { BatchDecisionResult, DecisionResult, JobView } from '@harombe/core';
import type { Command } from 'commander';
import { connectionFlags, createClient } from '../api-client-options.js';

const REASON_WIDTH = 60;
const MATCHED_WIDTH = 80;

function clip(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

/**
 * Columns approval_id, job_id, risk, tool, reason, matched (what the rule found, and how it was
 * disguised), expires; one row per pending approval.
 */
export function formatApprovalsTable(jobs: readonly JobView[]): string {
  const header = ['APPROVAL_ID', 'JOB_ID', 'RISK', 'TOOL', 'REASON', 'MATCHED', 'EXPIRES'];
  const rows = jobs.map((job) => [
    job.approval?.approval_id ?? '-',
    job.job_id,
    job.risk,
    job.tool,
    clip(job.risk_reason, REASON_WIDTH) || '-',
    clip(job.risk_matched ?? '', MATCHED_WIDTH) || '-',
    job.approval?.expires_at ?? '-',
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] as string).length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] as number)))
      .join('  ')
      .trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}

export function formatDecision(verb: 'approve' | 'deny', result: DecisionResult): string {
  const done = verb === 'approve' ? 'approved' : 'denied';
  return `${done} ${result.approval_id}: job ${result.job_id} is now ${result.status}\n`;
}

export function formatBatchDecision(verb: 'approve' | 'deny', result: BatchDecisionResult): string {
  const done = verb === 'approve' ? 'approved' : 'denied';
  const already =
    result.already_decided > 0 ? ` (${result.already_decided} already decided or expired, unchanged)` : '';
  return `${done} ${result.decided} job${result.decided === 1 ? '' : 's'} of ${result.batch_id}${already}\n`;
}

interface DecideFlags {
  batch?: string;
  reason?: string;
  json?: boolean;
}

/** `harombe approvals list`. */
export async function runApprovalsList(options: { limit?: number; json?: boolean }, command: Command): Promise<void> {
  const client = createClient('approve', { flags: connectionFlags(command) });
  const jobs = await client.listApprovals(options.limit ? { limit: options.limit } : {});
  if (options.json) {
    process.stdout.write(`${JSON.stringify(jobs, null, 2)}\n`);
  } else if (jobs.length === 0) {
    process.stderr.write('no pending approvals\n');
  } else {
    process.stdout.write(formatApprovalsTable(jobs));
  }
}

/** `harombe approvals approve`. */
export async function runApprove(
  approvalId: string | undefined,
  options: DecideFlags,
  command: Command,
): Promise<void> {
  await decide('approve', approvalId, options, command);
}

/** `harombe approvals deny`. */
export async function runDeny(approvalId: string | undefined, options: DecideFlags, command: Command): Promise<void> {
  await decide('deny', approvalId, options, command);
}

async function decide(
  verb: 'approve' | 'deny',
  approvalId: string | undefined,
  options: DecideFlags,
  command: Command,
): Promise<void> {
  if ((approvalId === undefined) === (options.batch === undefined)) {
    command.error(
      `error: give either an approval_id or --batch <batch_id>${approvalId === undefined ? '' : ', not both'}`,
      { exitCode: 2 },
    );
  }
  const client = createClient('approve', { flags: connectionFlags(command) });
  if (options.batch !== undefined) {
    const result =
      verb === 'approve'
        ? await client.approveBatch(options.batch, options.reason)
        : await client.denyBatch(options.batch, options.reason);
    process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : formatBatchDecision(verb, result));
  } else {
    const id = approvalId as string;
    const result =
      verb === 'approve' ? await client.approve(id, options.reason) : await client.deny(id, options.reason);
    process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : formatDecision(verb, result));
  }
}
