import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { loadConfig } from '@harombe/core';
import { freeLoopbackPort } from './loopback-port.js';
import { ServiceProcess, type FleetService } from './service-process.js';

export interface LocalFleetOptions {
  /** harombe.yaml every service reads. */
  configPath: string;
  /** Redis of the fleet (wins over the configuration's). */
  redisUrl: string;
  /** Where each service's JSON log goes (`<service>-<n>.log`). */
  logDir: string;
  /** Workers started by start(). Default 1. */
  workers?: number;
  /** API port; 0 picks a free one. Default: the configuration's api.port (or HAROMBE_API_PORT). */
  apiPort?: number;
  /** Port of the workers' and approval service's /healthz, /readyz, /metrics; 0 picks a free one for each. Default 0. */
  opsPort?: number;
  /**
   * Start the MCP service (Streamable HTTP) on this port, after the API, calling it; 0 picks a
   * free one. Default: no MCP service.
   */
  mcpPort?: number;
  /** Extra environment for every service. */
  env?: NodeJS.ProcessEnv;
  /** Milliseconds each service has to answer 200 on /readyz. Default 60 000. */
  readyTimeoutMs?: number;
  /** Milliseconds between looks at a starting service's /readyz. Default 100. */
  readyPollMs?: number;
  /**
   * Restart a service that exits when nobody stopped it, and say so (`harombe up`). Default: off,
   * as the tests stop and kill services on purpose.
   */
  supervise?: {
    report: (message: string) => void;
    /**
     * Milliseconds the first restart of a service that died waits; each quick one after waits
     * twice as long as the one before, up to 30 s. Default 1000.
     */
    restartDelayMs?: number;
  };
  /** The program each service runs. Default: the service package's dist/main.js, found through the workspace. */
  entries?: Partial<Record<FleetService, string>>;
  /** Options for each service's node, before its entry point (`--cpu-prof` for `npm run bench -- --profile`). Default none. */
  nodeArgs?: string[];
}

/** The first restart of a service that died waits this long; each quick one after, twice as long. */
const RESTART_DELAY_MS = 1000;
const MAX_RESTART_BACKOFF_MS = 30_000;
/** A service that ran this long before dying is restarted without delay carried over. */
const STABLE_AFTER_MS = 60_000;
/** Addresses a server listens on for every interface: it is asked on loopback. */
const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]']);

/** The packages of the services. */
const PACKAGES: Record<FleetService, string> = {
  api: '@harombe/api',
  approval: '@harombe/approval',
  worker: '@harombe/worker',
  mcp: '@harombe/mcp-service',
};

/** The program of a service package (its `main` export), found through the workspace. */
function entryOf(service: FleetService): string {
  return createRequire(import.meta.url).resolve(`${PACKAGES[service]}/main`);
}

/** A host as it goes in a URL (IPv6 in brackets); a wildcard address becomes loopback. */
function urlHost(host: string): string {
  if (WILDCARD_HOSTS.has(host)) return '127.0.0.1';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * The all-in-one fleet on one machine: the approval service, workers, the API and optionally the
 * MCP service, each its own process started by path (as in a real deployment), sharing one Redis. A service is ready when
 * its /readyz answers 200: the API's says Redis answers and a worker is alive. `harombe up` and
 * the end-to-end tests both run it.
 */
export class LocalFleet {
  readonly workers: ServiceProcess[] = [];
  api: ServiceProcess | undefined;
  approval: ServiceProcess | undefined;
  mcp: ServiceProcess | undefined;
  private apiPort: number | undefined;
  private mcpPort: number | undefined;
  private spawned = 0;
  private stopping = false;
  private readonly backoff = new Map<FleetService, number>();

  constructor(private readonly options: LocalFleetOptions) {
    mkdirSync(options.logDir, { recursive: true });
  }

  get apiUrl(): string {
    if (!this.api) throw new Error('the fleet is not started');
    return this.api.url;
  }

  /** The MCP endpoint (`http://host:port/mcp`), when the fleet runs the MCP service. */
  get mcpUrl(): string {
    if (!this.mcp) throw new Error('the fleet runs no MCP service');
    return `${this.mcp.url}${loadConfig(this.options.configPath).mcp.path}`;
  }

  async start(): Promise<void> {
    await this.startApproval();
    for (let i = 0; i < (this.options.workers ?? 1); i += 1) await this.startWorker();
    await this.startApi();
    if (this.options.mcpPort !== undefined) await this.startMcp();
  }

  async startApproval(): Promise<ServiceProcess> {
    this.approval = await this.spawn('approval', await this.opsPort(), (port) => ({ HAROMBE_OPS_PORT: String(port) }));
    this.watch(this.approval, () => this.startApproval());
    return this.approval;
  }

  /** Starts a worker; with `workerId` it takes over that worker's identity (and sandboxes). */
  async startWorker(workerId?: string): Promise<ServiceProcess> {
    const worker = await this.spawn('worker', await this.opsPort(), (port) => ({
      HAROMBE_OPS_PORT: String(port),
      ...(workerId ? { HAROMBE_WORKER_ID: workerId } : {}),
    }));
    this.workers.push(worker);
    this.watch(worker, () => {
      this.workers.splice(this.workers.indexOf(worker), 1);
      return this.startWorker();
    });
    return worker;
  }

  /** Starts the API, on the port it had before when it is restarted (its URL stays the same). */
  async startApi(): Promise<ServiceProcess> {
    this.apiPort ??= await this.configuredApiPort();
    this.api = await this.spawn('api', this.apiPort, (port) => ({ HAROMBE_API_PORT: String(port) }));
    this.watch(this.api, () => this.startApi());
    return this.api;
  }

  /**
   * Starts the MCP service on `port` (0: a free one), calling this fleet's API (started before).
   * Default: the port it had, else `mcpPort`, else 0.
   */
  async startMcp(port?: number): Promise<ServiceProcess> {
    const chosen = port ?? this.mcpPort ?? this.options.mcpPort ?? 0;
    this.mcpPort = chosen === 0 ? await freeLoopbackPort() : chosen;
    this.mcp = await this.spawn('mcp', this.mcpPort, (p) => ({
      HAROMBE_MCP_PORT: String(p),
      HAROMBE_API_URL: this.apiUrl,
    }));
    this.watch(this.mcp, () => this.startMcp());
    return this.mcp;
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
    void process.exited
      .then(async (code) => {
        if (this.stopping) return;
        const how = process.child.signalCode ? `signal ${process.child.signalCode}` : `code ${code}`;
        const previous = Date.now() - started > STABLE_AFTER_MS ? 0 : (this.backoff.get(process.service) ?? 0);
        const first = supervise.restartDelayMs ?? RESTART_DELAY_MS;
        const delay = Math.min(MAX_RESTART_BACKOFF_MS, previous === 0 ? first : previous * 2);
        this.backoff.set(process.service, delay);
        supervise.report(`the ${process.service} exited (${how}); restarting it in ${delay / 1000} s`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        if (this.stopping) return;
        await restart();
        supervise.report(`the ${process.service} is back`);
      })
      .catch((error: unknown) => {
        supervise.report(`the ${process.service} did not come back: ${(error as Error).message}`);
      });
  }

  private get env(): NodeJS.ProcessEnv {
    return { ...process.env, ...this.options.env };
  }

  /** The ops port of the next worker or approval service: the one asked for, else a free one. */
  private async opsPort(): Promise<number> {
    return this.options.opsPort ? this.options.opsPort : freeLoopbackPort();
  }

  /** `apiPort`, else HAROMBE_API_PORT, else the configuration's api.port; 0 means a free one. */
  private async configuredApiPort(): Promise<number> {
    const fromEnv = this.env.HAROMBE_API_PORT;
    const port = this.options.apiPort ?? (fromEnv ? Number(fromEnv) : loadConfig(this.options.configPath).api.port);
    return port === 0 ? freeLoopbackPort() : port;
  }

  /** Where a service's /readyz answers: the API on its configured host, the others on HAROMBE_OPS_HOST. */
  private hostOf(service: FleetService): string {
    const config = () => loadConfig(this.options.configPath);
    const host =
      service === 'api'
        ? (this.env.HAROMBE_API_HOST ?? config().api.host)
        : service === 'mcp'
          ? (this.env.HAROMBE_MCP_HOST ?? config().mcp.host)
          : (this.env.HAROMBE_OPS_HOST ?? '127.0.0.1');
    return urlHost(host);
  }

  /** Starts a service with its log in logDir and waits until its /readyz answers 200. */
  private async spawn(
    service: FleetService,
    port: number,
    portEnv: (port: number) => NodeJS.ProcessEnv,
  ): Promise<ServiceProcess> {
    this.spawned += 1;
    const logPath = join(this.options.logDir, `${service}-${this.spawned}.log`);
    const log = openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        [...(this.options.nodeArgs ?? []), this.options.entries?.[service] ?? entryOf(service)],
        {
          env: {
            ...this.env,
            HAROMBE_CONFIG: this.options.configPath,
            HAROMBE_REDIS_URL: this.options.redisUrl,
            ...portEnv(port),
          },
          stdio: ['ignore', log, log],
        },
      );
    } finally {
      // The child has its own copy of the descriptor.
      closeSync(log);
    }
    const started = new ServiceProcess(service, child, `http://${this.hostOf(service)}:${port}`, logPath);
    try {
      await started.waitUntilReady(this.options.readyTimeoutMs ?? 60_000, this.options.readyPollMs);
    } catch (error) {
      // Never ready: it must not linger (a worker holding sandboxes, a port taken).
      await started.stop(5_000);
      throw error;
    }
    return started;
  }
}
