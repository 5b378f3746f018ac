import { z } from 'zod';

/**
 * GET /healthz (the process answers) and GET /readyz (its dependencies answer): 200 or 503,
 * with this body either way.
 */
export const HealthBody = z.object({
  /** `ok`; `ready` or `not ready`. */
  status: z.string(),
  /** One entry per dependency checked (/readyz). Default: none. */
  checks: z.record(z.string(), z.unknown()).default({}),
});
export type HealthBody = z.infer<typeof HealthBody>;
