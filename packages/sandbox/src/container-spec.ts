import type Docker from 'dockerode';
import type { Language, Limits } from '@harombe/core';
import { LABELS } from './labels.js';
import { INIT_SCRIPT } from './sandbox-scripts.js';

const MIB = 1024 * 1024;

/**
 * gVisor's own kernel (the Sentry) lives inside the container's memory cgroup, and so do the
 * tmpfs files of the workspace. The cgroup is sized for max_memory_mb + max_disk_mb + this
 * overhead so that neither a full workspace nor the runtime takes the program's memory; the
 * program's own limit is enforced by the sandbox's init (see INIT_SCRIPT).
 */
export const RUNTIME_MEMORY_OVERHEAD_MB = 64;

/**
 * Every sandbox's environment. PYTHONUNBUFFERED is emptied (images may set it): Python's
 * unbuffered stdout loses what a short write to the pipe leaves out, so the launcher gives it a
 * buffered writer flushed at each line instead. Python's user site-packages stay off: files
 * written into the workspace are never run on their own.
 */
export const SANDBOX_ENV: readonly string[] = [
  'PYTHONUNBUFFERED=',
  'PYTHONNOUSERSITE=1',
  'HOME=/workspace',
  'LANG=C.UTF-8',
  'TMPDIR=/tmp',
];

/** Size of /tmp, scratch space of programs and of the init. */
const TMP_SIZE_MB = 64;

/**
 * PID 1 of every sandbox: the init (INIT_SCRIPT) with the program's memory limit and the files
 * the sandbox may hold. It survives the `kill -1` that ends executions because PID 1 is never its target.
 */
export function sandboxInit(limits: Limits, maxFiles: number): string[] {
  return ['bash', '-c', INIT_SCRIPT, 'harombe-init', String(limits.max_memory_mb * MIB), String(maxFiles)];
}

export interface ContainerSpecInput {
  sandboxId: string;
  managerId: string;
  language: Language;
  image: string;
  runtime: string;
  owner: string;
  limits: Limits;
  maxProcesses: number;
  /** Files, directories and links the sandbox may hold in /workspace and /tmp (security.sandbox.max_files). */
  maxFiles: number;
  createdAt: string;
  pooled: boolean;
  /** Only for network-enabled sandboxes; without it the sandbox has no network at all. */
  network?: SandboxNetworkSpec;
}

export interface SandboxNetworkSpec {
  /** The runsc runtime in the container's network namespace (security.sandbox.network_runtime). */
  runtime: string;
  /** The sandbox's own network, where its egress proxy is the only other member. */
  networkName: string;
  /**
   * The sandbox's DNS server: its proxy, which records and refuses every query. Set explicitly so
   * that Docker's resolver never forwards the sandbox's queries through the host's resolver.
   */
  dns: string;
  /** Proxy and package manager settings (see egressEnvironment). */
  env: string[];
}

function cgroupMemory(limits: Limits): number {
  return (limits.max_memory_mb + limits.max_disk_mb + RUNTIME_MEMORY_OVERHEAD_MB) * MIB;
}

/** Docker create options for a sandbox: every hardening setting lives here, in one place. */
export function buildContainerSpec(input: ContainerSpecInput): Docker.ContainerCreateOptions {
  const { limits } = input;
  return {
    name: `harombe-${input.sandboxId}`,
    Image: input.image,
    Cmd: sandboxInit(limits, input.maxFiles),
    // The init runs as root with CAP_KILL alone; every program runs under an id of its own
    // (executionUser), without capabilities.
    User: '0:0',
    WorkingDir: '/workspace',
    Env: [...SANDBOX_ENV, ...(input.network?.env ?? [])],
    NetworkDisabled: !input.network,
    Labels: {
      [LABELS.sandbox]: input.sandboxId,
      [LABELS.owner]: input.owner,
      [LABELS.createdAt]: input.createdAt,
      [LABELS.manager]: input.managerId,
      [LABELS.language]: input.language,
      [LABELS.pooled]: String(input.pooled),
    },
    HostConfig: {
      Runtime: input.network?.runtime ?? input.runtime,
      NetworkMode: input.network?.networkName ?? 'none',
      ...(input.network ? { Dns: [input.network.dns], DnsSearch: [], DnsOptions: [] } : {}),
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      CapAdd: ['KILL'],
      SecurityOpt: ['no-new-privileges'],
      Privileged: false,
      Binds: [],
      Mounts: [],
      Tmpfs: {
        // Not sticky: each execution has its own id, and may change what earlier ones wrote.
        '/workspace': `rw,nosuid,nodev,size=${limits.max_disk_mb}m,mode=0777`,
        '/tmp': `rw,nosuid,nodev,size=${TMP_SIZE_MB}m,mode=1777`,
      },
      Memory: cgroupMemory(limits),
      MemorySwap: cgroupMemory(limits),
      NanoCpus: Math.round(limits.max_cpu_cores * 1e9),
      // The pids cgroup counts host tasks: the Sentry's own threads (about 35 idle) and, on the
      // ptrace platform, several per process inside (a fork bomb held at 128 processes peaked
      // at about 2,300, and more while it is being killed; a sandbox whose tasks run out dies).
      // It guards the host's pid space (setup raises kernel.pid_max);
      // the fork bomb guard inside is the nproc rlimit, which gVisor enforces per user id.
      PidsLimit: Math.max(8192, input.maxProcesses * 64),
      Ulimits: [
        { Name: 'nproc', Soft: input.maxProcesses, Hard: input.maxProcesses },
        { Name: 'nofile', Soft: 1024, Hard: 1024 },
      ],
      AutoRemove: false,
      RestartPolicy: { Name: 'no' },
      LogConfig: { Type: 'none', Config: {} },
    },
  };
}
