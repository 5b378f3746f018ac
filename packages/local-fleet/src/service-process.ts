import type { ChildProcess } from 'node:child_process';

export type FleetService = 'api' | 'approval' | 'worker' | 'mcp';

/** Milliseconds between looks at a starting service's /readyz, unless told otherwise. */
const POLL_MS = 100;
/** Milliseconds one look may take. */
const REQUEST_TIMEOUT_MS = 2_000;

/**
 * One running service process of a local fleet. It is ready once its /readyz answers 200 (its
 * Redis answers; for the API, a worker is alive too); what it logs goes to its log file only.
 */
export class ServiceProcess {
  readonly exited: Promise<number | null>;
  /** The body of the /readyz answer that found it ready (a worker's carries its worker_id). */
  readiness: Record<string, unknown> | undefined;

  constructor(
    readonly service: FleetService,
    readonly child: ChildProcess,
    /** http://host:port where its /healthz, /readyz and /metrics answer (the API's own address for the API). */
    readonly url: string,
    /** Where its stdout and stderr go. */
    readonly logPath: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** The worker's id, as its /readyz said. */
  get workerId(): string | undefined {
    const id = this.readiness?.worker_id;
    return typeof id === 'string' ? id : undefined;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Until /readyz answers 200. Fails when the process exits first (naming its exit and log) or
   * when `timeoutMs` pass, with the last answer or error seen. Looks every `pollMs`.
   */
  async waitUntilReady(timeoutMs: number, pollMs = POLL_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (this.running) {
      try {
        const response = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        const body = await response.text();
        if (response.ok) {
          this.readiness = JSON.parse(body) as Record<string, unknown>;
          return;
        }
        last = `${response.status} ${body}`;
      } catch (error) {
        last = causeOf(error);
      }
      if (Date.now() >= deadline)
        throw new Error(`the ${this.service} was not ready within ${timeoutMs} ms (${last}); see ${this.logPath}`);
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    const how = this.child.signalCode ? `signal ${this.child.signalCode}` : `code ${this.child.exitCode}`;
    throw new Error(`the ${this.service} exited (${how}) before it was ready; see ${this.logPath}`);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 30_000): Promise<void> {
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** fetch's own message ("fetch failed") says nothing: its cause does (ECONNREFUSED, …). */
function causeOf(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error);
}
