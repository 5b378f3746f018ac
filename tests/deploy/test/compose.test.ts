import { randomBytes } from 'node:crypto';
import { freeLoopbackPort } from '@harombe/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { composeCommand, REPO, run } from '../src/tools.js';

/** What the compose file requires from the environment, as an operator would set it. */
const REQUIRED = {
  HAROMBE_REDIS_PASSWORD: 'test-redis-password',
  GRAFANA_ADMIN_PASSWORD: 'test-grafana-password',
  DOCKER_GID: '998',
};

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: (string | { source: string; target: string })[];
  ports?: unknown[];
  container_name?: string;
  group_add?: string[];
  stop_grace_period?: string;
  build?: { target?: string };
}

/** `source:target` of a volume, from the short syntax (docker-compose 1) or the long one (docker compose 2). */
const mounts = (service: Service | undefined): string[] =>
  (service?.volumes ?? []).map((volume) =>
    typeof volume === 'string' ? volume.replace(/:(rw|ro)$/, '') : `${volume.source}:${volume.target}`,
  );

function compose(args: string[], env: NodeJS.ProcessEnv = {}) {
  const [command, ...prefix] = composeCommand();
  return run(command, [...prefix, ...args], env);
}

describe('docker-compose.yml', () => {
  it('is valid and has Redis, the four services, Prometheus and Grafana', () => {
    const result = compose(['config'], REQUIRED);
    expect(result.status, result.stderr).toBe(0);
    const { services } = parse(result.stdout) as { services: Record<string, Service> };
    expect(Object.keys(services).sort()).toEqual([
      'api',
      'approval',
      'grafana',
      'mcp',
      'prometheus',
      'redis',
      'worker',
    ]);

    const redisCommand = (services.redis?.command ?? []).join(' ');
    for (const flag of ['--appendonly yes', '--maxmemory-policy noeviction', '--requirepass'])
      expect(redisCommand).toContain(flag);
    expect(mounts(services.redis)).toContain('redis-data:/data');
    for (const name of ['api', 'approval', 'worker']) {
      expect(services[name]?.environment?.HAROMBE_REDIS_URL, name).toBe(
        `redis://:${REQUIRED.HAROMBE_REDIS_PASSWORD}@redis:6379`,
      );
      expect(services[name]?.build?.target, name).toBe(name);
    }
    // The MCP service calls the API by its service name, and needs no Redis.
    expect(services.mcp?.build?.target).toBe('mcp');
    expect(services.mcp?.environment?.HAROMBE_API_URL).toBe('http://api:8080');
    expect(services.mcp?.environment?.HAROMBE_REDIS_URL).toBeUndefined();
    expect(JSON.stringify(services.mcp?.ports)).toContain('8090');
    // Scalable: no fixed name or host port; the host's Docker engine through its socket.
    const worker = services.worker as Service;
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports).toBeUndefined();
    expect(mounts(worker)).toContain('/var/run/docker.sock:/var/run/docker.sock');
    expect(worker.group_add).toEqual([REQUIRED.DOCKER_GID]);
    expect(mounts(services.prometheus)).toContain(`${REPO}/deploy/prometheus:/etc/prometheus`);
    expect(mounts(services.grafana)).toContain(`${REPO}/deploy/grafana/provisioning:/etc/grafana/provisioning`);
  });

  it('runs a worker alone on another gVisor host with deploy/compose/worker-host.yml', () => {
    const result = compose(['-f', 'docker-compose.yml', '-f', 'deploy/compose/worker-host.yml', 'config'], {
      ...REQUIRED,
      HAROMBE_REDIS_HOST: 'redis.fleet.internal',
    });
    expect(result.status, result.stderr).toBe(0);
    const worker = (parse(result.stdout) as { services: Record<string, Service> }).services.worker as Service;
    expect(worker.environment?.HAROMBE_REDIS_URL).toBe(
      `redis://:${REQUIRED.HAROMBE_REDIS_PASSWORD}@redis.fleet.internal:6379`,
    );
    expect(JSON.stringify(worker.ports)).toContain('9101');
  });

  it('refuses to start Redis without a password', () => {
    const result = compose(['config'], { ...REQUIRED, HAROMBE_REDIS_PASSWORD: '' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('set HAROMBE_REDIS_PASSWORD');
  });

  describe('its Redis, started from the locally built image', () => {
    const project = `harombe-compose-test-${randomBytes(4).toString('hex')}`;
    let env: NodeJS.ProcessEnv = {};
    const cli = (...args: string[]) => {
      const result = compose(['-p', project, 'exec', '-T', 'redis', 'redis-cli', '--no-auth-warning', ...args], env);
      return (result.stdout + result.stderr).trim();
    };
    const authed = (...args: string[]) => cli('-a', REQUIRED.HAROMBE_REDIS_PASSWORD, ...args);

    afterAll(() => {
      compose(['-p', project, 'down', '-v', '--remove-orphans'], env);
    });

    it('requires the password, appends every write to disk, never evicts, and keeps data across a restart', async () => {
      env = { ...REQUIRED, HAROMBE_REDIS_PUBLISH: `127.0.0.1:${await freeLoopbackPort()}` };
      const up = compose(['-p', project, 'up', '-d', 'redis'], env);
      expect(up.status, up.stderr).toBe(0);
      await until(() => authed('ping') === 'PONG');
      expect(cli('ping')).toContain('NOAUTH');
      expect(authed('config', 'get', 'appendonly')).toBe('appendonly\nyes');
      expect(authed('config', 'get', 'maxmemory-policy')).toBe('maxmemory-policy\nnoeviction');
      expect(authed('set', 'harombe:compose-test', 'kept')).toBe('OK');
      const restart = compose(['-p', project, 'restart', 'redis'], env);
      expect(restart.status, restart.stderr).toBe(0);
      await until(() => authed('ping') === 'PONG');
      expect(authed('get', 'harombe:compose-test')).toBe('kept');
    });
  });
});

async function until(probe: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('Redis did not answer in time');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
