/**
 * npm run bench:sandbox [-- --iterations N]
 *
 * Measures, in one run on one machine, the sandbox runtime against the raw baseline: a bare
 * runsc container (same runtime, same CPU and memory limits) doing the same trivial Python
 * program through the Docker API.
 *   cold: SandboxManager.create + first execute   vs   docker create + start + wait
 *   warm: create from the warm pool + execute     vs   docker exec into a running container
 * Prints p50/p95 of each and the ratios, and writes them to bench-results/sandbox.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import Docker from 'dockerode';
import { pino } from 'pino';
import { SandboxConfig } from '@harombe/core';
import { percentile, rawBaselineSpec, SandboxManager } from '../src/index.js';
import { dockerExec } from '../src/docker-exec.js';

const PROGRAM = 'pass';
const args = process.argv.slice(2);
const iterations = Number(args[args.indexOf('--iterations') + 1] ?? 0) || 15;
const docker = new Docker();
const logger = pino({ level: 'warn' });
const config = SandboxConfig.parse({});

async function time(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

async function measure(label: string, run: () => Promise<number>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < iterations; i += 1) {
    samples.push(await run());
    process.stderr.write(`\r${label}: ${i + 1}/${iterations}   `);
  }
  process.stderr.write('\n');
  return samples;
}

function bareSpec(cmd: string[]): Docker.ContainerCreateOptions {
  return rawBaselineSpec(config, cmd);
}

async function rawCold(): Promise<number> {
  let container: Docker.Container | undefined;
  const ms = await time(async () => {
    container = await docker.createContainer(bareSpec(['python3', '-c', PROGRAM]));
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    if (StatusCode !== 0) throw new Error(`baseline exited ${StatusCode}`);
  });
  await container?.remove({ force: true });
  return ms;
}

/** Times create + execute on a manager; the destroy afterwards is not timed. */
async function sandboxRound(manager: SandboxManager): Promise<number> {
  let id = '';
  const ms = await time(async () => {
    id = (await manager.create({ language: 'python', owner: 'bench' })).sandbox_id;
    const result = await manager.execute(id, 'bench', { code: PROGRAM });
    if (result.exit_code !== 0) throw new Error(`sandbox run failed: ${JSON.stringify(result)}`);
  });
  await manager.destroy(id, 'bench');
  return ms;
}

async function main(): Promise<void> {
  process.stderr.write(
    `sandbox benchmark: ${iterations} iterations each, program python3 -c ${JSON.stringify(PROGRAM)}\n`,
  );
  const cold = new SandboxManager({ logger, managerId: 'bench-cold', sweepIntervalMs: 0 });
  const warm = new SandboxManager({
    logger,
    managerId: 'bench-warm',
    sweepIntervalMs: 0,
    config: { warm_pool: { python: 2 } },
  });
  await cold.start();
  await warm.start();
  const bare = await docker.createContainer(bareSpec(['sleep', 'infinity']));
  await bare.start();
  try {
    // One untimed round of each, so that image layers and the engine are warm for everybody.
    await rawCold();
    const first = await cold.create({ language: 'python', owner: 'bench' });
    await cold.execute(first.sandbox_id, 'bench', { code: PROGRAM });
    await cold.destroy(first.sandbox_id, 'bench');

    const results = {
      raw_cold: await measure('raw cold (docker create+start+wait)', rawCold),
      sandbox_cold: await measure('sandbox cold (create+execute)', () => sandboxRound(cold)),
      raw_warm: await measure('raw warm (docker exec)', () =>
        time(async () => {
          const r = await dockerExec(bare, { cmd: ['python3', '-c', PROGRAM], maxOutputBytes: 1024 });
          if (r.exitCode !== 0) throw new Error('baseline exec failed');
        }),
      ),
      sandbox_warm_pool: await measure('sandbox warm pool (create+execute)', async () => {
        await warm.warmPoolFilled();
        return sandboxRound(warm);
      }),
    };

    const summary = Object.fromEntries(
      Object.entries(results).map(([name, samples]) => [
        name,
        {
          p50_ms: percentile(samples, 50),
          p95_ms: percentile(samples, 95),
          samples_ms: samples.map((s) => Math.round(s)),
        },
      ]),
    ) as Record<keyof typeof results, { p50_ms: number; p95_ms: number; samples_ms: number[] }>;
    const ratios = {
      cold_p50: summary.sandbox_cold.p50_ms / summary.raw_cold.p50_ms,
      cold_p95: summary.sandbox_cold.p95_ms / summary.raw_cold.p95_ms,
      warm_pool_p50: summary.sandbox_warm_pool.p50_ms / summary.raw_warm.p50_ms,
      warm_pool_p95: summary.sandbox_warm_pool.p95_ms / summary.raw_warm.p95_ms,
    };
    const bars = { cold_p50: 1.1, warm_pool_p50: 1.2 };

    console.log('\n| measurement | p50 ms | p95 ms |\n|---|---:|---:|');
    for (const [name, s] of Object.entries(summary))
      console.log(`| ${name} | ${s.p50_ms.toFixed(0)} | ${s.p95_ms.toFixed(0)} |`);
    console.log('\n| ratio to raw | value | bar |\n|---|---:|---:|');
    for (const [name, value] of Object.entries(ratios)) {
      const bar = bars[name as keyof typeof bars];
      console.log(
        `| ${name} | ${value.toFixed(2)}x | ${bar ? `<= ${bar}x ${value <= bar ? 'met' : 'NOT met'}` : ''} |`,
      );
    }
    mkdirSync('../../bench-results', { recursive: true });
    const file = '../../bench-results/sandbox.json';
    writeFileSync(
      file,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          iterations,
          program: PROGRAM,
          limits: config.limits,
          results: summary,
          ratios,
          bars,
        },
        null,
        2,
      ),
    );
    console.log(`\nwritten to bench-results/sandbox.json`);
  } finally {
    await bare.remove({ force: true });
    await cold.stop({ destroySandboxes: true });
    await warm.stop({ destroySandboxes: true });
  }
}

await main();
