export { CappedOutput, TRUNCATION_MARKER } from './capped-output.js';
export { CodeExecutionTools } from './code-execution-tools.js';
export { buildContainerSpec, RUNTIME_MEMORY_OVERHEAD_MB } from './container-spec.js';
export { LABELS, ROLES } from './labels.js';
export {
  EgressNetwork,
  proxyProgramSource,
  type EgressAttachment,
  type EgressNetworkOptions,
  type EgressRefusal,
} from './egress-network.js';
export {
  RegistryResolver,
  matchesDomain,
  type RegistryResolverOptions,
  type ResolvedRegistry,
} from './registry-resolver.js';
export { percentile, rawBaselineSpec } from './raw-baseline.js';
export { checkImage, checkRuntime } from './runtime-check.js';
export {
  dockerExec,
  ExecStartError,
  type DockerExecOutcome,
  type OutputListener,
  type OutputStreamName,
} from './docker-exec.js';
export { DockerAgent, dockerClient } from './docker-client.js';
export { InMemorySandboxRegistry, type SandboxRecord, type SandboxRegistry } from './sandbox-registry.js';
export {
  SandboxManager,
  type CreateSandboxRequest,
  type ExecuteRequest,
  type InstallOutcome,
  type SandboxInfo,
  type SandboxManagerOptions,
} from './sandbox-manager.js';
export { gatewayOf, networkGateway, type NetworkDescription } from './network-gateway.js';
export { SubnetPool, type SandboxSubnet } from './subnet-pool.js';
export { TOOL_EXECUTORS, type ToolCall, type ToolExecutor } from './tool-executors.js';
