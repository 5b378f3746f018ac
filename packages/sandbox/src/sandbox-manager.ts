import { randomBytes } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';
import Docker from 'dockerode';
import { pino, type Logger } from 'pino';
import {
  DomainPattern,
  HarombeError,
  Language,
  LANGUAGES,
  listInProse,
  normalizeWorkspacePath,
  SandboxConfig,
  systemClock,
  type Clock,
  type ExecutionResult,
  type Limits,
  type PartialLimits,
  type Registry,
  type SandboxConfigInput,
} from '@harombe/core';
import { buildContainerSpec, RUNTIME_MEMORY_OVERHEAD_MB, type SandboxNetworkSpec } from './container-spec.js';
import { dockerClient } from './docker-client.js';
import { dockerExec, ExecStartError, type DockerExecOutcome, type OutputListener } from './docker-exec.js';
import { EgressNetwork, type EgressRefusal } from './egress-network.js';
import { LABELS } from './labels.js';
import { ExecutionLedger } from './execution-ledger.js';
import { RegistryResolver } from './registry-resolver.js';
import { SubnetPool } from './subnet-pool.js';
import { checkImage, checkRuntime } from './runtime-check.js';
import {
  FILE_USER,
  INSTALLERS,
  LIST_FILES_SCRIPT,
  KILL_VERDICTS_SCRIPT,
  PRIME_PROGRAMS,
  PRIME_ROUNDS,
  READ_FILE_SCRIPT,
  SCRIPT_EXIT,
  SETTLE_SCRIPT,
  TICK_FIFO,
  WRITE_FILE_SCRIPT,
  egressEnvironment,
  endSignals,
  executionUser,
  installCommand,
  isKeeper,
  programCommand,
  shArgv,
} from './sandbox-scripts.js';
import { InMemorySandboxRegistry, type SandboxRecord, type SandboxRegistry } from './sandbox-registry.js';
import { defaultMaxSandboxes, SandboxSlots, type SlotKind } from './sandbox-slots.js';
import { WarmPool } from './warm-pool.js';

export interface SandboxManagerOptions {
  /** Docker API client. Default: the local engine (DOCKER_HOST, else /var/run/docker.sock). */
  docker?: Docker;
  /** The `security.sandbox` section of harombe.yaml. Default: all of its defaults. */
  config?: SandboxConfigInput;
  /** Tags this manager's containers, so its reaper touches only its own. Default: `harombe-<hostname>`. */
  managerId?: string;
  /**
   * Where kept sandboxes' records are kept for a restart (see SandboxRegistry). Default: in memory
   * (sandboxes are reaped after a restart).
   */
  registry?: SandboxRegistry;
  /** Default: the system clock. Idle expiry reads it, so tests can move time. */
  clock?: Clock;
  /** Default: pino at level info. */
  logger?: Logger;
  /** Milliseconds between orphan and idle sweeps. Default: 60 000; 0 turns the timer off. */
  sweepIntervalMs?: number;
  /**
   * Told of every connection a sandbox's egress proxy refused (for the audit trail and metrics).
   * Default: none; each refusal is logged at warn either way and counted (egressRefusals).
   */
  onEgressRefused?: (refusal: EgressRefusal) => void;
  /** Reads the host's npm registry, the npm default. Default: `npm config get registry`. */
  hostNpmRegistry?: () => Promise<string | undefined>;
  /**
   * Sandboxes alive at once (pooled, kept, running one-shot, being created or removed): never
   * exceeded. Default: defaultMaxSandboxes (memory and cores of the host).
   */
  maxSandboxes?: number;
  /**
   * Slots kept sandboxes never take, so one-shot executions always find one (the worker's
   * concurrency). Default 2.
   */
  oneShotReserve?: number;
  /** Labels every container of this manager carries besides its own (the fleet it belongs to). Default none. */
  labels?: Record<string, string>;
  /** Milliseconds without waiting jobs before the warm pool shrinks back to its base. Default 5000. */
  poolShrinkAfterMs?: number;
  /** Told how long each caller waited for a new sandbox (from the warm pool, or started for it). Default: nobody. */
  onSandboxReady?: (language: Language, seconds: number, warm: boolean) => void;
}

/** What code_install_package ran: the package manager's own output. */
export interface InstallOutcome {
  success: boolean;
  exit_code: number;
  stdout: string;
  stderr: string;
}

export interface CreateSandboxRequest {
  /** A Language; any other is refused with UnsupportedLanguage. */
  language: string;
  owner: string;
  /** Overrides of the manager's default limits, each at most the configured ceiling. */
  limits?: PartialLimits;
  /** Default: false. */
  network_enabled?: boolean;
  allowed_domains?: string[];
  /** Seconds the sandbox may sit unused before it is destroyed. Default: the configured idle_timeout. */
  idle_timeout?: number;
}

export interface ExecuteRequest {
  code: string;
  /** Fed to the program's stdin, then closed. Default: an empty stdin. */
  stdin?: string;
  /** Seconds. Default: the sandbox's max_execution_time. */
  timeout?: number;
  /** Default: the sandbox's max_output_bytes. */
  max_output_bytes?: number;
  /** Aborting kills the running program (a cancelled job); the result then has exit code 137. */
  signal?: AbortSignal;
  /** The language the code is in: refused (UnsupportedLanguage) when the sandbox runs another. */
  language?: Language;
  /** The caller wants network: refused (NetworkDisabled) when the sandbox was created without. */
  network_enabled?: boolean;
  /**
   * Let what the program starts in the background (daemons) outlive it, in a kept sandbox. Such
   * an execution runs under an id of its own from FIRST_KEEPER_UID up, which the sandbox's init
   * spares; its processes still cannot reach other executions' descriptors, nor signal them.
   * Default false: whatever the execution started is ended once its program has.
   */
  keep_background?: boolean;
  /** The job this execution runs for: network attempts refused while it runs are reported with it. */
  job_id?: string;
  /**
   * Told the program's output as it writes it, decoded and capped as the result's is: a stream's
   * pieces joined are the result's stdout (stderr), the truncation marker included. Default: nobody.
   */
  onOutput?: OutputListener;
}

/** A one-shot execution: a sandbox of its own, removed as soon as the program has ended. */
export interface RunOnceRequest extends ExecuteRequest {
  language: Language;
  owner: string;
  /** Default: false. */
  network_enabled?: boolean;
  allowed_domains?: string[];
}

/** A sandbox as callers see it: its record without the container, times as ISO 8601. */
export type SandboxInfo = Omit<SandboxRecord, 'container_id' | 'last_used_at' | 'executions' | 'keepers'> & {
  last_used_at: string;
  /** When it is destroyed if nothing uses it before. */
  expires_at: string;
};

/** How full a manager is: what a worker reports so that kept sandboxes go where there is room. */
export interface SandboxCapacity {
  /** Sandboxes that may be alive at once. */
  max: number;
  /** Sandboxes alive now (pooled, kept, running, being created or removed). */
  in_use: number;
  /** Kept sandboxes now, their limit, and how many more could be made now. */
  kept: number;
  kept_limit: number;
  kept_free: number;
  /** Ready in the warm pool, every language. */
  pooled: number;
}

/** Seconds after the SIGKILL past which a still-open execution is given up as wedged. */
const BACKSTOP_S = 15;
/** While an execution outlives its SIGKILL (a fork bomb racing it), the kill is repeated this often. */
const KILL_REPEAT_MS = 1000;
/** How long a new sandbox's init has to set itself up before the sandbox is given up. */
const INIT_READY_TIMEOUT_MS = 10_000;
/** Lost sandboxes remembered so callers hear SandboxLost rather than SandboxNotFound. */
const LOST_MEMORY = 10_000;

/** Output kept of one install, per stream. */
const INSTALL_OUTPUT_BYTES = 256 * 1024;
/**
 * A kept sandbox's use is written to its registry at most once per this share of its idle_timeout
 * (15 s at the default 15 minutes): an execution between two such writes writes nothing. What the
 * registry holds (what GET /v1/sandboxes shows, what a restart adopts) is that much behind at most;
 * idle expiry reads the manager's own record, which is exact.
 */
const USE_RECORD_SHARE = 1 / 60;

/**
 * Runs code in persistent gVisor sandboxes: one runsc container per sandbox, kept between
 * executions until destroyed or idle for too long. Every operation on one sandbox runs alone.
 */
export class SandboxManager {
  readonly config: SandboxConfig;
  readonly managerId: string;
  private readonly docker: Docker;
  private readonly registry: SandboxRegistry;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly sweepIntervalMs: number;
  private readonly pool: WarmPool;
  private readonly slots: SandboxSlots;
  private readonly labels: Record<string, string>;
  private readonly onSandboxReady: NonNullable<SandboxManagerOptions['onSandboxReady']>;
  /** The slot each sandbox alive holds, by sandbox id: kept ones, and pooled, one-shot or starting ones. */
  private readonly held = new Map<string, SlotKind>();
  /**
   * The records of the kept sandboxes this manager holds, by sandbox id: what it runs them by. The
   * registry holds a copy, for a restart to adopt and for the fleet to route jobs by, written when
   * a sandbox is made, before an execution that keeps its background processes, once its recorded
   * use is stale (USE_RECORD_SHARE), and at stop.
   */
  private readonly kept = new Map<string, SandboxRecord>();
  /** The last use the registry's copy of each kept sandbox holds (ms since the epoch). */
  private readonly recordedUse = new Map<string, number>();
  /** Kept sandboxes whose record changed (a use, an execution counted) since the registry's copy was written. */
  private readonly unrecorded = new Set<string>();
  /** One-shot sandboxes being removed, off the executions' path. */
  private readonly disposals = new Set<Promise<void>>();
  /** Set once a stop found the registry gone (its Redis): nothing more is asked of it. */
  private registryGone = false;
  private readonly creating = new Set<string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly lost = new Map<string, { owner: string; reason: string }>();
  private readonly imagesChecked = new Set<string>();
  private readonly egress: EgressNetwork;
  private readonly registries: RegistryResolver;
  private readonly refusals = new Map<string, number>();
  /** Which job ran in which sandbox when, to tie refused network attempts to their jobs. */
  private readonly ledger = new ExecutionLedger();
  private networkRuntimeChecked = false;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: SandboxManagerOptions = {}) {
    this.config = SandboxConfig.parse(options.config ?? {});
    this.docker = options.docker ?? dockerClient();
    this.managerId = options.managerId ?? `harombe-${hostname()}`;
    this.registry = options.registry ?? new InMemorySandboxRegistry();
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? pino({ name: 'sandbox-manager' });
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.labels = options.labels ?? {};
    this.onSandboxReady = options.onSandboxReady ?? (() => undefined);
    const reserve = options.oneShotReserve ?? 2;
    this.slots = new SandboxSlots({
      max:
        options.maxSandboxes ??
        defaultMaxSandboxes(this.config.limits.max_memory_mb + RUNTIME_MEMORY_OVERHEAD_MB, reserve),
      reserve,
    });
    this.pool = new WarmPool({
      base: this.config.warm_pool,
      spawn: async (language, prime) => {
        if (!this.slots.tryTake('transient')) return undefined;
        return this.spawn(language, '', this.config.limits, { slot: 'transient', prime });
      },
      discard: (record) => this.forget(record),
      logger: this.logger,
      maxParallelSpawns: reserve,
      ...(options.poolShrinkAfterMs !== undefined ? { shrinkAfterMs: options.poolShrinkAfterMs } : {}),
    });
    const network = this.config.network;
    this.registries = new RegistryResolver({
      registries: network.allowed_registries,
      ...(options.hostNpmRegistry ? { hostNpmRegistry: options.hostNpmRegistry } : {}),
    });
    this.egress = new EgressNetwork({
      docker: this.docker,
      managerId: this.managerId,
      logger: this.logger,
      egressNetwork: network.egress_network,
      proxyImage: network.proxy_image,
      allowedPorts: network.allowed_ports,
      subnets: new SubnetPool(network.subnet_pool),
      allowedPrivateRanges: network.allowed_private_ranges,
      deniedRanges: [...network.denied_ranges, ...ownAddresses()],
      onRefused: (seen) => {
        const at = Date.parse(seen.at);
        const job = Number.isNaN(at) ? undefined : this.ledger.jobAt(seen.sandbox_id, at);
        const refusal: EgressRefusal = job ? { ...seen, job_id: job.job_id, background: job.background } : seen;
        this.refusals.set(refusal.sandbox_id, (this.refusals.get(refusal.sandbox_id) ?? 0) + refusal.count);
        this.logger.warn(refusal, 'egress refused');
        options.onEgressRefused?.(refusal);
      },
    });
  }

  /** Connections the sandbox's egress proxy refused so far (0 for sandboxes without network). */
  egressRefusals(sandboxId: string): number {
    return this.refusals.get(sandboxId) ?? 0;
  }

  /** Checks the runtime, reaps orphans, adopts known sandboxes, fills the warm pool. */
  async start(): Promise<void> {
    const { runtime, allow_insecure_runtime } = this.config;
    if (!runtime.startsWith('runsc')) {
      if (!allow_insecure_runtime) {
        throw new HarombeError(
          'InvalidArgument',
          `security.sandbox.runtime is '${runtime}', not gVisor (runsc); set allow_insecure_runtime: true to run untrusted code without gVisor`,
        );
      }
      this.logger.error(
        { runtime },
        `INSECURE: sandboxes run with the '${runtime}' runtime, not gVisor; untrusted code shares the host kernel`,
      );
    }
    await checkRuntime(this.docker, runtime);
    const reaped = await this.reapOrphans();
    this.logger.info(
      { manager_id: this.managerId, reaped, max_sandboxes: this.slots.max, kept_limit: this.slots.keptLimit },
      'sandbox manager started',
    );
    this.pool.start();
    if (this.sweepIntervalMs > 0) {
      this.sweepTimer = setInterval(
        () => void this.sweep().catch((error: unknown) => this.logger.error({ err: error }, 'sandbox sweep failed')),
        this.sweepIntervalMs,
      );
      this.sweepTimer.unref();
    }
  }

  /**
   * Stops the timers and the pool, and removes the pooled sandboxes and the one-shot ones being
   * removed. Kept sandboxes stay (a restart with the same registry adopts them) unless
   * `destroySandboxes` is set. `registryGone`: the registry cannot answer (its Redis gone), so
   * nothing waits on it: the containers go, found by this manager's label.
   */
  async stop(options: { destroySandboxes?: boolean; registryGone?: boolean } = {}): Promise<void> {
    clearInterval(this.sweepTimer);
    if (options.registryGone) return this.removeContainersWithoutRegistry(options.destroySandboxes ?? false);
    await this.pool.stop();
    await Promise.allSettled(this.disposals);
    if (options.destroySandboxes) {
      // Those held, and any the registry has that this manager never adopted (it was not started).
      // A registry that fails now still leaves those held to remove.
      const listed = await this.registry.list().catch(() => []);
      const records = new Map(listed.map((record) => [record.sandbox_id, record]));
      for (const [id, record] of this.kept) records.set(id, record);
      await Promise.allSettled([...records.values()].map((record) => this.forget(record)));
    } else {
      // A restart adopts them as last used, their executions counted; one the registry has
      // forgotten meanwhile (the fleet found this worker lost) is not written back.
      await this.settled();
      const changed = [...this.unrecorded].flatMap((id) => this.kept.get(id) ?? []);
      await Promise.allSettled(
        changed.map(async (record) => {
          if (await this.registry.get(record.sandbox_id)) await this.writeRecord(record);
        }),
      );
    }
  }

  /**
   * The stop of a manager whose registry is gone: every container it made (pooled, one-shot, kept
   * unless they are to stay) is removed by its label, with their egress proxies and networks. Their
   * registry entries are left to the fleet, which drops them once it finds the worker lost.
   */
  private async removeContainersWithoutRegistry(destroyKept: boolean): Promise<void> {
    this.registryGone = true;
    await this.pool.stop();
    const containers = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.manager}=${this.managerId}`] },
    });
    const staying = (sandboxId: string | undefined) =>
      !destroyKept && sandboxId !== undefined && this.kept.has(sandboxId);
    await Promise.allSettled(
      containers.filter((c) => !staying(c.Labels[LABELS.sandbox])).map((c) => this.removeContainer(c.Id)),
    );
    await this.egress
      .reap((sandboxId) => staying(sandboxId))
      .catch((error: unknown) => {
        this.logger.warn({ err: error }, 'removing egress proxies failed');
        return 0;
      });
  }

  /**
   * Resolves once the operations under way (on one sandbox, or on all) are over, their marks of
   * use included (they come after the caller has its answer).
   */
  async settled(sandboxId?: string): Promise<void> {
    const one = sandboxId === undefined ? undefined : this.locks.get(sandboxId);
    await Promise.all(sandboxId === undefined ? [...this.locks.values()] : one ? [one] : []);
  }

  /** Resolves once the warm pool is as full as it will get. */
  async warmPoolFilled(): Promise<void> {
    await this.pool.whenFilled();
  }

  warmPoolAvailable(language: Language): number {
    return this.pool.available(language);
  }

  /** Jobs waiting for a sandbox now: the warm pool grows for them and shrinks back once none wait. */
  setDemand(waiting: number): void {
    this.pool.setDemand(waiting);
  }

  capacity(): SandboxCapacity {
    let pooled = 0;
    for (const language of LANGUAGES) pooled += this.pool.available(language);
    return {
      max: this.slots.max,
      in_use: this.slots.inUse,
      kept: this.slots.keptInUse,
      kept_limit: this.slots.keptLimit,
      kept_free: this.slots.keptFree,
      pooled,
    };
  }

  /**
   * Makes a kept sandbox: it lives on for its owner's later calls until destroyed or idle for its
   * idle_timeout. Refused with CapacityExceeded, before anything is made, when this manager holds
   * as many kept sandboxes as it may.
   */
  async create(request: CreateSandboxRequest): Promise<SandboxInfo> {
    const language = this.checkLanguage(request.language);
    const limits = this.resolveLimits(request.limits);
    const idleTimeout = request.idle_timeout ?? this.config.idle_timeout;
    if (!(idleTimeout > 0) || !Number.isFinite(idleTimeout)) {
      throw new HarombeError('InvalidArgument', 'idle_timeout must be a positive number of seconds');
    }
    const allowedDomains = request.network_enabled ? this.checkDomains(request.allowed_domains ?? []) : undefined;
    const asked = performance.now();
    // A pooled sandbox becomes kept in the slot it holds.
    const pooled =
      !allowedDomains && sameLimits(limits, this.config.limits) && this.slots.keptInUse < this.slots.keptLimit
        ? this.pool.take(language)
        : undefined;
    let record: SandboxRecord;
    if (pooled && this.slots.keep()) {
      this.held.set(pooled.sandbox_id, 'kept');
      record = { ...pooled, owner: request.owner, idle_timeout: idleTimeout, last_used_at: this.clock.now() };
      await this.writeRecord(record);
      this.kept.set(record.sandbox_id, record);
    } else {
      if (pooled) await this.forget(pooled);
      if (!this.slots.tryTake('kept')) {
        throw new HarombeError(
          'CapacityExceeded',
          `this worker holds as many kept sandboxes as it may (${this.slots.keptLimit}); destroy one, or run without keeping the sandbox`,
          { kept_limit: this.slots.keptLimit },
        );
      }
      record = await this.spawn(language, request.owner, limits, { slot: 'kept', allowedDomains, idleTimeout });
      await this.writeRecord(record);
      this.kept.set(record.sandbox_id, record);
    }
    this.onSandboxReady(language, (performance.now() - asked) / 1000, Boolean(pooled));
    this.logger.info(
      {
        sandbox_id: record.sandbox_id,
        owner: record.owner,
        language: record.language,
        warm: Boolean(pooled),
        allowed_domains: record.allowed_domains,
      },
      'sandbox created',
    );
    return this.info(record);
  }

  /**
   * Runs one program in a sandbox of its own (from the warm pool, or started for it) that is
   * removed as soon as the program has ended, off the caller's path. Waits for a free slot when
   * this manager is full. The result names the sandbox, which no longer exists.
   */
  async runOnce(request: RunOnceRequest): Promise<ExecutionResult> {
    const language = this.checkLanguage(request.language);
    this.checkExecution(request, this.config.limits);
    const allowedDomains = request.network_enabled ? this.checkDomains(request.allowed_domains ?? []) : undefined;
    const asked = performance.now();
    let record = allowedDomains ? undefined : this.pool.take(language);
    const warm = record !== undefined;
    if (!record) {
      await this.slots.take();
      record = await this.spawn(language, request.owner, this.config.limits, { slot: 'transient', allowedDomains });
    }
    this.onSandboxReady(language, (performance.now() - asked) / 1000, warm);
    record = { ...record, owner: request.owner };
    try {
      // Nothing outlives a one-shot sandbox: background processes cannot be kept in one.
      return await this.run(record, { ...request, keep_background: false });
    } finally {
      this.dispose(record);
    }
  }

  /** Runs a program in a kept sandbox. Limits show in the result, not as exceptions. */
  async execute(sandboxId: string, owner: string, request: ExecuteRequest): Promise<ExecutionResult> {
    const record = await this.lookup(sandboxId, owner);
    if (request.language && request.language !== record.language) {
      throw new HarombeError(
        'UnsupportedLanguage',
        `sandbox ${sandboxId} runs ${record.language}, not ${request.language}`,
      );
    }
    // A sandbox's network is chosen when it is created, never switched on later.
    if (request.network_enabled && !record.network_enabled) {
      throw new HarombeError(
        'NetworkDisabled',
        `sandbox ${sandboxId} was created without network; create a new one with network_enabled`,
      );
    }
    this.checkExecution(request, record.limits);
    return this.exclusive(record, (current) => this.run(current, request));
  }

  private checkLanguage(language: string): Language {
    const parsed = Language.safeParse(language);
    if (!parsed.success) {
      throw new HarombeError(
        'UnsupportedLanguage',
        `language '${String(language)}' is not supported; use ${listInProse(LANGUAGES, 'or')}`,
      );
    }
    return parsed.data;
  }

  /** What can be refused before the program runs: its size and the limits asked for. */
  private checkExecution(request: ExecuteRequest, limits: Limits): void {
    this.checkCeiling('max_execution_time', request.timeout ?? limits.max_execution_time);
    this.checkCeiling('max_output_bytes', request.max_output_bytes ?? limits.max_output_bytes);
    const size = Buffer.byteLength(request.code) + Buffer.byteLength(request.stdin ?? '');
    if (size > this.config.max_code_bytes) {
      throw new HarombeError(
        'PayloadTooLarge',
        `the code and its stdin are larger than ${this.config.max_code_bytes} bytes`,
      );
    }
  }

  /** One execution in a sandbox the caller has to itself, under a user id of its own. */
  private async run(record: SandboxRecord, request: ExecuteRequest): Promise<ExecutionResult> {
    const timeout = request.timeout ?? record.limits.max_execution_time;
    const maxOutputBytes = request.max_output_bytes ?? record.limits.max_output_bytes;
    const grace = Math.max(this.config.kill_grace_period, 0.1);
    const keepBackground = request.keep_background === true;
    // Once background processes may live on, a program's text stays out of command lines they could read.
    if (keepBackground) record.keepers = true;
    const { cmd, stdin } = programCommand(record.language, request.code, request.stdin, !record.keepers);
    const user = nextExecutionUser(record, keepBackground);
    // Its background processes keep its user id: a restart, even after a crash, must never give that
    // id to another execution, so the count the ids come from is written before it starts.
    if (keepBackground && this.kept.has(record.sandbox_id)) await this.writeRecord(record);
    const ends = this.endings(record, user);
    const controller = new AbortController();
    let timedOut = false;
    // The clock the init's memory verdict is judged against (the sandbox shares the host's).
    const startedAtUs = Date.now() * 1000;
    const timers = [
      setTimeout(() => {
        timedOut = true;
        ends.terminate();
      }, timeout * 1000),
      setTimeout(
        () => {
          ends.kill();
          timers.push(setInterval(() => ends.kill(), KILL_REPEAT_MS));
        },
        (timeout + grace) * 1000,
      ),
      // The init can be starved (a fork bomb shares its CPU quota): give up on the sandbox
      // only well after the kill.
      setTimeout(() => controller.abort(), (timeout + grace + BACKSTOP_S) * 1000),
    ];
    const cancel = (): void => {
      ends.kill();
      // A cancel that came before the program had started (a job cancelled as it began) kills it
      // as soon as it is there: the kill is repeated until the execution has ended.
      timers.push(setInterval(() => ends.kill(), KILL_REPEAT_MS));
    };
    request.signal?.addEventListener('abort', cancel, { once: true });
    if (request.signal?.aborted) cancel();
    const ended = request.job_id ? this.ledger.begin(record.sandbox_id, request.job_id, keepBackground) : undefined;
    const started = performance.now();
    let outcome: DockerExecOutcome;
    try {
      // What the program leaves behind holding its output is ended by the init once it has ended;
      // background processes it was allowed to keep are not waited for.
      outcome = await dockerExec(this.container(record), {
        cmd,
        user,
        ...(stdin !== undefined ? { stdin } : {}),
        ...(request.onOutput ? { onOutput: request.onOutput } : {}),
        maxOutputBytes,
        signal: controller.signal,
        ...(keepBackground ? { onLingering: () => 'detach' as const } : {}),
      });
    } catch (error) {
      throw await this.containerFailure(record, error);
    } finally {
      ended?.();
      for (const timer of timers) clearTimeout(timer);
      request.signal?.removeEventListener('abort', cancel);
      await ends.delivered();
    }
    const executionTime = Math.round(performance.now() - started) / 1000;
    const kept = this.held.get(record.sandbox_id) === 'kept';
    const result = (error: ExecutionResult['error'], exitCode: number): ExecutionResult => ({
      success: error === null && exitCode === 0,
      sandbox_id: record.sandbox_id,
      sandbox_kept: kept,
      stdout: outcome.stdout.text(),
      stderr: outcome.stderr.text(),
      exit_code: exitCode,
      execution_time: executionTime,
      error,
    });

    if (outcome.aborted) {
      // Something outlived SIGKILL (or the sandbox hung): it can no longer be trusted.
      await this.markLost(record, 'it did not stop after its execution timed out and was destroyed');
      return result('TimeoutError', -1);
    }
    // No exit seen, or SIGKILL: was it the whole sandbox (the cgroup's OOM killer, a crash)?
    const lostDuring = async (state: { oomKilled: boolean }): Promise<ExecutionResult> => {
      await this.markLost(record, lostReason(state));
      if (state.oomKilled) return result('MemoryLimitExceeded', 137);
      throw new HarombeError('SandboxLost', `sandbox ${record.sandbox_id} stopped during the execution`);
    };
    if (outcome.exitCode === null) return lostDuring(await this.containerState(record));
    if (outcome.exitCode === 137) {
      const state = await this.containerState(record);
      if (!state.running) return lostDuring(state);
    }
    if (timedOut) return result('TimeoutError', -1);
    if (outcome.exitCode === 137) {
      const verdict = await this.killVerdictSince(record, startedAtUs);
      if (verdict === 'memory') return result('MemoryLimitExceeded', 137);
      if (verdict === 'files') return result('DiskLimitExceeded', 137);
    }
    // Debug: a job's worker logs its end with the same figures, one line a job.
    this.logger.debug(
      {
        sandbox_id: record.sandbox_id,
        ...(request.job_id ? { job_id: request.job_id } : {}),
        exit_code: outcome.exitCode,
        execution_time: executionTime,
      },
      'execution finished',
    );
    return result(null, outcome.exitCode);
  }

  async writeFile(sandboxId: string, owner: string, filePath: string, content: string | Buffer): Promise<void> {
    const path = normalizeWorkspacePath(filePath);
    const size = Buffer.byteLength(content);
    if (size > this.config.max_file_bytes) {
      throw new HarombeError(
        'FileTooLarge',
        `the content is ${size} bytes; files may be at most ${this.config.max_file_bytes}`,
      );
    }
    const record = await this.lookup(sandboxId, owner);
    await this.exclusive(record, async () => {
      const outcome = await this.runScript(
        record,
        WRITE_FILE_SCRIPT,
        [path, String(this.config.max_files)],
        content,
        64 * 1024,
      );
      this.checkScriptOutcome(outcome, filePath);
    });
  }

  async readFile(sandboxId: string, owner: string, filePath: string): Promise<Buffer> {
    const path = normalizeWorkspacePath(filePath);
    const record = await this.lookup(sandboxId, owner);
    return this.exclusive(record, async () => {
      const max = this.config.max_file_bytes;
      const outcome = await this.runScript(record, READ_FILE_SCRIPT, [path, String(max)], undefined, max);
      this.checkScriptOutcome(outcome, filePath);
      // Grown past the limit between its size and its read (a background process writing it): never half a file.
      if (outcome.stdout.truncated) {
        throw new HarombeError('FileTooLarge', `${filePath} grew past ${max} bytes while it was read`);
      }
      return outcome.stdout.bytes();
    });
  }

  async listFiles(sandboxId: string, owner: string, dirPath = '.'): Promise<string[]> {
    const path = normalizeWorkspacePath(dirPath);
    const record = await this.lookup(sandboxId, owner);
    return this.exclusive(record, async () => {
      const outcome = await this.runScript(record, LIST_FILES_SCRIPT, [path], undefined, 16 * 1_048_576);
      this.checkScriptOutcome(outcome, dirPath);
      return outcome.stdout
        .bytes()
        .toString('utf8')
        .split('\0')
        .filter((name) => name.length > 0)
        .sort();
    });
  }

  /**
   * Installs a package with pip (into PYTHONPATH's /workspace/.python-packages) or npm (into
   * /workspace/node_modules) through the sandbox's egress proxy. Refused before any traffic for
   * a sandbox without network (NetworkDisabled) or a registry not allowed (RegistryNotAllowed).
   * A failing package manager is an outcome with success false, not an exception.
   */
  async installPackage(
    sandboxId: string,
    owner: string,
    pkg: string,
    registry: Registry,
    /** The job it runs for: refused network attempts made meanwhile are reported with it. */
    jobId?: string,
  ): Promise<InstallOutcome> {
    const record = await this.lookup(sandboxId, owner);
    if (!record.network_enabled) {
      throw new HarombeError(
        'NetworkDisabled',
        `sandbox ${sandboxId} has no network: create it with network_enabled to install packages`,
      );
    }
    await this.registries.resolve(registry);
    const installer = INSTALLERS[registry];
    if (record.language !== installer) {
      throw new HarombeError(
        'InvalidArgument',
        `${registry} packages install into ${installer} sandboxes; sandbox ${sandboxId} runs ${record.language}`,
      );
    }
    return this.exclusive(record, async (current) => {
      const timeout = this.config.network.install_timeout;
      const user = nextExecutionUser(current);
      const ends = this.endings(record, user);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ends.kill();
      }, timeout * 1000);
      let outcome: DockerExecOutcome;
      const ended = jobId ? this.ledger.begin(record.sandbox_id, jobId, false) : undefined;
      try {
        outcome = await dockerExec(this.container(record), {
          cmd: installCommand(registry, pkg),
          user,
          maxOutputBytes: INSTALL_OUTPUT_BYTES,
        });
      } catch (error) {
        throw await this.containerFailure(record, error);
      } finally {
        ended?.();
        clearTimeout(timer);
        await ends.delivered();
      }
      const exitCode = outcome.exitCode ?? -1;
      const stderr =
        outcome.stderr.text() +
        (timedOut ? `\nharombe: the install took longer than ${timeout} s and was killed\n` : '');
      this.logger.info(
        { sandbox_id: sandboxId, package: pkg, registry, exit_code: exitCode },
        'package install finished',
      );
      return { success: exitCode === 0 && !timedOut, exit_code: exitCode, stdout: outcome.stdout.text(), stderr };
    });
  }

  async destroy(sandboxId: string, owner: string): Promise<void> {
    const record = await this.lookup(sandboxId, owner);
    await this.exclusive(record, () => this.forget(record));
    this.logger.info({ sandbox_id: sandboxId }, 'sandbox destroyed');
  }

  async get(sandboxId: string, owner: string): Promise<SandboxInfo> {
    return this.info(await this.lookup(sandboxId, owner));
  }

  /** Kept sandboxes of one owner, or of all owners when none is given. */
  async list(owner?: string): Promise<SandboxInfo[]> {
    return [...this.kept.values()].filter((r) => owner === undefined || r.owner === owner).map((r) => this.info(r));
  }

  /**
   * Removes this manager's containers that no record claims (left by a crash or a restart) and
   * forgets records whose container is gone. Returns how many containers it removed.
   */
  async reapOrphans(): Promise<number> {
    const containers = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.manager}=${this.managerId}`] },
    });
    const seen = new Set<string>();
    let removed = 0;
    for (const container of containers) {
      const sandboxId = container.Labels[LABELS.sandbox] ?? '';
      if (container.Labels[LABELS.role] !== undefined) continue; // egress proxies: reaped below
      if (this.creating.has(sandboxId) || this.held.get(sandboxId) === 'transient') continue;
      const record = await this.registry.get(sandboxId);
      if (record && record.container_id === container.Id && container.State === 'running') {
        seen.add(sandboxId);
        // A sandbox this manager adopts (a restart with the same registry) holds a kept slot.
        if (!this.held.has(sandboxId)) {
          this.held.set(sandboxId, 'kept');
          this.slots.adopt('kept');
          this.adopt(record);
        }
        continue;
      }
      const held = this.kept.get(sandboxId);
      if (record && record.container_id === container.Id) {
        if (this.locks.has(sandboxId)) continue; // an execution in flight reports this itself
        await this.markLost(held ?? record, 'its container stopped');
      } else if (held && !record) {
        // Forgotten by the registry behind this manager's back (a fleet that found its worker lost).
        if (this.locks.has(sandboxId)) continue;
        await this.forget(held);
        this.logger.warn({ sandbox_id: sandboxId }, 'removed a sandbox its registry no longer holds');
      } else {
        await this.removeContainer(container.Id);
        this.logger.warn({ sandbox_id: sandboxId, container_id: container.Id }, 'reaped orphaned sandbox container');
      }
      removed += 1;
    }
    for (const record of await this.registry.list()) {
      if (!seen.has(record.sandbox_id) && !this.creating.has(record.sandbox_id) && !this.locks.has(record.sandbox_id)) {
        const stillThere = await this.isRunning(record);
        if (!stillThere) await this.markLost(this.kept.get(record.sandbox_id) ?? record, 'its container disappeared');
      }
    }
    const records = await this.registry.list();
    const claimed = new Set(records.map((record) => record.sandbox_id));
    await this.egress.reap((sandboxId) => claimed.has(sandboxId) || this.creating.has(sandboxId));
    // Adopted network-enabled sandboxes (a restart): their proxies' refusals are followed again.
    for (const record of records)
      if (record.network_enabled && !this.creating.has(record.sandbox_id)) await this.egress.resume(record.sandbox_id);
    return removed;
  }

  /**
   * Removes sandbox containers left on this Docker host by other managers that are gone (a
   * worker killed mid-job). `isAbandoned` decides from the manager id; this manager's own
   * containers are never touched here (reapOrphans handles them).
   */
  async reapAbandoned(isAbandoned: (managerId: string) => Promise<boolean>): Promise<number> {
    // Only this manager's fleet: another fleet on the same Docker host keeps its own books.
    const fleet = this.labels[LABELS.fleet];
    const containers = await this.docker.listContainers({
      all: true,
      filters: { label: [LABELS.manager, ...(fleet ? [`${LABELS.fleet}=${fleet}`] : [])] },
    });
    const verdicts = new Map<string, boolean>();
    let removed = 0;
    for (const container of containers) {
      const managerId = container.Labels[LABELS.manager] ?? '';
      if (managerId === this.managerId) continue;
      if (!verdicts.has(managerId)) verdicts.set(managerId, await isAbandoned(managerId));
      if (!verdicts.get(managerId)) continue;
      await this.removeContainer(container.Id);
      this.logger.warn(
        { sandbox_id: container.Labels[LABELS.sandbox], manager: managerId },
        'reaped sandbox container of a lost manager',
      );
      removed += 1;
    }
    // Their proxies went with the containers above; their networks are left.
    await this.egress.reap(
      (_sandboxId, managerId) => managerId === this.managerId || verdicts.get(managerId) !== true,
      true,
    );
    return removed;
  }

  /** Destroys sandboxes unused for longer than idle_timeout (by this manager's records: exact). Returns how many. */
  async reapIdle(): Promise<number> {
    const now = this.clock.now();
    let destroyed = 0;
    for (const record of [...this.kept.values()]) {
      if (this.expiresAt(record) < now && !this.locks.has(record.sandbox_id)) {
        await this.forget(record);
        this.logger.info({ sandbox_id: record.sandbox_id }, 'destroyed idle sandbox');
        destroyed += 1;
      }
    }
    return destroyed;
  }

  private async sweep(): Promise<void> {
    await this.reapOrphans();
    await this.reapIdle();
  }

  private resolveLimits(overrides: PartialLimits = {}): Limits {
    const limits = { ...this.config.limits };
    for (const [key, value] of Object.entries(overrides) as [keyof Limits, number | undefined][]) {
      if (value === undefined) continue;
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
        throw new HarombeError('InvalidArgument', `limit ${key} must be a positive number`);
      }
      this.checkCeiling(key, value);
      limits[key] = value;
    }
    return limits;
  }

  private checkCeiling(key: keyof Limits, value: number): void {
    const ceiling = this.config.max_limits[key];
    if (!(value > 0) || !Number.isFinite(value)) {
      throw new HarombeError('InvalidArgument', `${key} must be a positive number`);
    }
    if (value > ceiling) {
      throw new HarombeError('LimitTooHigh', `${key} ${value} is above this deployment's maximum of ${ceiling}`, {
        limit: key,
        maximum: ceiling,
      });
    }
  }

  /** Validates allowed_domains (as the tool schema does, for direct callers) and normalises them. */
  private checkDomains(domains: string[]): string[] {
    for (const domain of domains) {
      if (!DomainPattern.safeParse(domain).success) {
        throw new HarombeError(
          'InvalidArgument',
          `allowed_domains: '${domain}' is not a domain name or *.domain pattern`,
        );
      }
    }
    return [...new Set(domains.map((d) => d.toLowerCase()))];
  }

  /** The network side of a network-enabled sandbox: its proxy and network, and the sandbox's settings. */
  private async attachNetwork(sandboxId: string, owner: string, allowedDomains: string[]): Promise<SandboxNetworkSpec> {
    if (!this.networkRuntimeChecked) {
      await checkRuntime(this.docker, this.config.network_runtime);
      this.networkRuntimeChecked = true;
    }
    // Allowed registries are reachable from every network-enabled sandbox: installs need them.
    const registries = await this.registries.resolveAll();
    const proxyDomains = [...new Set([...allowedDomains, ...registries.flatMap((r) => r.hosts)])];
    const attachment = await this.egress.attach(sandboxId, owner, proxyDomains);
    const indexUrls = Object.fromEntries(registries.map((r) => [r.name, r.indexUrl])) as Partial<
      Record<Registry, string>
    >;
    return {
      runtime: this.config.network_runtime,
      networkName: attachment.networkName,
      dns: attachment.gateway,
      env: egressEnvironment(attachment.proxyUrl, indexUrls),
    };
  }

  /**
   * Starts a sandbox in a slot the caller has taken (given back here when the start fails). Pooled
   * ones are primed on request; kept ones are recorded by the caller.
   */
  private async spawn(
    language: Language,
    owner: string,
    limits: Limits,
    options: { slot: SlotKind; prime?: boolean; allowedDomains?: string[] | undefined; idleTimeout?: number },
  ): Promise<SandboxRecord> {
    const { allowedDomains } = options;
    const sandboxId = `sandbox-${randomBytes(8).toString('hex')}`;
    const createdAt = new Date(this.clock.now()).toISOString();
    this.creating.add(sandboxId);
    this.held.set(sandboxId, options.slot);
    let containerId: string | undefined;
    try {
      const image = this.config.languages[language].image;
      if (!this.imagesChecked.has(image)) {
        await checkImage(this.docker, image);
        this.imagesChecked.add(image);
      }
      const network = allowedDomains ? await this.attachNetwork(sandboxId, owner, allowedDomains) : undefined;
      const spec = buildContainerSpec({
        sandboxId,
        managerId: this.managerId,
        language,
        image,
        runtime: this.config.runtime,
        owner,
        limits,
        maxProcesses: this.config.max_processes,
        maxFiles: this.config.max_files,
        createdAt,
        pooled: options.slot === 'transient' && owner === '',
        ...(network ? { network } : {}),
      });
      spec.Labels = { ...this.labels, ...spec.Labels };
      const container = await this.docker.createContainer(spec);
      containerId = container.id;
      await container.start();
      await waitForInit(container);
      if (network) await this.egress.confine(container.id, sandboxId, network.dns);
      const record: SandboxRecord = {
        sandbox_id: sandboxId,
        container_id: container.id,
        language,
        owner,
        limits,
        network_enabled: allowedDomains !== undefined,
        allowed_domains: allowedDomains ?? [],
        created_at: createdAt,
        last_used_at: this.clock.now(),
        executions: 0,
        ...(options.idleTimeout !== undefined ? { idle_timeout: options.idleTimeout } : {}),
      };
      if (options.prime) {
        for (let round = 0; round < PRIME_ROUNDS; round += 1) {
          const { cmd, stdin } = programCommand(language, PRIME_PROGRAMS[language]);
          const user = nextExecutionUser(record);
          await dockerExec(container, { cmd, user, ...(stdin !== undefined ? { stdin } : {}), maxOutputBytes: 4096 });
        }
      }
      return record;
    } catch (error) {
      if (containerId) await this.removeContainer(containerId).catch(() => undefined);
      if (allowedDomains) await this.egress.detach(sandboxId).catch(() => undefined);
      this.releaseSlot(sandboxId);
      if (error instanceof HarombeError) throw error;
      throw new HarombeError(
        'RuntimeUnavailable',
        `could not start a ${language} sandbox: ${(error as Error).message}`,
      );
    } finally {
      this.creating.delete(sandboxId);
    }
  }

  /** Removes a one-shot sandbox in the background; stop() waits for what is still under way. */
  private dispose(record: SandboxRecord): void {
    const disposal = this.forget(record)
      .catch((error: unknown) =>
        this.logger.error({ err: error, sandbox_id: record.sandbox_id }, 'removing a one-shot sandbox failed'),
      )
      .finally(() => this.disposals.delete(disposal));
    this.disposals.add(disposal);
  }

  private releaseSlot(sandboxId: string): void {
    const kind = this.held.get(sandboxId);
    if (kind === undefined) return;
    this.held.delete(sandboxId);
    this.slots.release(kind);
    // A slot came free: the warm pool may grow into it.
    this.pool.poke();
  }

  private expiresAt(record: SandboxRecord): number {
    return record.last_used_at + (record.idle_timeout ?? this.config.idle_timeout) * 1000;
  }

  /**
   * The record of a kept sandbox of `owner`, from this manager's own. The registry is asked all the
   * same whether it still holds the sandbox: it can forget one behind this manager's back (the
   * fleet's housekeeper forgets the sandboxes of a worker it found lost, whose jobs then hear
   * SandboxLost), and then the sandbox is refused here too (and removed by the next sweep).
   */
  private async lookup(sandboxId: string, owner: string): Promise<SandboxRecord> {
    const record = this.kept.get(sandboxId);
    if (record && record.owner === owner && (await this.registry.get(sandboxId))) return record;
    const lost = this.lost.get(sandboxId);
    if (lost && lost.owner === owner) {
      throw new HarombeError('SandboxLost', `sandbox ${sandboxId} is gone: ${lost.reason}`);
    }
    // Another owner's sandbox answers exactly as a missing one.
    throw new HarombeError('SandboxNotFound', `no sandbox ${sandboxId}`);
  }

  /**
   * Runs `work` with the sandbox to itself, on its record (this manager's own: operations change it
   * in turn, under this lock), and marks it used afterwards (see touch). While the sandbox is locked
   * the idle reaper leaves it alone, so nothing needs marking before. The mark comes after the
   * caller has its answer: the next operation on the sandbox waits for it (it is part of the
   * lock), the caller does not.
   */
  private exclusive<T>(record: SandboxRecord, work: (current: SandboxRecord) => Promise<T>): Promise<T> {
    const id = record.sandbox_id;
    const previous = this.locks.get(id);
    const run = (previous ?? Promise.resolve()).catch(() => undefined).then(() => work(record));
    // The next operation waits for this one, failed or not; the last one leaves no lock behind.
    const tail: Promise<void> = run
      .catch(() => undefined)
      // Unless the operation removed it (destroyed, lost).
      .then(() => (this.held.has(id) ? this.touch(record) : undefined))
      .catch((error: unknown) => this.logger.warn({ err: error, sandbox_id: id }, 'sandbox use not recorded'))
      .finally(() => {
        if (this.locks.get(id) === tail) this.locks.delete(id);
      });
    this.locks.set(id, tail);
    return run;
  }

  /**
   * Marks a kept sandbox used now. The registry's copy is written only once the use it holds is
   * older than USE_RECORD_SHARE of the sandbox's idle_timeout; until then the change waits in
   * this manager's record (stop writes it).
   */
  private async touch(record: SandboxRecord): Promise<void> {
    record.last_used_at = this.clock.now();
    const recorded = this.recordedUse.get(record.sandbox_id);
    if (recorded !== undefined && record.last_used_at - recorded < this.useRecordEveryMs(record)) {
      this.unrecorded.add(record.sandbox_id);
      return;
    }
    await this.writeRecord(record);
  }

  /** Writes a kept sandbox's record to the registry as it is now. */
  private async writeRecord(record: SandboxRecord): Promise<void> {
    const use = record.last_used_at;
    this.unrecorded.delete(record.sandbox_id);
    try {
      await this.registry.put(record);
    } catch (error) {
      this.unrecorded.add(record.sandbox_id);
      throw error;
    }
    this.recordedUse.set(record.sandbox_id, use);
  }

  private useRecordEveryMs(record: SandboxRecord): number {
    return (record.idle_timeout ?? this.config.idle_timeout) * 1000 * USE_RECORD_SHARE;
  }

  /**
   * Holds a kept sandbox found in the registry (a restart). Its record may be up to one write
   * interval (USE_RECORD_SHARE) behind its last use: it counts as used that much later (but no
   * later than now), so that it is never destroyed as idle before its time.
   */
  private adopt(record: SandboxRecord): void {
    const recorded = record.last_used_at;
    record.last_used_at = Math.max(recorded, Math.min(recorded + this.useRecordEveryMs(record), this.clock.now()));
    this.kept.set(record.sandbox_id, record);
    this.recordedUse.set(record.sandbox_id, recorded);
    if (record.last_used_at !== recorded) this.unrecorded.add(record.sandbox_id);
  }

  private async runScript(
    record: SandboxRecord,
    script: string,
    args: string[],
    stdin: string | Buffer | undefined,
    maxOutputBytes: number,
  ): Promise<DockerExecOutcome> {
    try {
      return await dockerExec(this.container(record), {
        cmd: shArgv(script, 'harombe-file', args),
        user: FILE_USER,
        ...(stdin !== undefined ? { stdin } : {}),
        maxOutputBytes: maxOutputBytes + 1,
      });
    } catch (error) {
      throw await this.containerFailure(record, error);
    }
  }

  private checkScriptOutcome(outcome: DockerExecOutcome, path: string): void {
    const stderr = outcome.stderr.text().trim();
    switch (outcome.exitCode) {
      case 0:
        return;
      case SCRIPT_EXIT.invalidPath:
        throw new HarombeError('InvalidPath', `'${path}' resolves outside /workspace or is not a regular file`);
      case SCRIPT_EXIT.fileNotFound:
        throw new HarombeError('FileNotFound', `'${path}' does not exist`);
      case SCRIPT_EXIT.notADirectory:
        throw new HarombeError('NotADirectory', `'${path}' (or one of its parents) is not a directory`);
      case SCRIPT_EXIT.isADirectory:
        throw new HarombeError('IsADirectory', `'${path}' is a directory`);
      case SCRIPT_EXIT.fileTooLarge:
        throw new HarombeError('FileTooLarge', `'${path}' is larger than ${this.config.max_file_bytes} bytes`);
      case SCRIPT_EXIT.tooManyFiles:
        throw new HarombeError(
          'DiskLimitExceeded',
          `the sandbox holds ${this.config.max_files} files already (max_files): '${path}' would be one more; remove some first`,
        );
      case SCRIPT_EXIT.writeFailed:
        if (/no space/i.test(stderr)) {
          throw new HarombeError('DiskLimitExceeded', `the workspace is full (max_disk_mb) while writing '${path}'`);
        }
        throw new HarombeError('InternalError', `writing '${path}' failed: ${stderr}`);
      default:
        throw new HarombeError(
          'InternalError',
          `file operation on '${path}' failed (exit ${outcome.exitCode}): ${stderr}`,
        );
    }
  }

  private container(record: SandboxRecord): Docker.Container {
    return this.docker.getContainer(record.container_id);
  }

  /** The container's state; a container Docker no longer knows counts as stopped. */
  private async containerState(record: SandboxRecord): Promise<{ running: boolean; oomKilled: boolean }> {
    try {
      const { State } = await this.container(record).inspect();
      return { running: State.Running, oomKilled: State.OOMKilled };
    } catch {
      return { running: false, oomKilled: false };
    }
  }

  private async isRunning(record: SandboxRecord): Promise<boolean> {
    return (await this.containerState(record)).running;
  }

  /**
   * How one execution (of `user`) is ended: the init's signals for it (see INIT_SCRIPT), and a
   * wait for those still on their way, so that none arrives during the sandbox's next execution.
   * An execution that kept its background processes and was ended by a signal loses them too.
   */
  private endings(
    record: SandboxRecord,
    user: string,
  ): { terminate(): void; kill(): void; delivered(): Promise<void> } {
    const signals = endSignals(user);
    const inFlight = new Set<Promise<void>>();
    let signalled = false;
    const send = (signal: string): void => {
      signalled = true;
      const sent = this.signalInit(record, signal).finally(() => inFlight.delete(sent));
      inFlight.add(sent);
    };
    return {
      terminate: () => send(signals.terminate),
      kill: () => send(signals.kill),
      delivered: async () => {
        while (inFlight.size > 0) await Promise.all(inFlight);
        if (!signalled) return;
        if (isKeeper(user)) await this.signalInit(record, signals.kill);
        // Ended by a signal: the next execution starts once the last of its processes is gone.
        await this.settle(record, user);
      },
    };
  }

  /**
   * Waits until no process of `user` is left in the sandbox (see SETTLE_SCRIPT). A sandbox where
   * they linger, or that cannot even say, can no longer be trusted: it is given up as lost.
   */
  private async settle(record: SandboxRecord, user: string): Promise<void> {
    const deadline = AbortSignal.timeout(BACKSTOP_S * 1000);
    // The init's kill may still be at work, and take this script with it: ask again.
    for (let attempt = 0; attempt < 5 && !deadline.aborted; attempt += 1) {
      let exitCode: number | null = null;
      try {
        const outcome = await dockerExec(this.container(record), {
          cmd: shArgv(SETTLE_SCRIPT, 'harombe-settle', [user.split(':')[0] as string]),
          user: FILE_USER,
          maxOutputBytes: 1024,
          signal: deadline,
        });
        exitCode = outcome.exitCode;
      } catch {
        break;
      }
      if (exitCode === 0) return;
      if (exitCode !== 137) break;
    }
    await this.markLost(record, 'the processes of an execution it ended would not go');
  }

  /** Asks the sandbox's init to end an execution's processes (see INIT_SCRIPT); needs no process inside. */
  private async signalInit(record: SandboxRecord, signal: string): Promise<void> {
    try {
      await this.container(record).kill({ signal });
    } catch (error) {
      this.logger.warn({ sandbox_id: record.sandbox_id, signal, err: error }, 'signalling the sandbox init failed');
    }
  }

  /**
   * Why the init killed processes at or after `sinceUs` (µs since the epoch), if it did: for
   * memory (MEMORY_VERDICT_FILE) or for files past max_files (FILES_VERDICT_FILE).
   */
  private async killVerdictSince(record: SandboxRecord, sinceUs: number): Promise<'memory' | 'files' | undefined> {
    const outcome = await dockerExec(this.container(record), {
      cmd: shArgv(KILL_VERDICTS_SCRIPT, 'harombe-verdicts', []),
      user: FILE_USER,
      maxOutputBytes: 1024,
    });
    if (outcome.exitCode !== 0) return undefined;
    // A little slack: the two clocks are one, but the µs were taken at different moments.
    const since = (line: string | undefined): boolean => Number(line?.trim() || 0) >= sinceUs - 1_000_000;
    const [memory, files] = outcome.stdout.text().split('\n');
    if (since(memory)) return 'memory';
    if (since(files)) return 'files';
    return undefined;
  }

  /** Turns a Docker failure during an operation into SandboxLost when the sandbox is gone. */
  private async containerFailure(record: SandboxRecord, error: unknown): Promise<HarombeError> {
    if (error instanceof HarombeError) return error;
    const state = await this.containerState(record);
    if (error instanceof ExecStartError && state.running) return new HarombeError('RuntimeUnavailable', error.message);
    if (!state.running) {
      await this.markLost(record, lostReason(state));
      return new HarombeError(
        state.oomKilled ? 'MemoryLimitExceeded' : 'SandboxLost',
        `sandbox ${record.sandbox_id} is gone: ${lostReason(state)}`,
      );
    }
    return new HarombeError('InternalError', `docker: ${(error as Error).message}`);
  }

  private async markLost(record: SandboxRecord, reason: string): Promise<void> {
    this.lost.set(record.sandbox_id, { owner: record.owner, reason });
    if (this.lost.size > LOST_MEMORY) this.lost.delete(this.lost.keys().next().value as string);
    this.logger.warn({ sandbox_id: record.sandbox_id, reason }, 'sandbox lost');
    await this.forget(record);
  }

  /** Removes a sandbox, its record and its network side, and gives its slot back. */
  private async forget(record: SandboxRecord): Promise<void> {
    try {
      const unregistered = await (this.registryGone ? Promise.resolve() : this.registry.delete(record.sandbox_id)).then(
        () => undefined,
        (error: unknown) => ({ error }),
      );
      // The container goes even when the registry could not be told (its Redis gone): the entry
      // left behind is dropped once the fleet finds this worker lost.
      await this.removeContainer(record.container_id);
      if (record.network_enabled) {
        await this.egress.detach(record.sandbox_id);
        this.refusals.delete(record.sandbox_id);
      }
      if (unregistered) throw unregistered.error;
    } finally {
      this.kept.delete(record.sandbox_id);
      this.recordedUse.delete(record.sandbox_id);
      this.unrecorded.delete(record.sandbox_id);
      this.releaseSlot(record.sandbox_id);
    }
  }

  private async removeContainer(containerId: string): Promise<void> {
    try {
      await this.docker.getContainer(containerId).remove({ force: true, v: true });
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== 404 && status !== 409) throw error;
    }
  }

  private info(record: SandboxRecord): SandboxInfo {
    return {
      sandbox_id: record.sandbox_id,
      language: record.language,
      owner: record.owner,
      limits: record.limits,
      ...(record.idle_timeout !== undefined ? { idle_timeout: record.idle_timeout } : {}),
      expires_at: new Date(this.expiresAt(record)).toISOString(),
      network_enabled: record.network_enabled,
      allowed_domains: record.allowed_domains,
      created_at: record.created_at,
      last_used_at: new Date(record.last_used_at).toISOString(),
    };
  }
}

/** The user the sandbox's next execution runs as; counts the execution. */
function nextExecutionUser(record: SandboxRecord, keepBackground = false): string {
  const n = record.executions ?? 0;
  record.executions = n + 1;
  return executionUser(n, keepBackground);
}

function sameLimits(a: Limits, b: Limits): boolean {
  return (Object.keys(a) as (keyof Limits)[]).every((key) => a[key] === b[key]);
}

function lostReason(state: { oomKilled: boolean }): string {
  return state.oomKilled ? 'it ran out of memory and was destroyed with its workspace' : 'its container stopped';
}

/** This process's interface addresses, as /32 and /128 ranges: on a worker run on the host, the host's. */
function ownAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((entries) => entries ?? [])
    .filter((entry) => !entry.internal && !entry.address.startsWith('fe80'))
    .map((entry) => `${entry.address}/${entry.family === 'IPv4' ? 32 : 128}`);
}

/**
 * Waits until a new sandbox's init is ready: its traps set (a signal before them ends it, and the
 * sandbox with it) and its tick FIFO made (a launcher before it would write a plain file there).
 */
async function waitForInit(container: Docker.Container): Promise<void> {
  const deadline = performance.now() + INIT_READY_TIMEOUT_MS;
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    const outcome = await dockerExec(container, {
      cmd: ['test', '-p', TICK_FIFO],
      user: FILE_USER,
      maxOutputBytes: 1024,
    });
    if (outcome.exitCode === 0) return;
    if (outcome.exitCode === null || performance.now() >= deadline) {
      throw new HarombeError(
        'RuntimeUnavailable',
        `the sandbox's init did not start (${outcome.stderr.text().trim()})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
