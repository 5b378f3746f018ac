import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalFleet, type LocalFleetOptions } from '../src/index.js';
import { tempDir } from './harombe-cli.js';

// LocalFleet with stand-in services: small programs that serve /readyz on the port they are
// given and log nothing, so readiness can only come from /readyz. The real services are
// started by the end-to-end tests.

interface StandIn {
  /** /readyz answers 503 this many times before it answers 200. Default 2. */
  notReadyFor?: number;
  /** Exits at once with this code instead of serving. */
  exitCode?: number;
}

function standIn(dir: string, name: string, { notReadyFor = 2, exitCode }: StandIn = {}): string {
  const path = join(dir, `${name}.mjs`);
  const program =
    exitCode !== undefined
      ? `process.exit(${exitCode});`
      : `import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
appendFileSync(${JSON.stringify(`${path}.pids`)}, process.pid + '\\n');
const port = Number(process.env.HAROMBE_API_PORT || process.env.HAROMBE_OPS_PORT);
let asked = 0;
createServer((request, response) => {
  if (request.url !== '/readyz') return response.writeHead(404).end();
  asked += 1;
  const ready = asked > ${notReadyFor};
  response
    .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
    .end(JSON.stringify({ status: ready ? 'ready' : 'not ready', checks: { redis: ready }, worker_id: 'stand-in-' + process.pid }));
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;
  writeFileSync(path, program);
  return path;
}

let fleet: LocalFleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

function newFleet(dir: string, options: Partial<LocalFleetOptions> = {}): LocalFleet {
  const configPath = join(dir, 'harombe.yaml');
  writeFileSync(configPath, 'api: { host: 127.0.0.1 }\n');
  const serving = standIn(dir, 'serving');
  fleet = new LocalFleet({
    configPath,
    redisUrl: 'redis://127.0.0.1:1',
    logDir: join(dir, 'logs'),
    apiPort: 0,
    readyTimeoutMs: 10_000,
    // The stand-ins start in a moment: look often, so that waiting is not what the tests measure.
    readyPollMs: 10,
    ...options,
    entries: { api: serving, approval: serving, worker: serving, ...options.entries },
  });
  return fleet;
}

describe('LocalFleet', () => {
  it("starts each service on a port of its own and waits for its /readyz, learning the worker's id there", async () => {
    const f = newFleet(tempDir(), { workers: 2 });
    await f.start();
    const processes = [f.approval!, ...f.workers, f.api!];
    expect(new Set(processes.map((p) => p.url)).size).toBe(4);
    expect(f.apiUrl).toBe(f.api!.url);
    expect(f.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(f.workers.map((w) => w.workerId)).toEqual(f.workers.map((w) => `stand-in-${w.child.pid}`));
    for (const p of processes) expect((await fetch(`${p.url}/readyz`)).status).toBe(200);
    await f.stop();
    expect(processes.every((p) => !p.running)).toBe(true);
  });

  it('fails, naming the log, when a service exits before it is ready', async () => {
    const dir = tempDir();
    const f = newFleet(dir, { entries: { approval: standIn(dir, 'exiting', { exitCode: 3 }) } });
    await expect(f.start()).rejects.toThrow(
      /^the approval exited \(code 3\) before it was ready; see .*approval-1\.log$/,
    );
  });

  it('fails with the last answer when a service is never ready, and stops it', async () => {
    const dir = tempDir();
    const f = newFleet(dir, {
      // Long enough for the stand-in to start and answer (a 503) before the deadline.
      readyTimeoutMs: 3_000,
      entries: { worker: standIn(dir, 'never', { notReadyFor: 1e9 }) },
    });
    // The worker alone: its timeout is all this test waits for.
    await expect(f.startWorker()).rejects.toThrow(
      /^the worker was not ready within 3000 ms \(503 \{"status":"not ready".*\); see .*worker-1\.log$/,
    );
    expect(f.workers).toEqual([]);
    // The worker that never became ready is not left running.
    const [pid] = readFileSync(join(dir, 'never.mjs.pids'), 'utf8').trim().split('\n').map(Number);
    expect(() => process.kill(pid!, 0)).toThrow(/ESRCH/);
  });

  it('restarts a service that dies when supervising, and says so', async () => {
    const reports: string[] = [];
    const f = newFleet(tempDir(), {
      supervise: { report: (message) => reports.push(message), restartDelayMs: 50 },
    });
    await f.start();
    const first = f.workers[0]!;
    first.kill('SIGKILL');
    await expect.poll(() => reports, { timeout: 15_000 }).toContain('the worker is back');
    expect(reports[0]).toBe('the worker exited (signal SIGKILL); restarting it in 0.05 s');
    expect(f.workers).toHaveLength(1);
    expect(f.workers[0]?.workerId).toMatch(/^stand-in-\d+$/);
    expect(f.workers[0]?.workerId).not.toBe(first.workerId);
  });
});
