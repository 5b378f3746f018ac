/**
 * npm run bench [-- --jobs N --concurrency 1,2,4]
 *
 * Drives trivial Python jobs (LOW risk under the benchmark's policy) through the whole fleet,
 * API → queue → worker → sandbox → result, at a few concurrencies, and in the same run the raw
 * baseline: the same program run by `docker exec` into bare runsc containers (same image, CPU
 * and memory) at the same concurrency. Both sides are warm: the fleet's jobs name sandboxes
 * made beforehand, the baseline's containers are running. Then measures the API's memory while
 * it accepts a 10,000-job batch. Prints p50/p95, throughput and ratios; writes
 * bench-results/fleet.json.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LocalFleet, LocalRedis } from '@harombe/cli';
import { HarombeClient } from '@harombe/client';
import { SandboxConfig } from '@harombe/core';
import { dockerExec, percentile, rawBaselineSpec } from '@harombe/sandbox';
import { freeLoopbackPort } from '@harombe/test-fixtures';
import Docker from 'dockerode';
import { stringify } from 'yaml';

const PROGRAM = "print('bench')";
const args = process.argv.slice(2);
const option = (name: string, fallback: string): string =>
  args.includes(name) ? (args[args.indexOf(name) + 1] ?? fallback) : fallback;
const jobsPerRound = Number(option('--jobs', '40'));
const concurrencies = option('--concurrency', '1,2,4').split(',').map(Number);
const batchSize = Number(option('--batch', '10000'));
const KEY = 'bench-key-0123456789abcdef0123456789';
const docker = new Docker();
const sandboxConfig = SandboxConfig.parse({});

interface Round {
  latencies_ms: number[];
  wall_ms: number;
}

/** `total` calls of `work` spread over `concurrency` loops; loop i passes i to work. */
async function drive(
  total: number,
  concurrency: number,
  label: string,
  work: (loop: number) => Promise<void>,
): Promise<Round> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, loop) => {
      while (next < total) {
        next += 1;
        const t0 = performance.now();
        await work(loop);
        latencies.push(performance.now() - t0);
        process.stderr.write(`\r  ${label}: ${latencies.length}/${total}   `);
      }
    }),
  );
  process.stderr.write('\n');
  return { latencies_ms: latencies, wall_ms: performance.now() - started };
}

function summarize(round: Round) {
  return {
    p50_ms: percentile(round.latencies_ms, 50),
    p95_ms: percentile(round.latencies_ms, 95),
    throughput_per_s: (round.latencies_ms.length / round.wall_ms) * 1000,
  };
}

async function rawRound(concurrency: number): Promise<Round> {
  const containers = await Promise.all(
    Array.from({ length: concurrency }, () =>
      docker.createContainer(rawBaselineSpec(sandboxConfig, ['sleep', 'infinity'])),
    ),
  );
  try {
    await Promise.all(containers.map((c) => c.start()));
    const exec = async (loop: number) => {
      const r = await dockerExec(containers[loop]!, { cmd: ['python3', '-c', PROGRAM], maxOutputBytes: 1024 });
      if (r.exitCode !== 0) throw new Error(`baseline exec failed: ${r.stderr.text()}`);
    };
    for (let i = 0; i < concurrency; i += 1) await exec(i); // untimed warm-up
    return await drive(jobsPerRound, concurrency, `raw docker exec, concurrency ${concurrency}`, exec);
  } finally {
    await Promise.all(containers.map((c) => c.remove({ force: true })));
  }
}

async function fleetRound(client: HarombeClient, concurrency: number): Promise<Round> {
  const sandboxes: string[] = [];
  for (let i = 0; i < concurrency; i += 1) {
    const job = await client.submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: PROGRAM },
      wait_seconds: 60,
    });
    if (job.status !== 'completed') throw new Error(`warm-up job ${job.status}: ${JSON.stringify(job.error)}`);
    sandboxes.push(job.result?.sandbox_id as string);
  }
  const run = async (loop: number) => {
    const job = await client.submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: PROGRAM, sandbox_id: sandboxes[loop] },
      wait_seconds: 60,
    });
    if (job.status !== 'completed' || job.result?.exit_code !== 0)
      throw new Error(`job ended ${job.status}: ${JSON.stringify(job.result)}`);
  };
  const round = await drive(jobsPerRound, concurrency, `fleet end to end, concurrency ${concurrency}`, run);
  for (const sandbox_id of sandboxes)
    await client.submitJob({ tool: 'code_destroy_sandbox', params: { sandbox_id }, wait_seconds: 30 });
  return round;
}

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

async function batchMemory(
  client: HarombeClient,
  apiPid: number,
): Promise<{ jobs: number; accept_ms: number; api_rss_before_mb: number; api_rss_peak_mb: number }> {
  const before = rssMb(apiPid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(apiPid))), 20);
  process.stderr.write(`  submitting a batch of ${batchSize} jobs (they wait for approval and are not run)…\n`);
  const t0 = performance.now();
  const batch = await client.submitBatch({
    jobs: Array.from({ length: batchSize }, (_, i) => ({
      tool: 'code_execute',
      params: { language: 'python', code: `print(${i})` },
    })),
  });
  const acceptMs = performance.now() - t0;
  clearInterval(sampler);
  peak = Math.max(peak, rssMb(apiPid));
  if (batch.job_ids.length !== batchSize) throw new Error('batch not accepted whole');
  return { jobs: batchSize, accept_ms: acceptMs, api_rss_before_mb: before, api_rss_peak_mb: peak };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'harombe-bench-'));
  const redis = new LocalRedis(await freeLoopbackPort(), join(dir, 'redis'));
  await redis.start();
  const configPath = join(dir, 'harombe.yaml');
  writeFileSync(
    configPath,
    stringify({
      api: {
        port: 0,
        keys: [
          {
            name: 'bench',
            tenant: 'bench',
            scopes: ['submit'],
            key_sha256: createHash('sha256').update(KEY).digest('hex'),
          },
        ],
      },
      worker: { concurrency: Math.max(...concurrencies) },
      security: {
        policy: {
          rules: [
            {
              tools: ['code_execute'],
              risk: 'LOW',
              conditions: [{ param: 'code', equals: PROGRAM }],
              description: 'Benchmark program',
            },
          ],
        },
      },
    }),
  );
  const fleet = new LocalFleet({ configPath, redisUrl: redis.url, logDir: join(dir, 'logs'), apiPort: 0, opsPort: 0 });
  process.stderr.write(
    `fleet benchmark: ${jobsPerRound} jobs per round, concurrency ${concurrencies.join(', ')}, program python3 -c ${JSON.stringify(PROGRAM)}\n`,
  );
  await fleet.start();
  const client = new HarombeClient({ baseUrl: fleet.apiUrl, apiKey: KEY });
  try {
    const rounds = [];
    for (const concurrency of concurrencies) {
      const raw = summarize(await rawRound(concurrency));
      const fleetSide = summarize(await fleetRound(client, concurrency));
      rounds.push({
        concurrency,
        raw,
        fleet: fleetSide,
        ratios: {
          p50: fleetSide.p50_ms / raw.p50_ms,
          p95: fleetSide.p95_ms / raw.p95_ms,
          throughput: fleetSide.throughput_per_s / raw.throughput_per_s,
        },
      });
    }
    const memory = await batchMemory(client, fleet.api!.child.pid!);
    const bars = { p50_ratio_max: 1.25, throughput_ratio_min: 0.8, api_rss_mb_max: 200 };

    console.log(
      '\n| concurrency | raw p50 ms | fleet p50 ms | p50 ratio | raw p95 ms | fleet p95 ms | raw jobs/s | fleet jobs/s | throughput ratio |',
    );
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rounds) {
      console.log(
        `| ${r.concurrency} | ${r.raw.p50_ms.toFixed(0)} | ${r.fleet.p50_ms.toFixed(0)} | ${r.ratios.p50.toFixed(2)}x ${r.ratios.p50 <= bars.p50_ratio_max ? 'met' : 'NOT met'} | ${r.raw.p95_ms.toFixed(0)} | ${r.fleet.p95_ms.toFixed(0)} | ${r.raw.throughput_per_s.toFixed(2)} | ${r.fleet.throughput_per_s.toFixed(2)} | ${r.ratios.throughput.toFixed(2)}x ${r.ratios.throughput >= bars.throughput_ratio_min ? 'met' : 'NOT met'} |`,
      );
    }
    console.log(
      `\nAPI memory while accepting a ${memory.jobs}-job batch: ${memory.api_rss_before_mb.toFixed(0)} MB before, ${memory.api_rss_peak_mb.toFixed(0)} MB peak (bar < ${bars.api_rss_mb_max} MB: ${memory.api_rss_peak_mb < bars.api_rss_mb_max ? 'met' : 'NOT met'}); accepted in ${(memory.accept_ms / 1000).toFixed(1)} s`,
    );
    const out = resolve(import.meta.dirname, '../../../bench-results');
    mkdirSync(out, { recursive: true });
    writeFileSync(
      join(out, 'fleet.json'),
      JSON.stringify(
        {
          date: new Date().toISOString(),
          program: PROGRAM,
          jobs_per_round: jobsPerRound,
          limits: sandboxConfig.limits,
          rounds,
          memory,
          bars,
        },
        null,
        2,
      ),
    );
    console.log('\nwritten to bench-results/fleet.json');
  } finally {
    await fleet.stop();
    await redis.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
