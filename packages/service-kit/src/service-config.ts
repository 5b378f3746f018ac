import { existsSync } from 'node:fs';
import { loadConfig, parseConfig, type HarombeConfig } from '@harombe/core';

/**
 * A service's configuration: `harombe.yaml` (the path in HAROMBE_CONFIG, else ./harombe.yaml
 * when present, else all defaults), then the environment for what differs per process or is
 * secret: HAROMBE_REDIS_URL, HAROMBE_API_HOST, HAROMBE_API_PORT.
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
  };
  return parseConfig(overrides, path ? `${path} with the environment` : 'the environment');
}
