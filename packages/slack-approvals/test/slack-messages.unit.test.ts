import type { JobRecord } from '@harombe/queue';
import { describe, expect, it } from 'vitest';
import { approvalRequest, batchRequest, type BatchSummary } from '../src/index.js';

const PREVIEW = { previewLines: 15, previewChars: 1200 };
const MATCHED = "os.system (through getattr with a built string): getattr(os, 'sys'+'tem'";

const job: JobRecord = {
  job_id: 'job-0123456789abcdef01234567',
  tenant: 'acme',
  submitted_by: 'alice-key',
  submitted_by_slack: null,
  tool: 'code_execute',
  params: { language: 'python', code: "import os\ngetattr(os, 'sys'+'tem')('id')" },
  status: 'awaiting_approval',
  risk: 'CRITICAL',
  risk_reason: 'Code contains a dangerous pattern',
  risk_matched: MATCHED,
  created_at: Date.parse('2030-01-01T00:00:00Z'),
  started_at: null,
  finished_at: null,
  batch_id: 'batch-0123456789abcdef01234567',
  attempts: 0,
  max_attempts: 1,
  approval: null,
  approval_deadline: Date.parse('2030-01-01T00:00:30Z'),
  result: null,
  error: null,
  sandbox_id: null,
  worker_id: null,
  payload_sha256: '0'.repeat(64),
};

describe('approval messages show what the policy found, and how', () => {
  it('in the request for one job', () => {
    expect(JSON.stringify(approvalRequest(job, PREVIEW).blocks)).toContain(`\`${MATCHED}\``);
  });

  it("in a batch's sample", () => {
    const summary: BatchSummary = {
      batch_id: job.batch_id as string,
      tenant: 'acme',
      submitted_by: 'alice-key',
      submitted_by_slack: null,
      total: 2,
      needing_approval: 2,
      pending: 2,
      pending_by_risk: { CRITICAL: 1, HIGH: 1 },
      tools: ['code_execute'],
      earliest_deadline: job.approval_deadline,
      outcomes: [],
      sample: job,
    };
    expect(JSON.stringify(batchRequest(summary, PREVIEW).blocks)).toContain(`\`${MATCHED}\``);
  });
});

describe('approval messages say what a job keeps running after it', () => {
  it('background processes an execution keeps (keep_background), and the network it runs with', () => {
    const kept: JobRecord = {
      ...job,
      risk: 'HIGH',
      risk_reason: 'Code execution that leaves background processes running',
      risk_matched: null,
      sandbox_id: 'sandbox-0123456789abcdef',
      params: {
        language: 'python',
        code: 'print(1)',
        sandbox_id: 'sandbox-0123456789abcdef',
        keep_background: true,
        network_enabled: true,
        allowed_domains: ['pypi.org'],
      },
    };
    const text = JSON.stringify(approvalRequest(kept, PREVIEW).blocks);
    expect(text).toContain('keeping its background processes running afterwards');
    expect(text).toContain('Code execution that leaves background processes running');
    expect(text).toContain('on: pypi.org');
  });
});
