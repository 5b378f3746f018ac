import { BatchId, JobView, SandboxView } from '@harombe/core';

/** The part of a zod schema the client uses; the core schemas (JobView, ...) fit it. */
export interface Schema<T> {
  safeParse(
    data: unknown,
  ):
    | { success: true; data: T }
    | { success: false; error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> } };
}

export type Issue = { path: PropertyKey[]; message: string };

function valid<T>(data: T): { success: true; data: T } {
  return { success: true, data };
}
function invalid(issues: Issue[]): { success: false; error: { issues: Issue[] } } {
  return { success: false, error: { issues } };
}
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{ [key]: <schema> }`, answering the inner value: the API wraps its lists in an object. */
export function envelope<T>(key: string, schema: Schema<T>): Schema<T> {
  return {
    safeParse(data) {
      if (!isRecord(data) || !(key in data)) return invalid([{ path: [key], message: 'missing' }]);
      const inner = schema.safeParse(data[key]);
      if (inner.success) return inner;
      return invalid(inner.error.issues.map((issue) => ({ path: [key, ...issue.path], message: issue.message })));
    },
  };
}

/** Answer of POST /v1/batches/{batch_id}/approve and /deny. */
export interface BatchDecisionResult {
  batch_id: string;
  /** Jobs this call decided. */
  decided: number;
  /** Jobs whose approval was already decided (or expired) and stays as it was. */
  already_decided: number;
}

export const BatchDecisionResultSchema: Schema<BatchDecisionResult> = {
  safeParse(data) {
    if (!isRecord(data)) return invalid([{ path: [], message: 'expected an object' }]);
    const issues: Issue[] = [];
    if (!BatchId.safeParse(data.batch_id).success) issues.push({ path: ['batch_id'], message: 'expected a batch_id' });
    for (const key of ['decided', 'already_decided'] as const) {
      if (!Number.isInteger(data[key])) issues.push({ path: [key], message: 'expected an integer' });
    }
    if (issues.length > 0) return invalid(issues);
    return valid({
      batch_id: data.batch_id as string,
      decided: data.decided as number,
      already_decided: data.already_decided as number,
    });
  },
};

/** Answer of GET /healthz and /readyz, whether 200 or 503. */
export interface HealthStatus {
  /** True for HTTP 200, false for 503. */
  ok: boolean;
  status: string;
  /** One entry per dependency checked, as the API reports it. */
  checks: Record<string, unknown>;
}

export const HealthBodySchema: Schema<Omit<HealthStatus, 'ok'>> = {
  safeParse(data) {
    if (!isRecord(data) || typeof data.status !== 'string')
      return invalid([{ path: ['status'], message: 'expected a string' }]);
    if (data.checks !== undefined && !isRecord(data.checks))
      return invalid([{ path: ['checks'], message: 'expected an object' }]);
    return valid({ status: data.status, checks: data.checks ?? {} });
  },
};

export const JobViewList = JobView.array();
export const SandboxViewList = SandboxView.array();
