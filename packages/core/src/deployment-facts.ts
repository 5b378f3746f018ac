import type { Limits } from './limits.js';

/**
 * What the tools' descriptions tell a caller about the deployment: the limits it will meet (see
 * ToolDescriptor.describe). The MCP server takes them from the deployment's harombe.yaml where it
 * can read it, else they are the documented defaults.
 */
export interface DeploymentFacts {
  /** Limits of a sandbox whose caller chose none. */
  limits: Limits;
  /** The most a caller may ask for (a `timeout` above max_execution_time is refused). */
  maxLimits: Limits;
  /** Seconds a kept sandbox lives unused. */
  idleTimeoutSeconds: number;
  /** The longest idle_timeout a caller may give a sandbox. */
  maxIdleTimeoutSeconds: number;
  /** Kept sandboxes one tenant may hold (tenants may have their own). */
  maxSandboxesPerTenant: number;
  /** Bytes of code plus stdin one code_execute may send. */
  maxCodeBytes: number;
  /** Bytes of one file written or read. */
  maxFileBytes: number;
  /** Seconds one package install may take. */
  installTimeoutSeconds: number;
}

/** `1 MiB`, `512 KiB`, `1500 bytes`. */
export function bytes(n: number): string {
  if (n >= 1_048_576 && n % 1_048_576 === 0) return `${n / 1_048_576} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** `30 s`, `15 min`, `2 h`, `1 day`. */
export function duration(seconds: number): string {
  if (seconds >= 86_400 && seconds % 86_400 === 0) return seconds === 86_400 ? '1 day' : `${seconds / 86_400} days`;
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
