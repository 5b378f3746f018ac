import type { JobRecord } from '@harombe/queue';
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { WorkerMetrics } from '../src/worker-metrics.js';

/** One metric's samples as a scrape sees them: `labels=value` lines, e.g. `code=TimeoutError=1`. */
async function scrape(registry: Registry, name: string): Promise<string[]> {
  const metric = registry.getSingleMetric(name.replace(/_(count|sum|bucket)$/, ''));
  if (!metric) return [];
  const { values } = await metric.get();
  return values
    .filter((sample) => !('metricName' in sample) || sample.metricName === name)
    .map(
      (sample) =>
        `${Object.entries(sample.labels)
          .map(([key, value]) => `${key}=${value}`)
          .join(',')}=${sample.value}`,
    );
}

const T0 = Date.UTC(2030, 0, 1);

function job(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    job_id: 'job-1',
    tenant: 'acme',
    tool: 'code_execute',
    params: { language: 'python', code: 'print(1)' },
    status: 'running',
    created_at: T0,
    started_at: T0 + 3_000,
    attempts: 1,
    approval: null,
    error: null,
    result: null,
    ...overrides,
  } as JobRecord;
}

describe('WorkerMetrics', () => {
  let registry: Registry;
  let metrics: WorkerMetrics;
  let sandboxes: number;

  beforeEach(() => {
    registry = new Registry();
    sandboxes = 0;
    metrics = new WorkerMetrics({
      registry,
      workerId: 'host-a1b2c3',
      sandboxCount: async () => sandboxes,
      warmPoolAvailable: (language) => (language === 'python' ? 2 : 0),
      capacity: () => ({ max: 12, in_use: 5, kept: 3, kept_limit: 10, kept_free: 7, pooled: 2 }),
    });
  });

  it('reports the sandboxes this worker holds under its own id, and its warm pool per language', async () => {
    sandboxes = 3;
    expect(await scrape(registry, 'harombe_sandboxes_active')).toEqual(['worker=host-a1b2c3=3']);
    expect(await scrape(registry, 'harombe_warm_pool_available')).toEqual([
      'language=python=2',
      'language=javascript=0',
      'language=shell=0',
    ]);
    // Every sandbox alive (pool, kept, running) against the worker's ceiling.
    expect(await scrape(registry, 'harombe_sandboxes_live')).toEqual(['worker=host-a1b2c3=5']);
    expect(await scrape(registry, 'harombe_sandboxes_max')).toEqual(['worker=host-a1b2c3=12']);
  });

  it('measures queue wait from submission, or from the approval when a person approved the job', async () => {
    await metrics.measure(job(), new AbortController().signal, async () => ({ success: true, error: null }));
    const approved = job({
      created_at: T0,
      started_at: T0 + 10_000,
      approval: { status: 'approved', decided_at: new Date(T0 + 9_000).toISOString() } as JobRecord['approval'],
    });
    await metrics.measure(approved, new AbortController().signal, async () => ({ success: true, error: null }));
    // 3 s (submitted, ran) + 1 s (approved, ran).
    expect(await scrape(registry, 'harombe_job_duration_seconds_sum')).toContain('phase=queue_wait=4');
    expect(await scrape(registry, 'harombe_job_duration_seconds_count')).toEqual(
      expect.arrayContaining(['phase=queue_wait=2', 'phase=execution=2']),
    );
    // A retry's wait is unknown: not observed.
    await metrics.measure(job({ attempts: 2 }), new AbortController().signal, async () => ({
      success: true,
      error: null,
    }));
    expect(await scrape(registry, 'harombe_job_duration_seconds_count')).toEqual(
      expect.arrayContaining(['phase=queue_wait=2', 'phase=execution=3']),
    );
  });

  it('counts how each job ended: a tool error completes it, an infrastructure error fails it, a throw fails it InternalError', async () => {
    const signal = new AbortController().signal;
    await metrics.measure(job(), signal, async () => ({ success: false, error: 'TimeoutError' }));
    await metrics.measure(job(), signal, async () => ({ success: false, error: 'SandboxLost' }));
    await expect(
      metrics.measure(job(), signal, async () => Promise.reject(new Error('docker went away'))),
    ).rejects.toThrow('docker went away');
    expect(await scrape(registry, 'harombe_jobs_total')).toEqual([
      'tool=code_execute,language=python,status=completed=1',
      'tool=code_execute,language=python,status=failed=2',
    ]);
    expect(await scrape(registry, 'harombe_errors_total')).toEqual(
      expect.arrayContaining([
        'code=TimeoutError=1',
        'code=SandboxLost=1',
        'code=InternalError=1',
        'code=RuntimeUnavailable=0',
        'code=WorkerLost=0',
      ]),
    );
  });

  it('leaves a cancelled run to whoever cancelled it', async () => {
    const controller = new AbortController();
    await metrics.measure(job(), controller.signal, async () => {
      controller.abort();
      return { success: false, error: null, exit_code: 137 };
    });
    expect(await scrape(registry, 'harombe_jobs_total')).toEqual([]);
    expect(await scrape(registry, 'harombe_job_duration_seconds_count')).toContain('phase=execution=1');
  });

  it('observes sandbox start times by language', async () => {
    metrics.sandboxStarted('python', 0.004);
    metrics.sandboxStarted('shell', 1.2);
    expect(await scrape(registry, 'harombe_sandbox_start_seconds_count')).toEqual([
      'language=python=1',
      'language=shell=1',
    ]);
  });
});
