import type { HealthBody, IssueLike } from '@harombe/core';

/**
 * The part of a zod schema the client uses. Answers are checked with the core schemas (JobView,
 * BatchDecisionResult, HealthBody, ...), which fit it.
 */
export interface Schema<T> {
  safeParse(
    data: unknown,
  ): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<IssueLike> } };
}

/** Answer of GET /healthz and /readyz, whether 200 or 503. */
export interface HealthStatus extends HealthBody {
  /** True for HTTP 200, false for 503. */
  ok: boolean;
}
