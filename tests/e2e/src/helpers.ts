import type { HarombeClient } from '@harombe/client';
import type { JobView, SubmitJobRequest } from '@harombe/core';
import { request as httpRequest } from 'node:http';
import { vi } from 'vitest';

/** Submits a job, approves it as `approver` when it waits for a person, and waits for its end. */
export async function runApproved(
  submitter: HarombeClient,
  approver: HarombeClient,
  request: SubmitJobRequest,
): Promise<JobView> {
  const job = await submitter.submitJob(request);
  if (job.status === 'awaiting_approval' && job.approval) await approver.approve(job.approval.approval_id, 'test');
  return submitter.waitForJob(job.job_id, { timeoutMs: 120_000 });
}

/** The result of a job as a plain record (its shape depends on the tool). */
export function resultOf(job: JobView): Record<string, unknown> {
  if (!job.result) throw new Error(`job ${job.job_id} has no result (status ${job.status})`);
  return job.result;
}

/** The value of `probe` once it is truthy (vi.waitFor); fails after `timeoutMs` naming what it waited for. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await probe();
      if (!value) throw new Error(`timed out waiting for ${what}`);
      return value;
    },
    { timeout: timeoutMs, interval: 100 },
  );
}

/**
 * A large JSON POST the way careful clients send one: ask first (Expect: 100-continue), send the
 * body only when the server agrees. An oversized body is refused before it is sent (sentBody false).
 */
export function postAskingFirst(
  url: URL,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; sentBody: boolean }> {
  let sentBody = false;
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...headers,
          'content-length': Buffer.byteLength(body),
          expect: '100-continue',
        },
      },
      (response) => {
        let text = '';
        response
          .setEncoding('utf8')
          .on('data', (chunk: string) => (text += chunk))
          .on('end', () => resolve({ status: response.statusCode ?? 0, text, sentBody }));
      },
    );
    request.on('continue', () => {
      sentBody = true;
      request.end(body);
    });
    request.on('error', reject);
    request.flushHeaders();
  });
}
