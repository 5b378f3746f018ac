import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { harombeHome, readLocalCredentials, writeLocalCredentials } from '@harombe/cli';
import { HarombeClient } from '@harombe/client';
import { loadConfig } from '@harombe/core';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { LocalFleet } from '../local-fleet.js';
import { LocalRedis } from '../local-redis.js';

const LOCAL_REDIS_PORT = 6390;
const FIRST_JOB =
  'import platform, sys\nprint(f"Hello from a gVisor sandbox: Python {sys.version.split()[0]} on {platform.system()} {platform.release()}")\n';

interface UpOptions {
  config?: string;
  workers: number;
  port?: number;
  firstJob: boolean;
  exitAfterFirstJob: boolean;
  /** false with --no-mcp. */
  mcp: boolean;
  mcpPort?: number;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const newKey = (): string => `hk_${randomBytes(32).toString('base64url')}`;

/** The configuration `up` writes on first use: two local keys, a local Redis. */
function writeDefaultConfig(path: string, apiPort: number): { submit: string; approve: string } {
  const keys = { submit: newKey(), approve: newKey() };
  writeFileSync(
    path,
    [
      '# Made by `harombe up` for the all-in-one local fleet. Edit freely; see README.md.',
      'redis:',
      `  url: redis://127.0.0.1:${LOCAL_REDIS_PORT}`,
      'api:',
      `  port: ${apiPort}`,
      '  keys:',
      `    - { name: local-submitter, tenant: local, scopes: [submit], key_sha256: ${sha256(keys.submit)} }`,
      `    - { name: local-approver, tenant: local, scopes: [submit, approve, admin], key_sha256: ${sha256(keys.approve)} }`,
      'security:',
      '  sandbox:',
      '    warm_pool: { python: 1 }',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return keys;
}

function redisIsConfigured(configPath: string): boolean {
  const raw = parseYaml(readFileSync(configPath, 'utf8')) as { redis?: { url?: string } } | null;
  return Boolean(process.env.HAROMBE_REDIS_URL || raw?.redis?.url);
}

/** `harombe up` once its arguments are parsed (up-command.ts defines them). */
export async function runUp(options: UpOptions, command: Command): Promise<void> {
  const home = harombeHome();
  let configPath = command.optsWithGlobals<{ config?: string }>().config ?? process.env.HAROMBE_CONFIG;
  if (!configPath) {
    configPath = join(home, 'harombe.yaml');
    if (!existsSync(configPath) || !readLocalCredentials()) {
      mkdirSync(home, { recursive: true, mode: 0o700 });
      const keys = writeDefaultConfig(configPath, options.port ?? 8080);
      writeLocalCredentials({ api_url: `http://127.0.0.1:${options.port ?? 8080}`, keys });
      console.error(`harombe: wrote ${configPath} and local keys in ${join(home, 'local.json')}`);
    }
  }
  configPath = resolve(configPath);
  const config = loadConfig(configPath);
  let redisUrl = process.env.HAROMBE_REDIS_URL ?? config.redis.url;
  let localRedis: LocalRedis | undefined;
  if (!redisIsConfigured(configPath) || new URL(redisUrl).port === String(LOCAL_REDIS_PORT)) {
    localRedis = new LocalRedis(LOCAL_REDIS_PORT, join(home, 'redis'));
    console.error(`harombe: local Redis ${await localRedis.start()} on ${localRedis.url}`);
    redisUrl = localRedis.url;
  }
  const fleet = new LocalFleet({
    configPath,
    redisUrl,
    logDir: join(home, 'logs'),
    workers: options.workers,
    ...(options.port ? { apiPort: options.port } : {}),
    opsPort: 0,
    // A service that dies is said and started again: `up` never serves without a worker.
    supervise: { report: (message) => console.error(`harombe: ${message}`) },
  });
  console.error(`harombe: starting the fleet (approval service, worker, API${options.mcp ? ', MCP' : ''})…`);
  const stop = async (): Promise<void> => {
    console.error('harombe: stopping the fleet…');
    await fleet.stop();
    await localRedis?.stop();
  };
  try {
    await fleet.start();
  } catch (error) {
    await stop();
    throw error;
  }
  const credentials = readLocalCredentials();
  if (credentials && credentials.api_url !== fleet.apiUrl)
    writeLocalCredentials({ ...credentials, api_url: fleet.apiUrl });
  console.error(`harombe: fleet ready at ${fleet.apiUrl} (logs in ${join(home, 'logs')})`);
  if (options.mcp) await startMcp(fleet, options.mcpPort ?? config.mcp.port);
  if (options.firstJob && credentials) await runFirstJob(fleet.apiUrl, credentials.keys);
  if (options.exitAfterFirstJob) return stop();
  console.error(
    'harombe: serving; try `npx harombe exec --language python -c "print(1+1)"` in another terminal (code execution is HIGH risk: ' +
      'approve it from a third with the command it shows). Ctrl-C stops.',
  );
  await new Promise<void>((done, fail) => {
    process.once('SIGINT', () => void stop().then(done, fail));
    process.once('SIGTERM', () => void stop().then(done, fail));
  });
}

/** The MCP service beside the fleet; one that cannot start (its port taken, say) is said, not fatal. */
async function startMcp(fleet: LocalFleet, port: number): Promise<void> {
  try {
    await fleet.startMcp(port);
    console.error(`harombe: MCP (Streamable HTTP, bearer = an API key) at ${fleet.mcpUrl}`);
  } catch (error) {
    console.error(
      `harombe: the MCP service did not start on port ${port} (${(error as Error).message}); ` +
        'the fleet serves without it (--mcp-port picks another port, --no-mcp leaves it out)',
    );
    await fleet.mcp?.stop();
  }
}

/** Submits a first Python job, approves it as the local approver (HIGH risk needs a person), prints its output. */
async function runFirstJob(apiUrl: string, keys: { submit: string; approve: string }): Promise<void> {
  const submitter = new HarombeClient({ baseUrl: apiUrl, apiKey: keys.submit });
  const approver = new HarombeClient({ baseUrl: apiUrl, apiKey: keys.approve });
  const job = await submitter.submitJob({ tool: 'code_execute', params: { language: 'python', code: FIRST_JOB } });
  console.error(`harombe: first job ${job.job_id}: risk ${job.risk} (${job.risk_reason}), ${job.status}`);
  if (job.approval) {
    const decision = await approver.approve(job.approval.approval_id, 'first job of harombe up');
    console.error(`harombe: approved by ${decision.approval.decided_by}`);
  }
  const done = await submitter.waitForJob(job.job_id, { timeoutMs: 120_000 });
  const result = done.result as { stdout?: string; stderr?: string; exit_code?: number } | null;
  process.stdout.write(result?.stdout ?? '');
  process.stderr.write(result?.stderr ?? '');
  console.error(`harombe: first job ${done.status}, exit code ${result?.exit_code ?? '?'}`);
  if (done.status !== 'completed' || result?.exit_code !== 0)
    throw new Error(`the first job did not succeed: ${JSON.stringify(done.error ?? done.result)}`);
}
