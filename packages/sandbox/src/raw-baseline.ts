import type Docker from 'dockerode';
import type { SandboxConfig } from '@harombe/core';
import { buildContainerSpec } from './container-spec.js';

/**
 * What benchmarks compare against: a bare runsc container with a sandbox's image, runtime, CPU
 * and memory, and nothing else of ours (no supervisor, no workspace, no hardening beyond it).
 */
export function rawBaselineSpec(config: SandboxConfig, cmd: string[]): Docker.ContainerCreateOptions {
  const sandbox = buildContainerSpec({
    sandboxId: 'sandbox-0000000000000000',
    managerId: 'bench',
    language: 'python',
    image: config.languages.python.image,
    runtime: config.runtime,
    owner: 'bench',
    limits: config.limits,
    maxProcesses: config.max_processes,
    maxFiles: config.max_files,
    createdAt: new Date().toISOString(),
    pooled: false,
  });
  const { Memory, MemorySwap, NanoCpus } = sandbox.HostConfig!;
  return {
    Image: config.languages.python.image,
    Cmd: cmd,
    Labels: { 'org.harombe.bench': 'baseline' },
    HostConfig: { Runtime: config.runtime, NetworkMode: 'none', Memory, MemorySwap, NanoCpus },
  };
}

/** The p-th percentile (nearest rank) of samples. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}
