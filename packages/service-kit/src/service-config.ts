import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { loadConfig, parseConfig, type HarombeConfig } from '@harombe/core';

/**
 * A service's configuration: `harombe.yaml` (the path in HAROMBE_CONFIG, else ./harombe.yaml
 * when present, else all defaults), then the environment for what differs per process or is
 * secret: HAROMBE_REDIS_URL, HAROMBE_API_HOST, HAROMBE_API_PORT, and for the MCP service
 * HAROMBE_MCP_HOST, HAROMBE_MCP_PORT and HAROMBE_API_URL (the API it calls).
 */
export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): HarombeConfig {
  const path = env.HAROMBE_CONFIG ?? (existsSync('harombe.yaml') ? 'harombe.yaml' : undefined);
  const config = path ? loadConfig(path) : parseConfig({});
  const overrides: Record<string, unknown> = {
    ...config,
    redis: { ...config.redis, ...(env.HAROMBE_REDIS_URL ? { url: env.HAROMBE_REDIS_URL } : {}) },
    api: {
      ...config.api,
      ...(env.HAROMBE_API_HOST ? { host: env.HAROMBE_API_HOST } : {}),
      ...(env.HAROMBE_API_PORT ? { port: Number(env.HAROMBE_API_PORT) } : {}),
    },
    mcp: {
      ...config.mcp,
      ...(env.HAROMBE_MCP_HOST ? { host: env.HAROMBE_MCP_HOST } : {}),
      ...(env.HAROMBE_MCP_PORT ? { port: Number(env.HAROMBE_MCP_PORT) } : {}),
      ...(env.HAROMBE_API_URL ? { api_url: env.HAROMBE_API_URL } : {}),
    },
  };
  return parseConfig(overrides, path ? `${path} with the environment` : 'the environment');
}

/**
 * The fleet a process belongs to, as a short stable id: its Redis (host, port, database) and key
 * prefix, which every service of one fleet shares and no other fleet does. Sandbox containers
 * carry it, so that fleets sharing a Docker host never reap each other's.
 */
export function fleetId(config: HarombeConfig): string {
  const url = new URL(config.redis.url);
  const where = `${url.hostname}:${url.port || '6379'}${url.pathname === '/' ? '/0' : url.pathname}`;
  return createHash('sha256').update(`${where}|${config.redis.prefix}`).digest('hex').slice(0, 12);
}
