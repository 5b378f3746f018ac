import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalFleet } from '@harombe/cli';
import { HarombeClient } from '@harombe/client';
import { parseConfig } from '@harombe/core';
import { fleetId } from '@harombe/service-kit';
import Docker from 'dockerode';
import { stringify } from 'yaml';
import { startRedis, type RedisContainer } from '@harombe/test-fixtures';

/** The test fleet's API keys: two tenants, every scope combination the tests need. */
export const TEST_KEYS = {
  /** acme, submits; owns Slack user U_ALICE. */
  alice: { tenant: 'acme', scopes: ['submit'], slack_user_id: 'U_ALICE' },
  /** acme, approves only. */
  bob: { tenant: 'acme', scopes: ['approve'], slack_user_id: 'U_BOB' },
  /** acme, submits and approves (never her own jobs). */
  carol: { tenant: 'acme', scopes: ['submit', 'approve'] },
  /** acme, admin only: may neither submit nor approve. */
  audrey: { tenant: 'acme', scopes: ['admin'] },
  /** globex: another tenant with every scope. */
  eve: { tenant: 'globex', scopes: ['submit', 'approve', 'admin'] },
} as const;
export type TestKeyName = keyof typeof TEST_KEYS;

export const keyOf = (name: TestKeyName): string => `test-key-${name}-0123456789abcdef`;

export interface TestFleetOptions {
  /** Worker processes. Default 1. */
  workers?: number;
  /** Merged over the test configuration (objects merge, everything else replaces). */
  config?: Record<string, unknown>;
  /** Restart services that die, as `harombe up` does; what it says goes to `reports`. Default: off. */
  supervise?: boolean;
  /** Run the MCP service too (on a free port). Default: off. */
  mcp?: boolean;
}

/** Short timers so that lost workers and expiries show up in seconds, not minutes. */
const BASE_CONFIG = {
  worker: { concurrency: 2, heartbeat_seconds: 0.5, lost_after_seconds: 3, shutdown_deadline_seconds: 10 },
  security: {
    sandbox: { warm_pool: { python: 1 } },
    policy: {
      rules: [
        {
          tools: ['code_execute'],
          risk: 'HIGH',
          timeout: 2,
          conditions: [{ param: 'code', matches: 'EXPIRES_IN_2S' }],
          description: 'Test rule: code marked EXPIRES_IN_2S gets a 2-second approval window',
        },
      ],
    },
  },
};

/**
 * A whole fleet for end-to-end tests: Redis in a container (so a test can restart it), and the
 * approval service, workers and API as separate processes, exactly as `harombe up` runs them.
 */
export class TestFleet {
  private constructor(
    readonly redis: RedisContainer,
    readonly fleet: LocalFleet,
    readonly dir: string,
    /** What the fleet said about services it restarted (with `supervise`). */
    readonly reports: string[],
    /** The id its sandbox containers carry (label org.harombe.fleet). */
    readonly fleetId: string,
  ) {}

  static async start(options: TestFleetOptions = {}): Promise<TestFleet> {
    const dir = mkdtempSync(join(tmpdir(), 'harombe-fleet-'));
    const redis = await startRedis();
    const keys = Object.entries(TEST_KEYS).map(([name, key]) => ({
      name,
      ...key,
      key_sha256: createHash('sha256')
        .update(keyOf(name as TestKeyName))
        .digest('hex'),
    }));
    const config: Record<string, unknown> = { ...BASE_CONFIG, api: { keys, port: 0 } };
    const merged = deepMerge(config, options.config ?? {});
    const configPath = join(dir, 'harombe.yaml');
    writeFileSync(configPath, stringify(merged));
    const reports: string[] = [];
    const fleet = new LocalFleet({
      configPath,
      redisUrl: redis.url,
      logDir: join(dir, 'logs'),
      workers: options.workers ?? 1,
      apiPort: 0,
      opsPort: 0,
      ...(options.mcp ? { mcpPort: 0 } : {}),
      env: { HAROMBE_LOG_LEVEL: 'debug' },
      ...(options.supervise ? { supervise: { report: (message: string) => reports.push(message) } } : {}),
    });
    try {
      await fleet.start();
    } catch (error) {
      await fleet.stop().catch(() => undefined);
      await redis.stop();
      throw new Error(`${(error as Error).message} (logs in ${join(dir, 'logs')})`);
    }
    return new TestFleet(redis, fleet, dir, reports, fleetId(parseConfig({ ...merged, redis: { url: redis.url } })));
  }

  client(name: TestKeyName): HarombeClient {
    return new HarombeClient({ baseUrl: this.fleet.apiUrl, apiKey: keyOf(name), pollSeconds: 5 });
  }

  get apiUrl(): string {
    return this.fleet.apiUrl;
  }

  /** The MCP endpoint (with `mcp`). */
  get mcpUrl(): string {
    return this.fleet.mcpUrl;
  }

  /** Sandbox containers of this fleet alive now. */
  async containers(): Promise<Docker.ContainerInfo[]> {
    return new Docker().listContainers({ all: true, filters: { label: [`org.harombe.fleet=${this.fleetId}`] } });
  }

  /**
   * Stops every service, then removes what a worker the test killed left behind (the fleet reaps
   * it on its own once the worker is found lost; tests that kill one check that): the next test
   * starts on a clean Docker host.
   */
  async stop(): Promise<void> {
    await this.fleet.stop();
    await this.redis.stop();
    const docker = new Docker();
    for (const container of await this.containers()) await docker.getContainer(container.Id).remove({ force: true });
  }
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    const isObject = (v: unknown): v is Record<string, unknown> =>
      typeof v === 'object' && v !== null && !Array.isArray(v);
    out[key] = isObject(current) && isObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}
