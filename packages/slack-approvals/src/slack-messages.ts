import { toolDescriptor, type RiskLevel } from '@harombe/core';
import type { JobRecord } from '@harombe/queue';
import type { types } from '@slack/bolt';
import { isBatchSubject } from './slack-keys.js';

/**
 * The Block Kit of approval messages and modals: pure functions from a job (or a batch's
 * summary) to what Slack shows. Text from jobs is escaped; Slack's size limits are respected.
 */

type Block = types.KnownBlock;

/** Action ids of the buttons, and the callback id of the deny modal. */
export const ACTIONS = {
  approve: 'harombe_approve',
  deny: 'harombe_deny',
  showCode: 'harombe_show_code',
  approveBatch: 'harombe_batch_approve',
  denyBatch: 'harombe_batch_deny',
} as const;
export const DENY_VIEW = 'harombe_deny_reason';
export const REASON_BLOCK = 'reason';
export const REASON_INPUT = 'reason_input';

export interface SlackMessage {
  /** The notification and screen-reader text. */
  text: string;
  blocks: Block[];
}

export interface PreviewOptions {
  /** Lines of code shown in the message. */
  previewLines: number;
  /** Characters of code shown in the message. */
  previewChars: number;
}

/** What a batch message says: the jobs still pending, and how the others ended. */
export interface BatchSummary {
  batch_id: string;
  tenant: string;
  submitted_by: string;
  submitted_by_slack: string | null;
  total: number;
  /** Jobs of the batch that ever needed a person. */
  needing_approval: number;
  pending: number;
  pending_by_risk: Partial<Record<RiskLevel, number>>;
  tools: string[];
  /** Earliest deadline of a pending job, ms; null when none is pending. */
  earliest_deadline: number | null;
  /** Ended approvals grouped by how and by whom. */
  outcomes: BatchOutcome[];
  /** A job of the batch to show the code of. */
  sample: JobRecord | undefined;
}

export interface BatchOutcome {
  status: 'approved' | 'denied' | 'expired' | 'cancelled';
  decided_by: string | null;
  channel: string | null;
  reason: string | null;
  decided_at: string | null;
  count: number;
}

/** What the deny modal decides, carried through Slack in its private_metadata. */
export interface DenyTarget {
  kind: 'job' | 'batch';
  /** approval_id for a job, batch_id for a batch. */
  id: string;
  channel: string;
}

/** The event_type of the metadata every approval request carries. */
export const APPROVAL_EVENT = 'harombe_approval';

/**
 * The metadata an approval request is posted with, naming its job or batch: a post whose answer
 * was lost is found again by it (conversations.history) instead of being posted twice.
 */
export function approvalMetadata(subject: string): types.MessageMetadata {
  return {
    event_type: APPROVAL_EVENT,
    event_payload: isBatchSubject(subject) ? { batch_id: subject } : { job_id: subject },
  };
}

/** Whether a message's metadata (as conversations.history gives it) is that of the request for `subject`. */
export function isApprovalOf(
  metadata: { event_type?: string; event_payload?: Record<string, unknown> } | undefined,
  subject: string,
): boolean {
  if (metadata?.event_type !== APPROVAL_EVENT) return false;
  return metadata.event_payload?.[isBatchSubject(subject) ? 'batch_id' : 'job_id'] === subject;
}

const SECTION_MAX = 3000;
const FIELD_MAX = 1900;

/** Slack's mrkdwn needs &, < and > escaped in any text that is not markup. */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Code in a ``` block, escaped, with any ``` inside it broken so that it cannot end the block. */
function codeBlock(code: string): string {
  return `\`\`\`${escapeText(code).replace(/```/g, '`\u200b``')}\`\`\``;
}

/** A time every reader sees in their own time zone; the ISO text where Slack cannot format it. */
export function slackDate(ms: number): string {
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time_secs}|${new Date(ms).toISOString()}>`;
}

function slackDateIso(iso: string | null): string {
  if (!iso) return 'unknown time';
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? escapeText(iso) : slackDate(ms);
}

/** `slack:U123` (a decision from Slack) becomes a mention; an API key's name stays a name. */
export function actorText(actor: string | null, channel: string | null = null): string {
  if (!actor) return 'nobody';
  const slack = /^slack:([UW][A-Z0-9]+)$/.exec(actor);
  if (slack) return `<@${slack[1]}>`;
  return `*${escapeText(actor)}*${channel && channel !== 'slack' ? ` (${channel === 'api' ? 'API' : escapeText(channel)})` : ''}`;
}

function requesterText(submittedBy: string, slackId: string | null, tenant: string): string {
  return `${escapeText(submittedBy)}${slackId ? ` (<@${slackId}>)` : ''}, tenant ${escapeText(tenant)}`;
}

/**
 * What the job would do, as the code (or content) to review and a line saying what it is: the
 * tool's catalogue entry (`review`, `summary`) says both.
 */
export function payloadOf(job: Pick<JobRecord, 'tool' | 'params'>): { code: string | null; summary: string } {
  const tool = toolDescriptor(job.tool);
  return { code: tool.review?.(job.params) ?? null, summary: tool.summary(job.params) };
}

/** The first lines and characters of the code, and whether that is all of it. */
export function preview(code: string, options: PreviewOptions): { text: string; complete: boolean; lines: number } {
  const lines = code.split('\n');
  let text = lines.slice(0, options.previewLines).join('\n');
  if (text.length > options.previewChars) text = text.slice(0, options.previewChars);
  return { text, complete: text.length === code.length, lines: lines.length };
}

function networkText(params: Record<string, unknown>): string {
  if (params.network_enabled !== true) return 'off';
  const domains = Array.isArray(params.allowed_domains) ? (params.allowed_domains as string[]) : [];
  return clip(`on: ${domains.length > 0 ? domains.map(escapeText).join(', ') : 'no domains allowed'}`, FIELD_MAX);
}

function field(label: string, value: string): types.MrkdwnElement {
  return { type: 'mrkdwn', text: clip(`*${label}*\n${value}`, FIELD_MAX) };
}

/** The facts about a job an approver decides on; shared by the request and its final state. */
function jobFacts(job: JobRecord): Block[] {
  const { summary } = payloadOf(job);
  const fields = [
    field('Requester', requesterText(job.submitted_by, job.submitted_by_slack, job.tenant)),
    field('Tool', `\`${job.tool}\`: ${escapeText(summary)}`),
    field('Language', typeof job.params.language === 'string' ? escapeText(job.params.language) : '-'),
    field('Risk', `*${job.risk}*: ${escapeText(job.risk_reason)}`),
    field(
      'Matched rule',
      job.risk_matched ? `\`${escapeText(clip(job.risk_matched, 200))}\`` : escapeText(job.risk_reason),
    ),
    field('Network', networkText(job.params)),
    field(
      'Expires',
      job.approval_deadline > 0
        ? slackDate(job.approval_deadline)
        : job.approval?.expires_at
          ? slackDateIso(job.approval.expires_at)
          : '-',
    ),
    field('Job', `\`${job.job_id}\``),
  ];
  return [{ type: 'section', fields }];
}

function codePreviewBlocks(job: JobRecord, options: PreviewOptions): Block[] {
  const { code } = payloadOf(job);
  if (code === null) return [];
  const shown = preview(code, options);
  const note = shown.complete
    ? 'The whole code is shown.'
    : `Preview: ${Math.min(options.previewLines, shown.lines)} of ${shown.lines} lines. *Show full code* opens all of it.`;
  return [
    { type: 'section', text: { type: 'mrkdwn', text: clip(codeBlock(shown.text || ' '), SECTION_MAX) } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: note }] },
  ];
}

/** The request for a decision: the facts, a preview of the code, and the buttons. */
export function approvalRequest(job: JobRecord, options: PreviewOptions): SlackMessage {
  const approvalId = job.approval?.approval_id ?? '';
  const { code } = payloadOf(job);
  const buttons: types.Button[] = [
    {
      type: 'button',
      action_id: ACTIONS.approve,
      text: { type: 'plain_text', text: 'Approve' },
      style: 'primary',
      value: approvalId,
    },
    {
      type: 'button',
      action_id: ACTIONS.deny,
      text: { type: 'plain_text', text: 'Deny' },
      style: 'danger',
      value: approvalId,
    },
  ];
  if (code !== null)
    buttons.push({
      type: 'button',
      action_id: ACTIONS.showCode,
      text: { type: 'plain_text', text: 'Show full code' },
      value: job.job_id,
    });
  return {
    text: `Approval needed: ${job.tool} (${job.risk}) from ${job.submitted_by}, expires ${job.approval?.expires_at ?? 'soon'}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: clip(`Approval needed: ${job.tool} (${job.risk})`, 150) } },
      ...jobFacts(job),
      ...codePreviewBlocks(job, options),
      { type: 'actions', block_id: 'harombe_decision', elements: buttons },
      {
        type: 'context',
        elements: [
          { type: 'mrkdwn', text: `\`${approvalId}\` · first decision wins · only configured approvers may decide` },
        ],
      },
    ],
  };
}

/** The line that replaces the buttons once the approval has ended. */
export function outcomeLine(job: Pick<JobRecord, 'approval'>): string {
  const approval = job.approval;
  if (!approval) return 'This job needed no approval.';
  const reason = approval.reason ? `: ${escapeText(clip(approval.reason, 1500))}` : '';
  switch (approval.status) {
    case 'approved':
      return `:white_check_mark: *Approved* by ${actorText(approval.decided_by, approval.channel)} at ${slackDateIso(approval.decided_at)}${reason}`;
    case 'denied':
      return `:no_entry: *Denied* by ${actorText(approval.decided_by, approval.channel)}${reason || ' (no reason given)'} · ${slackDateIso(approval.decided_at)}`;
    case 'expired':
      return `:hourglass: *Expired* at ${slackDateIso(approval.decided_at)}: nobody decided in time, so the job was denied.`;
    case 'cancelled':
      return `:no_entry_sign: *Cancelled* by ${actorText(approval.decided_by, approval.channel)} at ${slackDateIso(approval.decided_at)}: the job was withdrawn.`;
    case 'pending':
      return 'Waiting for a decision.';
  }
}

/** The request as it stays once decided, expired or cancelled: the facts and how it ended, no buttons. */
export function approvalOutcome(job: JobRecord, options: PreviewOptions): SlackMessage {
  const line = outcomeLine(job);
  return {
    text: `${job.tool} (${job.risk}) from ${job.submitted_by}: ${job.approval?.status ?? 'ended'}`,
    blocks: [
      {
        type: 'header',
        text: {
          type: 'plain_text',
          text: clip(`Approval ${job.approval?.status ?? 'ended'}: ${job.tool} (${job.risk})`, 150),
        },
      },
      ...jobFacts(job),
      ...codePreviewBlocks(job, options),
      { type: 'section', text: { type: 'mrkdwn', text: line } },
    ],
  };
}

/** The reminder posted in the request's thread at half its timeout. */
export function approvalReminder(expiresAtMs: number, mention: string | null, what: string): { text: string } {
  return {
    text: `${mention ? `${mention} ` : ''}:alarm_clock: Reminder: ${what} still waits for a decision; it expires ${slackDate(expiresAtMs)} and is then denied.`,
  };
}

function riskCounts(counts: Partial<Record<RiskLevel, number>>): string {
  const order: RiskLevel[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'];
  const parts = order.filter((risk) => (counts[risk] ?? 0) > 0).map((risk) => `*${risk}* ${counts[risk]}`);
  return parts.length > 0 ? parts.join(' · ') : 'none';
}

function batchFacts(summary: BatchSummary): Block[] {
  return [
    {
      type: 'section',
      fields: [
        field('Requester', requesterText(summary.submitted_by, summary.submitted_by_slack, summary.tenant)),
        field('Batch', `\`${summary.batch_id}\`: ${summary.total} job${summary.total === 1 ? '' : 's'}`),
        field('Pending by risk', riskCounts(summary.pending_by_risk)),
        field('Tools', summary.tools.length > 0 ? summary.tools.map((tool) => `\`${tool}\``).join(', ') : '-'),
        field('Earliest expiry', summary.earliest_deadline ? slackDate(summary.earliest_deadline) : '-'),
        field(
          'Decided',
          `${summary.needing_approval - summary.pending} of ${summary.needing_approval} needing approval`,
        ),
      ],
    },
  ];
}

function sampleBlocks(summary: BatchSummary, options: PreviewOptions): Block[] {
  const sample = summary.sample;
  if (!sample) return [];
  const { code, summary: what } = payloadOf(sample);
  const matched = sample.risk_matched ? `, \`${escapeText(clip(sample.risk_matched, 200))}\`` : '';
  const head = `Sample: \`${sample.job_id}\`, ${escapeText(what)} (${sample.risk}: ${escapeText(sample.risk_reason)}${matched})`;
  const blocks: Block[] = [{ type: 'context', elements: [{ type: 'mrkdwn', text: clip(head, SECTION_MAX) }] }];
  if (code !== null)
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: clip(codeBlock(preview(code, options).text || ' '), SECTION_MAX) },
    });
  return blocks;
}

function outcomesText(outcomes: readonly BatchOutcome[]): string {
  if (outcomes.length === 0) return '';
  return outcomes
    .map((o) => {
      const by = o.status === 'expired' ? '' : ` by ${actorText(o.decided_by, o.channel)}`;
      const reason = o.reason && o.status !== 'expired' ? `: ${escapeText(clip(o.reason, 300))}` : '';
      return `• ${o.count} ${o.status}${by}${reason}`;
    })
    .join('\n');
}

/** One message for a whole batch: counts per risk, a sample of the code, Approve all / Deny all. */
export function batchRequest(summary: BatchSummary, options: PreviewOptions): SlackMessage {
  const decided = outcomesText(summary.outcomes);
  return {
    text: `Approval needed: batch ${summary.batch_id}, ${summary.pending} job(s) from ${summary.submitted_by}`,
    blocks: [
      {
        type: 'header',
        text: {
          type: 'plain_text',
          text: clip(`Approval needed: batch of ${summary.pending} job${summary.pending === 1 ? '' : 's'}`, 150),
        },
      },
      ...batchFacts(summary),
      ...sampleBlocks(summary, options),
      ...(decided ? [{ type: 'section', text: { type: 'mrkdwn', text: clip(decided, SECTION_MAX) } } as Block] : []),
      {
        type: 'actions',
        block_id: 'harombe_batch_decision',
        elements: [
          {
            type: 'button',
            action_id: ACTIONS.approveBatch,
            text: { type: 'plain_text', text: 'Approve all' },
            style: 'primary',
            value: summary.batch_id,
          },
          {
            type: 'button',
            action_id: ACTIONS.denyBatch,
            text: { type: 'plain_text', text: 'Deny all' },
            style: 'danger',
            value: summary.batch_id,
          },
        ],
      },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `Decides every pending job of the batch; single jobs can still be decided through the API (\`harombe approvals\`).`,
          },
        ],
      },
    ],
  };
}

/** The batch message once no job of it is pending any more. */
export function batchOutcome(summary: BatchSummary, options: PreviewOptions): SlackMessage {
  return {
    text: `Batch ${summary.batch_id} from ${summary.submitted_by}: decided`,
    blocks: [
      {
        type: 'header',
        text: {
          type: 'plain_text',
          text: clip(`Batch decided: ${summary.needing_approval} job${summary.needing_approval === 1 ? '' : 's'}`, 150),
        },
      },
      ...batchFacts(summary),
      ...sampleBlocks(summary, options),
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: clip(outcomesText(summary.outcomes) || 'No job of the batch needed approval.', SECTION_MAX),
        },
      },
    ],
  };
}

/** A modal with the whole code, in as many blocks as Slack allows. */
export function fullCodeModal(job: JobRecord): types.ModalView {
  const { code, summary } = payloadOf(job);
  const text = escapeText(code ?? '').replace(/```/g, '`\u200b``');
  const chunk = SECTION_MAX - 8;
  const blocks: Block[] = [
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: clip(`\`${job.job_id}\`: ${escapeText(summary)}`, SECTION_MAX) }],
    },
  ];
  const maxChunks = 97;
  for (let offset = 0; offset < text.length && blocks.length <= maxChunks; offset += chunk) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: `\`\`\`${text.slice(offset, offset + chunk)}\`\`\`` },
    });
  }
  if (text.length > maxChunks * chunk) {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `Too long for Slack: the rest is in \`harombe jobs get ${job.job_id}\`.` }],
    });
  }
  if (text.length === 0) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: '_(empty)_' } });
  return {
    type: 'modal',
    title: { type: 'plain_text', text: 'Full code' },
    close: { type: 'plain_text', text: 'Close' },
    blocks,
  };
}

/** Asks the approver why they deny. */
export function denyReasonModal(target: DenyTarget, what: string): types.ModalView {
  return {
    type: 'modal',
    callback_id: DENY_VIEW,
    private_metadata: JSON.stringify(target),
    title: { type: 'plain_text', text: target.kind === 'batch' ? 'Deny all' : 'Deny job' },
    submit: { type: 'plain_text', text: 'Deny' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: clip(what, SECTION_MAX) } },
      {
        type: 'input',
        block_id: REASON_BLOCK,
        label: { type: 'plain_text', text: 'Reason (the submitter sees it)' },
        element: {
          type: 'plain_text_input',
          action_id: REASON_INPUT,
          multiline: true,
          min_length: 1,
          max_length: 2000,
        },
      },
    ],
  };
}
