/**
 * npm run bench [-- --jobs N --blocks B --concurrency 1,2,4 --batch N --oneshot N --raw-oneshot N --idle N --idle-seconds S
 *                   --first-byte N --only rounds,memory,first_byte,oneshot,idle --profile DIR]
 *
 * Every scenario runs the fleet and, in the same run, the raw baseline doing the same work; the
 * figures are reported as ratios and written to bench-results/fleet.json.
 *
 * - Kept sandboxes (`rounds`): trivial Python jobs (LOW risk under the benchmark's policy) through
 *   API → queue → worker → sandbox → result at a few concurrencies, against `docker exec` into
 *   bare runsc containers (same image, CPU and memory) at the same concurrency. Both warm. Each
 *   side runs N jobs (default 160) in B blocks (default 4), the two sides' blocks in turn, and
 *   every block starts on a quiet host: what one block leaves running (a teardown, a warm pool
 *   refilling) does not run inside the next, and a host whose speed drifts weighs on both sides
 *   alike. Reported with each round: the CPU the fleet's own processes spend per job, and the
 *   whole host's CPU per job on each side (and the part of it spent inside containers).
 * - The API's memory while it accepts a 10,000-job batch.
 * - One-shot (`oneshot`), the way batch users work: one batch of N `print(i)` jobs with no
 *   sandbox_id, worker concurrency 2, nothing made beforehand (no warm pool base), against
 *   `docker run --rm --runtime=runsc` of the same program at the same concurrency. Reported:
 *   throughput ratio, job p50/p95 (started → finished and accepted → finished), the peak of live
 *   sandboxes (sampled every 250 ms) and those left 10 s after the batch, GET /v1/jobs/{id} p99
 *   during the batch, and how late an approval left to expire during the batch was expired.
 * - First byte (`first_byte`): a program that prints, sleeps 1 s and prints again, in a kept
 *   sandbox, its output read through the job's event stream (POST /v1/jobs, then
 *   GET /v1/jobs/{id}/events), against `docker exec` of the same program into a bare runsc
 *   container reading its pipe, alternately. Reported: time to the first byte and to the second
 *   line on each side (p50), their ratio and difference.
 * - Idle (`idle`): kept sandboxes left idle, their CPU read from their containers' cgroups.
 *
 * `--profile DIR` runs every service with `node --cpu-prof`: DIR gets one .cpuprofile per service
 * process (open it in Chrome DevTools' Performance panel) to see where the fleet spends its CPU.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { LocalFleet, LocalRedis } from '@harombe/local-fleet';
import { HarombeClient } from '@harombe/client';
import { SandboxConfig, type JobView } from '@harombe/core';
import { dockerExec, LABELS, percentile, rawBaselineSpec } from '@harombe/sandbox';
import { freeLoopbackPort } from '@harombe/test-fixtures';
import Docker from 'dockerode';
import { stringify } from 'yaml';

const PROGRAM = "print('bench')";
const args = process.argv.slice(2);
const option = (name: string, fallback: string): string =>
  args.includes(name) ? (args[args.indexOf(name) + 1] ?? fallback) : fallback;
/** Jobs each side of a kept round runs, in `roundBlocks` blocks taken in turn with the other side's. */
const jobsPerRound = Number(option('--jobs', '160'));
const roundBlocks = Number(option('--blocks', '4'));
const concurrencies = option('--concurrency', '1,2,4').split(',').map(Number);
const batchSize = Number(option('--batch', '10000'));
const oneShotJobs = Number(option('--oneshot', '500'));
const rawOneShotRuns = Number(option('--raw-oneshot', String(oneShotJobs)));
const idleSandboxes = Number(option('--idle', '50'));
const idleSeconds = Number(option('--idle-seconds', '60'));
/** The scenarios to run (default: all of them). */
const profileDir = option('--profile', '');
const only = new Set(option('--only', 'rounds,memory,first_byte,oneshot,idle').split(','));
const firstByteRuns = Number(option('--first-byte', '10'));
/** Prints, sleeps 1 s, prints again: how soon each line reaches whoever watches. The comment makes it LOW risk here. */
const FIRST_BYTE_PROGRAM =
  "# first byte\nimport time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second', flush=True)";
/** The one-shot batch runs on a worker of this concurrency, and the raw baseline at the same. */
const ONE_SHOT_CONCURRENCY = 2;
/** An approval left to expire during the one-shot batch waits this long. */
const EXPIRY_SECONDS = 20;
const KEY = 'bench-key-0123456789abcdef0123456789';
const docker = new Docker();
const run = promisify(execFile);
const sandboxConfig = SandboxConfig.parse({});

interface Round {
  latencies_ms: number[];
  wall_ms: number;
  phases_p50_ms?: Record<string, number>;
  /** CPU over the timed part (ms): the whole host's, and the part of it spent inside containers. */
  cpu_ms: { host: number; in_containers: number };
}

/** CPU used so far (ms): the whole host's (every core; idle, I/O wait and steal aside), and its containers'. */
function hostCpu(): { host: number; in_containers: number } {
  const ticks = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').split(/\s+/).slice(1).map(Number);
  // Steal (time the hypervisor gave another guest) is not this host's work.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = ticks;
  const containersNs = Number(readFileSync('/sys/fs/cgroup/cpuacct/docker/cpuacct.usage', 'utf8'));
  return { host: (user + nice + system + irq + softirq) * 10, in_containers: containersNs / 1e6 };
}

/** How busy the host may be, in cores, for a timed round to start: what the last round left (a
 * teardown, a warm pool refilling) must not run inside the next one. */
const QUIET_CORES = 0.15;
const QUIET_WINDOW_MS = 500;
const QUIET_WAIT_MAX_MS = 30_000;

/** Waits until the host is quiet (see QUIET_CORES), at most QUIET_WAIT_MAX_MS; says so if it never was. */
async function quietHost(label: string): Promise<void> {
  const deadline = performance.now() + QUIET_WAIT_MAX_MS;
  let before = hostCpu().host;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, QUIET_WINDOW_MS));
    const now = hostCpu().host;
    const cores = (now - before) / QUIET_WINDOW_MS;
    before = now;
    if (cores <= QUIET_CORES) return;
    if (performance.now() >= deadline) {
      process.stderr.write(`  ${label}: the host never went quiet (${cores.toFixed(2)} cores busy); timing anyway\n`);
      return;
    }
  }
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
  const cpuBefore = hostCpu();
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
  const wall = performance.now() - started;
  const cpuAfter = hostCpu();
  process.stderr.write('\n');
  return {
    latencies_ms: latencies,
    wall_ms: wall,
    cpu_ms: {
      host: cpuAfter.host - cpuBefore.host,
      in_containers: cpuAfter.in_containers - cpuBefore.in_containers,
    },
  };
}

function summarize(round: Round) {
  return {
    p50_ms: percentile(round.latencies_ms, 50),
    p95_ms: percentile(round.latencies_ms, 95),
    throughput_per_s: (round.latencies_ms.length / round.wall_ms) * 1000,
    ...(round.phases_p50_ms ? { phases_p50_ms: round.phases_p50_ms } : {}),
    cpu_ms_per_job: {
      host: round.cpu_ms.host / round.latencies_ms.length,
      in_containers: round.cpu_ms.in_containers / round.latencies_ms.length,
    },
  };
}

/**
 * One side of a kept round, warm (its sandboxes or containers made and used once): driven a block
 * at a time, then taken down.
 */
interface RoundSide {
  label: string;
  work: (loop: number) => Promise<void>;
  /** What the side adds to its round once every block has run. */
  finish?: (round: Round) => void;
  close: () => Promise<void>;
}

/** `docker exec` into bare runsc containers, one per loop. */
async function rawSide(concurrency: number): Promise<RoundSide> {
  const containers = await Promise.all(
    Array.from({ length: concurrency }, () =>
      docker.createContainer(rawBaselineSpec(sandboxConfig, ['sleep', 'infinity'])),
    ),
  );
  const close = async () => void (await Promise.all(containers.map((c) => c.remove({ force: true }))));
  try {
    await Promise.all(containers.map((c) => c.start()));
    const work = async (loop: number) => {
      const r = await dockerExec(containers[loop]!, { cmd: ['python3', '-c', PROGRAM], maxOutputBytes: 1024 });
      if (r.exitCode !== 0) throw new Error(`baseline exec failed: ${r.stderr.text()}`);
    };
    for (let i = 0; i < concurrency; i += 1) await work(i); // untimed warm-up
    return { label: `raw docker exec, concurrency ${concurrency}`, work, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Jobs through the fleet, each loop in a kept sandbox of its own. */
async function fleetSide(client: HarombeClient, concurrency: number): Promise<RoundSide> {
  const sandboxes: string[] = [];
  const close = async () => {
    for (const sandbox_id of sandboxes)
      await client.submitJob({ tool: 'code_destroy_sandbox', params: { sandbox_id }, wait_seconds: 30 });
  };
  try {
    for (let i = 0; i < concurrency; i += 1) {
      const job = await client.submitJob({
        tool: 'code_execute',
        params: { language: 'python', code: PROGRAM, keep_sandbox: true },
        wait_seconds: 60,
      });
      if (job.status !== 'completed') throw new Error(`warm-up job ${job.status}: ${JSON.stringify(job.error)}`);
      sandboxes.push(job.result?.sandbox_id as string);
    }
  } catch (error) {
    await close();
    throw error;
  }
  const spans: { queued: number; ran: number; around: number }[] = [];
  const work = async (loop: number) => {
    const t0 = performance.now();
    const job = await client.submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: PROGRAM, sandbox_id: sandboxes[loop] },
      wait_seconds: 60,
    });
    const took = performance.now() - t0;
    if (job.status !== 'completed' || job.result?.exit_code !== 0)
      throw new Error(`job ended ${job.status}: ${JSON.stringify(job.result)}`);
    const at = (time: string | null) => Date.parse(time ?? '');
    spans.push({
      queued: at(job.started_at) - at(job.created_at),
      ran: at(job.finished_at) - at(job.started_at),
      around: took - (at(job.finished_at) - at(job.created_at)),
    });
  };
  // Where a job's time goes (ms, medians): accepted → a worker started it, its run (sandbox
  // execution and the worker's own steps), and the rest (HTTP, validation, storing, the answer).
  const finish = (round: Round) => {
    const median = (pick: (span: (typeof spans)[number]) => number) => percentile(spans.map(pick), 50);
    round.phases_p50_ms = {
      accepted_to_started: median((s) => s.queued),
      started_to_finished: median((s) => s.ran),
      outside_the_record: median((s) => s.around),
    };
  };
  return { label: `fleet end to end, concurrency ${concurrency}`, work, finish, close };
}

/**
 * A kept round: both sides made ready, then driven in turn, a block of jobs at a time, raw first,
 * so that a host whose speed drifts while the round runs weighs on both sides alike. Each side
 * runs `jobsPerRound` jobs in all; the fleet's own processes' CPU is counted over its blocks only.
 */
async function keptRound(client: HarombeClient, concurrency: number, pids: Record<string, number>) {
  if (!(roundBlocks >= 1 && jobsPerRound >= roundBlocks)) throw new Error('--blocks must be from 1 to --jobs');
  const raw = await rawSide(concurrency);
  let fleet: RoundSide | undefined;
  try {
    const ready = (fleet = await fleetSide(client, concurrency));
    const rounds = { raw: emptyRound(), fleet: emptyRound() };
    const fleetCpu: Record<string, number> = {};
    for (let block = 0; block < roundBlocks; block += 1) {
      // Blocks share the round's jobs out evenly, the first ones taking what does not divide.
      const jobs = Math.floor(jobsPerRound / roundBlocks) + (block < jobsPerRound % roundBlocks ? 1 : 0);
      const label = (side: RoundSide) => `${side.label}, block ${block + 1}/${roundBlocks}`;
      await quietHost(label(raw));
      addBlock(rounds.raw, await drive(jobs, concurrency, label(raw), raw.work));
      await quietHost(label(ready));
      addBlock(
        rounds.fleet,
        await addCpuSpent(pids, fleetCpu, () => drive(jobs, concurrency, label(ready), ready.work)),
      );
    }
    ready.finish?.(rounds.fleet);
    const jobs = rounds.fleet.latencies_ms.length;
    return { raw: summarize(rounds.raw), fleet: summarize(rounds.fleet), fleetCpuPerJob: perJob(fleetCpu, jobs) };
  } finally {
    await Promise.allSettled([raw.close(), fleet?.close()]);
  }
}

function emptyRound(): Round {
  return { latencies_ms: [], wall_ms: 0, cpu_ms: { host: 0, in_containers: 0 } };
}

function addBlock(round: Round, block: Round): void {
  round.latencies_ms.push(...block.latencies_ms);
  round.wall_ms += block.wall_ms;
  round.cpu_ms.host += block.cpu_ms.host;
  round.cpu_ms.in_containers += block.cpu_ms.in_containers;
}

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** CPU time (user + system) a process has used so far, in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 10 ms
}

/** The fleet's own processes (Redis, approval service, worker, API), by name: their pids. */
function fleetProcesses(fleet: LocalFleet, redis: LocalRedis): Record<string, number> {
  const pids: Record<string, number> = {};
  if (redis.pid) pids.redis = redis.pid;
  if (fleet.approval?.child.pid) pids.approval = fleet.approval.child.pid;
  fleet.workers.forEach(
    (worker, i) => worker.child.pid && (pids[i === 0 ? 'worker' : `worker-${i}`] = worker.child.pid),
  );
  if (fleet.api?.child.pid) pids.api = fleet.api.child.pid;
  return pids;
}

/** Runs `work` and adds the CPU each of the processes spent meanwhile (ms) to `spent`, by name. */
async function addCpuSpent<T>(pids: Record<string, number>, spent: Record<string, number>, work: () => Promise<T>) {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
  const result = await work();
  for (const [name, pid] of Object.entries(pids)) spent[name] = (spent[name] ?? 0) + cpuMs(pid) - (before[name] ?? 0);
  return result;
}

const perJob = (spent: Record<string, number>, jobs: number): Record<string, number> =>
  Object.fromEntries(Object.entries(spent).map(([name, ms]) => [name, ms / jobs]));

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
      params: { language: 'python', code: `print(${i}) # held` },
    })),
  });
  const acceptMs = performance.now() - t0;
  clearInterval(sampler);
  peak = Math.max(peak, rssMb(apiPid));
  if (batch.job_ids.length !== batchSize) throw new Error('batch not accepted whole');
  return { jobs: batchSize, accept_ms: acceptMs, api_rss_before_mb: before, api_rss_peak_mb: peak };
}

/** Sandbox containers alive now (the benchmark runs alone on the Docker host). */
async function liveSandboxes(): Promise<number> {
  return (await docker.listContainers({ all: true, filters: { label: [LABELS.sandbox] } })).length;
}

/** `docker run --rm --runtime=runsc` of `print(i)`, `runs` times at `concurrency`, as a user would. */
async function rawOneShot(runs: number, concurrency: number): Promise<Round> {
  const { Memory, NanoCpus } = rawBaselineSpec(sandboxConfig, []).HostConfig ?? {};
  let i = 0;
  return drive(runs, concurrency, `raw docker run --rm, concurrency ${concurrency}`, async () => {
    const n = (i += 1);
    const { stdout } = await run('docker', [
      'run',
      '--rm',
      `--runtime=${sandboxConfig.runtime}`,
      '--network=none',
      `--memory=${Memory}`,
      `--cpus=${(NanoCpus ?? 5e8) / 1e9}`,
      sandboxConfig.languages.python.image,
      'python3',
      '-c',
      `print(${n})`,
    ]);
    if (stdout !== `${n}\n`) throw new Error(`baseline run printed ${JSON.stringify(stdout)}`);
  });
}

/**
 * One batch of `jobs` one-shot `print(i)` jobs, with a GET poller and an approval left to expire
 * running alongside, and live sandboxes sampled every 250 ms.
 */
async function fleetOneShot(client: HarombeClient, jobs: number, maxSandboxes: number) {
  let peakLive = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakLive = Math.max(peakLive, await liveSandboxes());
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  const expiring = await client.submitJob({
    tool: 'code_execute',
    params: { language: 'python', code: 'print("left to expire") # EXPIRES' },
  });
  const t0 = performance.now();
  const batch = await client.submitBatch({
    jobs: Array.from({ length: jobs }, (_, i) => ({
      tool: 'code_execute',
      params: { language: 'python', code: `print(${i})` },
    })),
  });
  const accepted = performance.now();
  // GET /v1/jobs/{id} as a client polling one job would, for as long as the batch runs.
  const getLatencies: number[] = [];
  let polling = true;
  const poller = (async () => {
    for (let i = 0; polling; i += 1) {
      const id = batch.job_ids[i % batch.job_ids.length] as string;
      const t = performance.now();
      await client.getJob(id);
      getLatencies.push(performance.now() - t);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  let done = 0;
  for (;;) {
    const view = await client.getBatch(batch.batch_id, { limit: 1 });
    const ended = view.total - view.counts.queued - view.counts.running - view.counts.awaiting_approval;
    if (ended !== done) process.stderr.write(`\r  fleet one-shot batch: ${(done = ended)}/${jobs}   `);
    if (ended === jobs) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const wallMs = performance.now() - t0;
  process.stderr.write('\n');
  polling = false;
  await poller;
  const results: JobView[] = [];
  for await (const job of client.batchResults(batch.batch_id)) results.push(job);
  const failed = results.filter((job) => job.status !== 'completed' || job.result?.exit_code !== 0);
  if (results.length !== jobs || failed.length > 0) {
    throw new Error(`${failed.length} of ${jobs} one-shot jobs did not complete: ${JSON.stringify(failed[0])}`);
  }
  const ms = (a: string | null, b: string | null) => Date.parse(b ?? '') - Date.parse(a ?? '');
  const expired = await client.waitForJob(expiring.job_id, { timeoutMs: (EXPIRY_SECONDS + 60) * 1000 });
  // 10 s after the batch: what is left is what the warm pool keeps when nothing waits.
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const liveAfter = await liveSandboxes();
  sampling = false;
  await sampler;
  return {
    jobs,
    accept_ms: accepted - t0,
    wall_ms: wallMs,
    throughput_per_s: (jobs / wallMs) * 1000,
    started_to_finished_ms: {
      p50: percentile(
        results.map((job) => ms(job.started_at, job.finished_at)),
        50,
      ),
      p95: percentile(
        results.map((job) => ms(job.started_at, job.finished_at)),
        95,
      ),
    },
    accepted_to_finished_ms: {
      p50: percentile(
        results.map((job) => ms(job.created_at, job.finished_at)),
        50,
      ),
      p95: percentile(
        results.map((job) => ms(job.created_at, job.finished_at)),
        95,
      ),
    },
    peak_live_sandboxes: peakLive,
    max_sandboxes: maxSandboxes,
    live_sandboxes_10s_after: liveAfter,
    get_job_ms: { p50: percentile(getLatencies, 50), p99: percentile(getLatencies, 99), samples: getLatencies.length },
    approval_expiry_lateness_ms: expired.approval ? ms(expired.approval.expires_at, expired.approval.decided_at) : null,
    expired_status: expired.status,
  };
}

/** `count` kept sandboxes left idle for `seconds`: the CPU each used, from its container's cgroup. */
async function idleCost(client: HarombeClient, count: number, seconds: number) {
  const made: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const sandbox = await client.createSandbox({ language: 'python' });
    if (!sandbox.success || !sandbox.sandbox_id) throw new Error(`sandbox ${i} not made: ${sandbox.error}`);
    made.push(sandbox.sandbox_id);
    process.stderr.write(`\r  idle: made ${made.length}/${count} kept sandboxes   `);
  }
  process.stderr.write(`\n  idle: ${count} kept sandboxes, measuring their CPU over ${seconds} s…\n`);
  const usage = async () => {
    const containers = await docker.listContainers({ filters: { label: [LABELS.sandbox] } });
    const byId = new Map<string, number>();
    for (const c of containers) {
      const id = c.Labels[LABELS.sandbox] as string;
      if (made.includes(id))
        byId.set(id, Number(readFileSync(`/sys/fs/cgroup/cpuacct/docker/${c.Id}/cpuacct.usage`, 'utf8')));
    }
    return byId;
  };
  await new Promise((resolve) => setTimeout(resolve, 5000)); // the last ones' start-up is not idle
  const before = await usage();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const after = await usage();
  const percents = [...before].map(([id, ns]) => (((after.get(id) ?? ns) - ns) / (seconds * 1e9)) * 100);
  for (const sandbox_id of made) await client.destroySandbox(sandbox_id);
  return {
    sandboxes: percents.length,
    seconds,
    cpu_percent_of_a_core_each: {
      mean: percents.reduce((a, b) => a + b, 0) / percents.length,
      max: Math.max(...percents),
    },
  };
}

/** When the first output byte and the second line came, in ms from `t0`. */
interface LineTimes {
  first_byte_ms: number;
  second_line_ms: number;
}

/** Watches output as it comes: the first piece's time, and the time `second` is complete. */
function lineClock(t0: number): { seen(text: string): void; times(): LineTimes } {
  let text = '';
  let first: number | undefined;
  let second: number | undefined;
  return {
    seen(piece) {
      const now = performance.now() - t0;
      first ??= now;
      text += piece;
      if (second === undefined && text.includes('second\n')) second = now;
    },
    times() {
      if (first === undefined || second === undefined) throw new Error(`output incomplete: ${JSON.stringify(text)}`);
      return { first_byte_ms: first, second_line_ms: second };
    },
  };
}

/**
 * FIRST_BYTE_PROGRAM `runs` times each way, alternately: through the fleet (a kept sandbox; the
 * job submitted, then its event stream read) and raw (`docker exec` into a bare runsc container,
 * its pipe read as it comes).
 */
async function firstByte(client: HarombeClient, runs: number) {
  const container = await docker.createContainer(rawBaselineSpec(sandboxConfig, ['sleep', 'infinity']));
  const made = await client.submitJob({
    tool: 'code_execute',
    params: { language: 'python', code: FIRST_BYTE_PROGRAM, keep_sandbox: true },
    wait_seconds: 60,
  });
  if (made.status !== 'completed') throw new Error(`first-byte warm-up ${made.status}: ${JSON.stringify(made.error)}`);
  const sandbox_id = made.result?.sandbox_id as string;
  const raw: LineTimes[] = [];
  const fleet: LineTimes[] = [];
  try {
    await container.start();
    const rawRun = async (): Promise<LineTimes> => {
      const clock = lineClock(performance.now());
      const outcome = await dockerExec(container, {
        cmd: ['python3', '-c', FIRST_BYTE_PROGRAM],
        maxOutputBytes: 4096,
        onOutput: (_stream, text) => clock.seen(text),
      });
      if (outcome.exitCode !== 0) throw new Error(`baseline exec failed: ${outcome.stderr.text()}`);
      return clock.times();
    };
    const fleetRun = async (): Promise<LineTimes> => {
      const clock = lineClock(performance.now());
      const job = await client.submitJob({
        tool: 'code_execute',
        params: { language: 'python', code: FIRST_BYTE_PROGRAM, sandbox_id },
      });
      let end: JobView['status'] | undefined;
      for await (const event of client.streamJob(job.job_id)) {
        if (event.type === 'stdout') clock.seen(event.data.text);
        if (event.type === 'status') end = event.data.status;
      }
      if (end !== 'completed') throw new Error(`first-byte job ended ${end}`);
      return clock.times();
    };
    await rawRun(); // untimed warm-up
    for (let i = 0; i < runs; i += 1) {
      raw.push(await rawRun());
      fleet.push(await fleetRun());
      process.stderr.write(`\r  first byte: ${i + 1}/${runs}   `);
    }
    process.stderr.write('\n');
  } finally {
    await container.remove({ force: true });
    await client.submitJob({ tool: 'code_destroy_sandbox', params: { sandbox_id }, wait_seconds: 30 });
  }
  const p50 = (times: LineTimes[], key: keyof LineTimes) =>
    percentile(
      times.map((t) => t[key]),
      50,
    );
  const side = (times: LineTimes[]) => ({
    first_byte_p50_ms: p50(times, 'first_byte_ms'),
    second_line_p50_ms: p50(times, 'second_line_ms'),
    runs: times,
  });
  const rawSide = side(raw);
  const fleetSide = side(fleet);
  return {
    program: FIRST_BYTE_PROGRAM,
    raw: rawSide,
    fleet: fleetSide,
    first_byte_ratio: fleetSide.first_byte_p50_ms / rawSide.first_byte_p50_ms,
    second_line_delta_ms: fleetSide.second_line_p50_ms - rawSide.second_line_p50_ms,
  };
}

/** A local fleet on its own Redis, with the benchmark's key and policy. */
async function startFleet(dir: string, config: Record<string, unknown>) {
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
      ...config,
      security: {
        ...(config.security as Record<string, unknown> | undefined),
        policy: {
          rules: [
            {
              tools: ['code_execute'],
              risk: 'LOW',
              conditions: [{ param: 'code', matches: String.raw`^print\('bench'\)$|^print\(\d+\)$` }],
              description: 'Benchmark programs',
            },
            {
              tools: ['code_execute'],
              risk: 'LOW',
              conditions: [{ param: 'code', matches: '^# first byte\n' }],
              description: 'Benchmark: the first-byte program',
            },
            {
              tools: ['code_execute'],
              risk: 'CRITICAL',
              timeout: EXPIRY_SECONDS,
              conditions: [{ param: 'code', matches: '# EXPIRES' }],
              description: 'Benchmark: an approval nobody answers',
            },
          ],
        },
      },
    }),
  );
  const fleet = new LocalFleet({
    configPath,
    redisUrl: redis.url,
    logDir: join(dir, 'logs'),
    apiPort: 0,
    opsPort: 0,
    nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir)}`] : [],
  });
  await fleet.start();
  const client = new HarombeClient({ baseUrl: fleet.apiUrl, apiKey: KEY });
  return {
    fleet,
    redis,
    client,
    /** Stops the fleet and answers the warnings and errors its services logged, counted by message. */
    async stop(): Promise<Record<string, number>> {
      await fleet.stop();
      await redis.stop();
      return loggedProblems(join(dir, 'logs'));
    },
  };
}

/**
 * Warnings and errors in the services' JSON logs, counted by message: a fleet holding its load
 * logs no failed lock renewal, lost worker or failed job.
 */
function loggedProblems(logDir: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const file of readdirSync(logDir)) {
    for (const line of readFileSync(join(logDir, file), 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      if ((entry.level ?? 0) < 40) continue;
      const what = `${entry.msg ?? ''}${entry.err?.message ? `: ${entry.err.message}` : ''}`.slice(0, 160);
      counts[what] = (counts[what] ?? 0) + 1;
    }
  }
  return counts;
}

const met = (ok: boolean) => (ok ? 'met' : 'NOT met');

async function main(): Promise<void> {
  const bars = {
    p50_ratio_max: 1.25,
    throughput_ratio_min: 0.8,
    api_rss_mb_max: 200,
    oneshot_throughput_ratio_min: 1.0,
    get_p99_ms_max: 200,
    approval_expiry_lateness_ms_max: 2000,
    idle_cpu_percent_max: 0.2,
    first_byte_ratio_max: 1.25,
    second_line_delta_ms_max: 100,
  };
  process.stderr.write(
    `fleet benchmark: kept rounds of ${jobsPerRound} jobs at concurrency ${concurrencies.join(', ')}; a one-shot batch of ${oneShotJobs}; ${idleSandboxes} idle sandboxes\n`,
  );

  // Kept sandboxes, and the API's memory under a large batch.
  const kept = await startFleet(mkdtempSync(join(tmpdir(), 'harombe-bench-')), {
    worker: { concurrency: Math.max(...concurrencies) },
  });
  const rounds = [];
  const problems: Record<string, Record<string, number>> = {};
  let memory: Awaited<ReturnType<typeof batchMemory>> | undefined;
  let firstByteResult: Awaited<ReturnType<typeof firstByte>> | undefined;
  try {
    const pids = fleetProcesses(kept.fleet, kept.redis);
    for (const concurrency of only.has('rounds') ? concurrencies : []) {
      const { raw, fleet: fleetSide, fleetCpuPerJob } = await keptRound(kept.client, concurrency, pids);
      rounds.push({
        concurrency,
        raw,
        fleet: fleetSide,
        ratios: {
          p50: fleetSide.p50_ms / raw.p50_ms,
          p95: fleetSide.p95_ms / raw.p95_ms,
          throughput: fleetSide.throughput_per_s / raw.throughput_per_s,
        },
        fleet_cpu_ms_per_job: fleetCpuPerJob,
      });
    }
    if (only.has('first_byte')) firstByteResult = await firstByte(kept.client, firstByteRuns);
    if (only.has('memory')) memory = await batchMemory(kept.client, kept.fleet.api!.child.pid!);
  } finally {
    problems.kept = await kept.stop();
  }

  // One-shot jobs, nothing made beforehand; then idle kept sandboxes.
  let oneshot;
  let idle;
  if (only.has('oneshot') || only.has('idle')) {
    const maxSandboxes = Math.max(8, idleSandboxes + ONE_SHOT_CONCURRENCY + 2);
    const oneShotFleet = await startFleet(mkdtempSync(join(tmpdir(), 'harombe-bench-')), {
      worker: { concurrency: ONE_SHOT_CONCURRENCY, max_sandboxes: maxSandboxes },
      quotas: { max_sandboxes_per_tenant: idleSandboxes },
      security: { sandbox: { warm_pool: { python: 0 } } },
    });
    try {
      if (only.has('oneshot')) {
        const raw = summarize(await rawOneShot(rawOneShotRuns, ONE_SHOT_CONCURRENCY));
        const pids = fleetProcesses(oneShotFleet.fleet, oneShotFleet.redis);
        const spent: Record<string, number> = {};
        const fleetSide = await addCpuSpent(pids, spent, () =>
          fleetOneShot(oneShotFleet.client, oneShotJobs, maxSandboxes),
        );
        oneshot = {
          concurrency: ONE_SHOT_CONCURRENCY,
          raw: { runs: rawOneShotRuns, ...raw },
          fleet: fleetSide,
          throughput_ratio: fleetSide.throughput_per_s / raw.throughput_per_s,
          fleet_cpu_ms_per_job: perJob(spent, oneShotJobs),
        };
      }
      if (only.has('idle')) idle = await idleCost(oneShotFleet.client, idleSandboxes, idleSeconds);
    } finally {
      problems.oneshot = await oneShotFleet.stop();
    }
  }

  if (rounds.length > 0) {
    console.log(
      '\n| concurrency | raw p50 ms | fleet p50 ms | p50 ratio | raw p95 ms | fleet p95 ms | raw jobs/s | fleet jobs/s | throughput ratio |',
    );
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  }
  for (const r of rounds) {
    console.log(
      `| ${r.concurrency} | ${r.raw.p50_ms.toFixed(0)} | ${r.fleet.p50_ms.toFixed(0)} | ${r.ratios.p50.toFixed(2)}x ${met(r.ratios.p50 <= bars.p50_ratio_max)} | ${r.raw.p95_ms.toFixed(0)} | ${r.fleet.p95_ms.toFixed(0)} | ${r.raw.throughput_per_s.toFixed(2)} | ${r.fleet.throughput_per_s.toFixed(2)} | ${r.ratios.throughput.toFixed(2)}x ${met(r.ratios.throughput >= bars.throughput_ratio_min)} |`,
    );
  }
  for (const r of rounds) {
    const cpu = Object.entries(r.fleet_cpu_ms_per_job).map(([name, ms]) => `${name} ${ms.toFixed(1)}`);
    console.log(`CPU of the fleet's own processes per job at concurrency ${r.concurrency} (ms): ${cpu.join(', ')}`);
    const whole = ({ cpu_ms_per_job: cpu }: { cpu_ms_per_job: { host: number; in_containers: number } }) =>
      `${cpu.host.toFixed(1)} (in containers ${cpu.in_containers.toFixed(1)})`;
    console.log(`  the host's CPU per job (ms): raw ${whole(r.raw)}, fleet ${whole(r.fleet)}`);
    const phases = Object.entries(r.fleet.phases_p50_ms ?? {}).map(([name, ms]) => `${name} ${ms.toFixed(0)}`);
    console.log(`  where a job's time goes at concurrency ${r.concurrency} (p50 ms): ${phases.join(', ')}`);
  }
  if (memory) {
    console.log(
      `\nAPI memory while accepting a ${memory.jobs}-job batch: ${memory.api_rss_before_mb.toFixed(0)} MB before, ${memory.api_rss_peak_mb.toFixed(0)} MB peak (bar < ${bars.api_rss_mb_max} MB: ${met(memory.api_rss_peak_mb < bars.api_rss_mb_max)}); accepted in ${(memory.accept_ms / 1000).toFixed(1)} s`,
    );
  }
  if (firstByteResult) {
    const f = firstByteResult;
    console.log(
      `\nFirst byte (prints, sleeps 1 s, prints), ${f.fleet.runs.length} runs each way, through the event stream vs docker exec reading its pipe:`,
    );
    console.log(
      `- first byte: fleet p50 ${f.fleet.first_byte_p50_ms.toFixed(0)} ms, raw p50 ${f.raw.first_byte_p50_ms.toFixed(0)} ms: ${f.first_byte_ratio.toFixed(2)}x (bar <= ${bars.first_byte_ratio_max}x: ${met(f.first_byte_ratio <= bars.first_byte_ratio_max)})`,
    );
    console.log(
      `- second line: fleet p50 ${f.fleet.second_line_p50_ms.toFixed(0)} ms, raw p50 ${f.raw.second_line_p50_ms.toFixed(0)} ms: ${f.second_line_delta_ms.toFixed(0)} ms later (bar <= ${bars.second_line_delta_ms_max} ms: ${met(f.second_line_delta_ms <= bars.second_line_delta_ms_max)})`,
    );
  }
  if (oneshot) {
    const o = oneshot;
    console.log(
      `\nOne-shot batch of ${o.fleet.jobs} print(i) jobs at concurrency ${o.concurrency}, nothing made beforehand:`,
    );
    console.log(
      `- throughput: fleet ${o.fleet.throughput_per_s.toFixed(2)} jobs/s, raw docker run --rm ${o.raw.throughput_per_s.toFixed(2)} runs/s: ${o.throughput_ratio.toFixed(2)}x (bar >= ${bars.oneshot_throughput_ratio_min}x: ${met(o.throughput_ratio >= bars.oneshot_throughput_ratio_min)})`,
    );
    console.log(
      `- job started -> finished p50 ${o.fleet.started_to_finished_ms.p50.toFixed(0)} ms, p95 ${o.fleet.started_to_finished_ms.p95.toFixed(0)} ms; accepted -> finished p50 ${(o.fleet.accepted_to_finished_ms.p50 / 1000).toFixed(1)} s, p95 ${(o.fleet.accepted_to_finished_ms.p95 / 1000).toFixed(1)} s; raw run p50 ${o.raw.p50_ms.toFixed(0)} ms`,
    );
    console.log(
      `- live sandboxes: peak ${o.fleet.peak_live_sandboxes} (bar <= max_sandboxes ${o.fleet.max_sandboxes}: ${met(o.fleet.peak_live_sandboxes <= o.fleet.max_sandboxes)}), 10 s after the batch ${o.fleet.live_sandboxes_10s_after} (bar = pool target 0: ${met(o.fleet.live_sandboxes_10s_after === 0)})`,
    );
    console.log(
      `- GET /v1/jobs/{id} during the batch: p50 ${o.fleet.get_job_ms.p50.toFixed(0)} ms, p99 ${o.fleet.get_job_ms.p99.toFixed(0)} ms over ${o.fleet.get_job_ms.samples} (bar < ${bars.get_p99_ms_max} ms: ${met(o.fleet.get_job_ms.p99 < bars.get_p99_ms_max)})`,
    );
    console.log(
      `- an approval left to expire: ${o.fleet.expired_status}, ${o.fleet.approval_expiry_lateness_ms} ms after its deadline (bar <= ${bars.approval_expiry_lateness_ms_max} ms: ${met(o.fleet.expired_status === 'expired' && (o.fleet.approval_expiry_lateness_ms ?? Infinity) <= bars.approval_expiry_lateness_ms_max)})`,
    );
    const cpu = Object.entries(o.fleet_cpu_ms_per_job).map(([name, ms]) => `${name} ${ms.toFixed(1)}`);
    console.log(`- CPU of the fleet's own processes per job (ms): ${cpu.join(', ')}`);
  }
  if (idle) {
    console.log(
      `\nIdle: ${idle.sandboxes} kept sandboxes over ${idle.seconds} s used ${idle.cpu_percent_of_a_core_each.mean.toFixed(3)} % of a core each on average, ${idle.cpu_percent_of_a_core_each.max.toFixed(3)} % at most (bar <= ${bars.idle_cpu_percent_max} %: ${met(idle.cpu_percent_of_a_core_each.max <= bars.idle_cpu_percent_max)})`,
    );
  }
  for (const [fleet, counts] of Object.entries(problems)) {
    const lines = Object.entries(counts).map(([what, n]) => `${n}× ${what}`);
    console.log(`\nWarnings and errors the ${fleet} fleet logged: ${lines.length ? lines.join('; ') : 'none'}`);
  }
  const out = resolve(import.meta.dirname, '../../../bench-results');
  mkdirSync(out, { recursive: true });
  const date = new Date().toISOString();
  const ran = {
    rounds: rounds.length > 0 ? rounds : undefined,
    memory,
    first_byte: firstByteResult,
    oneshot,
    idle,
  };
  // A run of some scenarios (--only) keeps the others' figures from the file, each with its date.
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(readFileSync(join(out, 'fleet.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    previous = {};
  }
  const previousDates = (previous.dates ?? {}) as Record<string, string>;
  const sections: Record<string, unknown> = {};
  const dates: Record<string, string> = {};
  for (const [name, value] of Object.entries(ran)) {
    const kept = value === undefined && previous[name] !== undefined;
    sections[name] = kept ? previous[name] : value;
    if (value !== undefined) dates[name] = date;
    else if (kept) dates[name] = previousDates[name] ?? String(previous.date);
  }
  writeFileSync(
    join(out, 'fleet.json'),
    JSON.stringify(
      {
        date,
        dates,
        program: PROGRAM,
        jobs_per_round: jobsPerRound,
        limits: sandboxConfig.limits,
        ...sections,
        rounds: sections.rounds ?? [],
        logged_problems: problems,
        bars,
      },
      null,
      2,
    ),
  );
  console.log('\nwritten to bench-results/fleet.json');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
