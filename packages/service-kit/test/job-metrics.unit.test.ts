import type { JobRecord } from '@harombe/queue';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { JobMetrics } from '../src/index.js';
import { samples, sampleValue } from './metric-samples.js';

const lostJob = {
  job_id: 'job-1',
  tool: 'code_execute',
  params: { language: 'shell', code: 'sleep 60' },
  status: 'failed',
  error: { code: 'WorkerLost', message: 'lost' },
  result: null,
} as unknown as JobRecord;

describe('JobMetrics', () => {
  it('counts a job ended by a lost worker, and a lost worker whose job runs again only as an error', async () => {
    const registry = new Registry();
    const metrics = new JobMetrics(registry);
    metrics.workerLost({ ...lostJob, status: 'running', error: null }, 'retried');
    expect(await samples(registry, 'harombe_jobs_total')).toEqual([]);
    expect(await sampleValue(registry, 'harombe_errors_total', { code: 'WorkerLost' })).toBe(1);
    metrics.workerLost(lostJob, 'failed');
    expect(
      await sampleValue(registry, 'harombe_jobs_total', { tool: 'code_execute', language: 'shell', status: 'failed' }),
    ).toBe(1);
    expect(await sampleValue(registry, 'harombe_errors_total', { code: 'WorkerLost' })).toBe(2);
  });

  it("counts a tool's own error code when the job itself has none (a program that timed out)", async () => {
    const registry = new Registry();
    new JobMetrics(registry).ended({
      tool: 'code_execute',
      params: { language: 'python' },
      status: 'completed',
      error: null,
      result: { success: false, error: 'TimeoutError' },
    });
    expect(await sampleValue(registry, 'harombe_errors_total', { code: 'TimeoutError' })).toBe(1);
  });

  it('starts chosen error codes at 0 and ignores negative durations', async () => {
    const registry = new Registry();
    const metrics = new JobMetrics(registry);
    metrics.initErrors(['SandboxLost', 'RuntimeUnavailable']);
    metrics.phase('queue_wait', -0.5);
    expect(await samples(registry, 'harombe_errors_total')).toEqual([
      { labels: { code: 'SandboxLost' }, value: 0 },
      { labels: { code: 'RuntimeUnavailable' }, value: 0 },
    ]);
    expect(await sampleValue(registry, 'harombe_job_duration_seconds_count', { phase: 'queue_wait' })).toBeUndefined();
  });
});
