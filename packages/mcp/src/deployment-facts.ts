import { parseConfig, type DeploymentFacts, type HarombeConfig } from '@harombe/core';

/** What the tool descriptions tell an agent about the deployment (core's DeploymentFacts). */
export type { DeploymentFacts };

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
