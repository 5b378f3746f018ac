import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from '@harombe/test-fixtures';
import { parse, stringify } from 'yaml';

/** The repository's deploy/prometheus (this file is tests/e2e/src/prometheus-server.ts). */
export const DEPLOY_PROMETHEUS = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'deploy',
  'prometheus',
);

export interface PrometheusServerOptions {
  /** Scrape targets (host:port on loopback) per job name of deploy/prometheus/prometheus.yml; every job needs one. */
  targets: Record<string, string[]>;
  /** Where the configuration, the data and prometheus.log go. */
  dir: string;
  /** Seconds between scrapes and between rule evaluations. Default 1. */
  intervalSeconds?: number;
}

/** One sample of an instant query: its labels and value. */
export interface QuerySample {
  metric: Record<string, string>;
  value: [number, string];
}

interface ScrapeConfig {
  job_name: string;
  [key: string]: unknown;
}

/** Fails loudly (the test never skips) when Debian's prometheus package is not installed. */
export function requirePrometheus(): void {
  const found = spawnSync('prometheus', ['--version'], { stdio: 'ignore' });
  if (found.error || found.status !== 0) {
    throw new Error(
      'prometheus is missing (Debian package prometheus): run `sudo bash deploy/host/setup.sh`, which installs it',
    );
  }
}

/**
 * A real Prometheus on loopback, configured like deploy/prometheus/prometheus.yml (same job
 * names, same alerts.yml) but with the given static targets and short intervals.
 */
export class PrometheusServer {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly exited: Promise<number | null>,
  ) {}

  static async start(options: PrometheusServerOptions): Promise<PrometheusServer> {
    requirePrometheus();
    mkdirSync(options.dir, { recursive: true });
    const configFile = join(options.dir, 'prometheus.yml');
    writeFileSync(configFile, stringify(testConfig(options)));
    const port = await freeLoopbackPort();
    const log = createWriteStream(join(options.dir, 'prometheus.log'));
    const child = spawn(
      'prometheus',
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(options.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child, exited);
    await server.waitUntilReady(options.dir);
    return server;
  }

  /** Samples of an instant query; throws with Prometheus's error for a bad query. */
  async query(expr: string): Promise<QuerySample[]> {
    const response = await fetch(`${this.url}/api/v1/query?${new URLSearchParams({ query: expr }).toString()}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: QuerySample[] | [number, string] };
    };
    if (body.status !== 'success' || !body.data)
      throw new Error(`query failed: ${expr}: ${body.error ?? response.status}`);
    // A scalar expression answers one value, not a vector.
    return body.data.resultType === 'scalar'
      ? [{ metric: {}, value: body.data.result as [number, string] }]
      : (body.data.result as QuerySample[]);
  }

  /** The single value of a query that answers one sample, or undefined when it answers none. */
  async value(expr: string): Promise<number | undefined> {
    const samples = await this.query(expr);
    if (samples.length > 1) throw new Error(`${expr} answered ${samples.length} samples, expected one`);
    return samples[0] ? Number(samples[0].value[1]) : undefined;
  }

  async get<T>(path: string): Promise<T> {
    const response = await fetch(`${this.url}${path}`);
    return ((await response.json()) as { data: T }).data;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }

  private async waitUntilReady(dir: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(
          `prometheus exited (code ${this.child.exitCode ?? this.child.signalCode}); see ${join(dir, 'prometheus.log')}`,
        );
      try {
        if ((await fetch(`${this.url}/-/ready`)).ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await this.stop();
    throw new Error(`prometheus was not ready within ${timeoutMs} ms; see ${join(dir, 'prometheus.log')}`);
  }
}

/** deploy/prometheus/prometheus.yml with each job's discovery replaced by static targets. */
function testConfig(options: PrometheusServerOptions): Record<string, unknown> {
  const deployed = parse(readFileSync(join(DEPLOY_PROMETHEUS, 'prometheus.yml'), 'utf8')) as {
    scrape_configs: ScrapeConfig[];
    rule_files: string[];
  };
  const interval = `${options.intervalSeconds ?? 1}s`;
  const jobs = deployed.scrape_configs.map((job) => job.job_name);
  const unknown = Object.keys(options.targets).filter((name) => !jobs.includes(name));
  if (unknown.length > 0) throw new Error(`deploy/prometheus/prometheus.yml has no job ${unknown.join(', ')}`);
  return {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: deployed.rule_files.map((file) => join(DEPLOY_PROMETHEUS, file)),
    scrape_configs: deployed.scrape_configs.map(({ job_name }) => {
      const targets = options.targets[job_name];
      if (!targets?.length) throw new Error(`no target for the job ${job_name} of deploy/prometheus/prometheus.yml`);
      return { job_name, static_configs: [{ targets }] };
    }),
  };
}
