import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export type FleetService = 'api' | 'approval' | 'worker' | 'mcp';

export interface LocalFleetOptions {
  /** harombe.yaml every service reads. */
  configPath: string;
  /** Redis of the fleet (wins over the configuration's). */
  redisUrl: string;
  /** Where each service's JSON log goes (`<service>[-n].log`). */
  logDir: string;
  /** Workers started by start(). Default 1. */
  workers?: number;
  /** API port; 0 picks a free one. Default: the configuration's api.port. */
  apiPort?: number;
  /** Ports of the workers' and approval service's /metrics; 0 picks free ones. Default 0. */
  opsPort?: number;
  /**
   * Start the MCP service (Streamable HTTP) on this port, after the API, calling it; 0 picks a
   * free one. Default: no MCP service.
   */
  mcpPort?: number;
  /** Extra environment for every service. HAROMBE_LOG_LEVEL above info is ignored: start-up is read from info lines. */
  env?: NodeJS.ProcessEnv;
  /** Milliseconds to wait for the fleet to be ready. Default 60 000. */
  readyTimeoutMs?: number;
  /**
   * Restart a service that exits when nobody stopped it, and say so (`harombe up`). Default: off,
   * as the tests stop and kill services on purpose.
   */
  supervise?: { report: (message: string) => void };
  /** Options for each service's node, before its entry point (`--cpu-prof` for `npm run bench -- --profile`). Default none. */
  nodeArgs?: string[];
}

/** The first restart of a service that died waits this long; each quick one after, twice as long. */
const RESTART_BACKOFF_MS = 1000;
const MAX_RESTART_BACKOFF_MS = 30_000;
/** A service that ran this long before dying is restarted without delay carried over. */
const STABLE_AFTER_MS = 60_000;

/** One running service process. */
export class ServiceProcess {
  /** Fields of the log lines seen so far that announced something (address, worker id). */
  readonly announced: Record<string, unknown> = {};
  readonly exited: Promise<number | null>;
  private readonly waiters: { message: string; resolve: (line: Record<string, unknown>) => void }[] = [];

  constructor(
    readonly service: FleetService,
    readonly child: ChildProcess,
    log: WriteStream,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        log.write(`${line}\n`);
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        for (const waiter of [...this.waiters]) {
          if (entry.msg === waiter.message) {
            Object.assign(this.announced, entry);
            this.waiters.splice(this.waiters.indexOf(waiter), 1);
            waiter.resolve(entry);
          }
        }
      });
    }
  }

  /** The first log line with this message, or an error if the process exits first. */
  async logged(message: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const seen = new Promise<Record<string, unknown>>((resolve) => this.waiters.push({ message, resolve }));
    const exited = this.exited.then((code) => {
      throw new Error(`${this.service} exited (code ${code}) before "${message}"; see its log`);
    });
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`${this.service} did not log "${message}" within ${timeoutMs} ms`)),
        timeoutMs,
      ).unref(),
    );
    return Promise.race([seen, exited, timeout]);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 30_000): Promise<void> {
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The fleet learns addresses and ids from info lines, so services never log above info. */
function quietestReadable(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const level = env.HAROMBE_LOG_LEVEL;
  return level && ['warn', 'error', 'fatal', 'silent'].includes(level) ? { HAROMBE_LOG_LEVEL: 'info' } : {};
}

/** The packages of the services. */
const PACKAGES: Record<FleetService, string> = {
  api: '@harombe/api',
  approval: '@harombe/approval',
  worker: '@harombe/worker',
  mcp: '@harombe/mcp-service',
};

/** The entry point of a service package, found through the workspace. */
function entryOf(service: FleetService): string {
  return createRequire(import.meta.url).resolve(`${PACKAGES[service]}/main`);
}

/**
 * The all-in-one fleet on one machine: the approval service, workers, the API and optionally the
 * MCP service, each its own process (as in a real deployment), sharing one Redis. `harombe up`
 * and the end-to-end tests both run it.
 */
export class LocalFleet {
  readonly workers: ServiceProcess[] = [];
  api: ServiceProcess | undefined;
  approval: ServiceProcess | undefined;
  mcp: ServiceProcess | undefined;
  private apiAddress: string | undefined;
  private mcpAddress: string | undefined;
  private spawned = 0;
  private stopping = false;
  private readonly backoff = new Map<FleetService, number>();

  constructor(private readonly options: LocalFleetOptions) {
    mkdirSync(options.logDir, { recursive: true });
  }

  get apiUrl(): string {
    if (!this.apiAddress) throw new Error('the fleet is not started');
    return this.apiAddress;
  }

  /** The MCP endpoint (`http://host:port/mcp`), when the fleet runs the MCP service. */
  get mcpUrl(): string {
    if (!this.mcpAddress) throw new Error('the fleet runs no MCP service');
    return this.mcpAddress;
  }

  async start(): Promise<void> {
    await this.startApproval();
    for (let i = 0; i < (this.options.workers ?? 1); i += 1) await this.startWorker();
    await this.startApi();
    if (this.options.mcpPort !== undefined) await this.startMcp();
    await this.waitUntilReady();
  }

  async startApproval(): Promise<ServiceProcess> {
    this.approval = this.spawn('approval', { HAROMBE_OPS_PORT: String(this.options.opsPort ?? 0) });
    await this.approval.logged('approval service holding approvals', this.readyTimeoutMs);
    this.watch(this.approval, () => this.startApproval());
    return this.approval;
  }

  /** Starts a worker; with `workerId` it takes over that worker's identity (and sandboxes). */
  async startWorker(workerId?: string): Promise<ServiceProcess> {
    const worker = this.spawn('worker', {
      HAROMBE_OPS_PORT: String(this.options.opsPort ?? 0),
      ...(workerId ? { HAROMBE_WORKER_ID: workerId } : {}),
    });
    this.workers.push(worker);
    await worker.logged('worker started', this.readyTimeoutMs);
    this.watch(worker, () => {
      this.workers.splice(this.workers.indexOf(worker), 1);
      return this.startWorker();
    });
    return worker;
  }

  async startApi(): Promise<ServiceProcess> {
    const port = this.options.apiPort ?? (this.apiAddress ? Number(new URL(this.apiAddress).port) : undefined);
    this.api = this.spawn('api', port === undefined ? {} : { HAROMBE_API_PORT: String(port) });
    const line = await this.api.logged('api listening', this.readyTimeoutMs);
    this.apiAddress = String(line.address);
    this.watch(this.api, () => this.startApi());
    return this.api;
  }

  /**
   * Starts the MCP service on `port` (0: a free one), calling this fleet's API (started before).
   * Default: the port it had, else `mcpPort`, else 0.
   */
  async startMcp(port?: number): Promise<ServiceProcess> {
    const chosen = port ?? (this.mcpAddress ? Number(new URL(this.mcpAddress).port) : (this.options.mcpPort ?? 0));
    this.mcp = this.spawn('mcp', { HAROMBE_MCP_PORT: String(chosen), HAROMBE_API_URL: this.apiUrl });
    const line = await this.mcp.logged('mcp listening', this.readyTimeoutMs);
    this.mcpAddress = `${String(line.address)}${String(line.path)}`;
    this.watch(this.mcp, () => this.startMcp());
    return this.mcp;
  }

  /** Until /readyz says Redis answers and a worker is alive. */
  async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const response = await fetch(`${this.apiUrl}/readyz`);
        last = await response.text();
        if (response.ok) return;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`the fleet was not ready within ${this.readyTimeoutMs} ms: ${last}`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // MCP and the API first (no new jobs), then workers (they finish running jobs), then approvals.
    await this.mcp?.stop();
    await this.api?.stop();
    await Promise.all(this.workers.map((worker) => worker.stop()));
    await this.approval?.stop();
  }

  /** With `supervise`: when the process exits unless the fleet is stopping, report it and start another. */
  private watch(process: ServiceProcess, restart: () => Promise<ServiceProcess>): void {
    const supervise = this.options.supervise;
    if (!supervise) return;
    const started = Date.now();
    void process.exited.then(async (code) => {
      if (this.stopping) return;
      const how = process.child.signalCode ? `signal ${process.child.signalCode}` : `code ${code}`;
      const previous = Date.now() - started > STABLE_AFTER_MS ? 0 : (this.backoff.get(process.service) ?? 0);
      const delay = Math.min(MAX_RESTART_BACKOFF_MS, previous === 0 ? RESTART_BACKOFF_MS : previous * 2);
      this.backoff.set(process.service, delay);
      supervise.report(`the ${process.service} exited (${how}); restarting it in ${delay / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.stopping) return;
      try {
        await restart();
        supervise.report(`the ${process.service} is back`);
      } catch (error) {
        supervise.report(`the ${process.service} did not come back: ${(error as Error).message}`);
      }
    });
  }

  private get readyTimeoutMs(): number {
    return this.options.readyTimeoutMs ?? 60_000;
  }

  private spawn(service: FleetService, env: NodeJS.ProcessEnv): ServiceProcess {
    this.spawned += 1;
    const log = createWriteStream(join(this.options.logDir, `${service}-${this.spawned}.log`), { flags: 'a' });
    const child = spawn(process.execPath, [...(this.options.nodeArgs ?? []), entryOf(service)], {
      env: {
        ...process.env,
        ...this.options.env,
        ...quietestReadable(this.options.env ?? process.env),
        HAROMBE_CONFIG: this.options.configPath,
        HAROMBE_REDIS_URL: this.options.redisUrl,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.once('exit', () => log.end());
    return new ServiceProcess(service, child, log);
  }
}
