import { z } from 'zod';

/** Resource limits of a sandbox, named as in the reference design. */
export const Limits = z.strictObject({
  /** Memory of the whole sandbox, in MiB. */
  max_memory_mb: z.number().int().min(64),
  /** CPU share, in cores (0.5 = half of one core). */
  max_cpu_cores: z.number().min(0.05),
  /** Size of the `/workspace` tmpfs, in MiB. */
  max_disk_mb: z.number().int().min(1),
  /** Wall-clock time of one execution, in seconds. */
  max_execution_time: z.number().min(0.1),
  /** Bytes kept of stdout and, separately, of stderr, per execution. */
  max_output_bytes: z.number().int().min(1),
});
export type Limits = z.infer<typeof Limits>;

export const PartialLimits = Limits.partial();
export type PartialLimits = z.infer<typeof PartialLimits>;

/** The reference design's defaults, exactly. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  max_memory_mb: 512,
  max_cpu_cores: 0.5,
  max_disk_mb: 1024,
  max_execution_time: 30,
  max_output_bytes: 1_048_576,
});

/** The ceilings an operator allows when callers override limits, unless configured otherwise. */
export const DEFAULT_MAX_LIMITS: Readonly<Limits> = Object.freeze({
  max_memory_mb: 4096,
  max_cpu_cores: 2,
  max_disk_mb: 4096,
  max_execution_time: 600,
  max_output_bytes: 16 * 1_048_576,
});
