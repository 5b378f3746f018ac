import { parseConfig, type HarombeConfig, type Limits } from '@harombe/core';

/**
 * What the tool descriptions tell an agent about the deployment: the limits it will meet. The
 * API does not publish them, so they come from the deployment's harombe.yaml where the server
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

/** The facts of a configuration (the defaults of the README when it sets nothing). */
export function deploymentFacts(config: HarombeConfig = parseConfig({})): DeploymentFacts {
  const sandbox = config.security.sandbox;
  return {
    limits: { ...sandbox.limits },
    maxLimits: { ...sandbox.max_limits },
    idleTimeoutSeconds: sandbox.idle_timeout,
    maxIdleTimeoutSeconds: sandbox.max_idle_timeout,
    maxSandboxesPerTenant: config.quotas.max_sandboxes_per_tenant,
    maxCodeBytes: sandbox.max_code_bytes,
    maxFileBytes: sandbox.max_file_bytes,
    installTimeoutSeconds: sandbox.network.install_timeout,
  };
}

/** The documented defaults: those of a configuration that sets nothing. */
export const DEFAULT_FACTS: Readonly<DeploymentFacts> = Object.freeze(deploymentFacts());
