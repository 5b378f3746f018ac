import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadServiceConfig } from '../src/index.js';

function configFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'harombe-config-')), 'harombe.yaml');
  writeFileSync(path, text);
  return path;
}

describe('service configuration', () => {
  it('reads harombe.yaml and lets the environment override what differs per process', () => {
    const path = configFile('redis: { url: "redis://file:6379" }\napi: { port: 9000 }\n');
    const config = loadServiceConfig({
      HAROMBE_CONFIG: path,
      HAROMBE_REDIS_URL: 'redis://env:6380',
      HAROMBE_API_PORT: '9100',
    });
    expect(config.redis.url).toBe('redis://env:6380');
    expect(config.api.port).toBe(9100);
    expect(loadServiceConfig({ HAROMBE_CONFIG: path }).api.port).toBe(9000);
  });

  it('names the offending key, wherever it came from', () => {
    const path = configFile('worker: { concurrency: 0 }\n');
    expect(() => loadServiceConfig({ HAROMBE_CONFIG: path })).toThrow(/worker\.concurrency/);
    expect(() => loadServiceConfig({ HAROMBE_CONFIG: configFile(''), HAROMBE_API_PORT: 'eighty' })).toThrow(
      /api\.port/,
    );
  });
});
