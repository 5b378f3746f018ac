import type { CodeCreateSandboxParams, Language } from '@harombe/core';
import type { Command } from 'commander';
import { connectionFlags, createClient } from '../api-client-options.js';
import { CliError, EXIT } from '../cli-error.js';

interface CreateFlags {
  language: Language;
  network?: boolean;
  allowDomain?: string[];
  idleTimeout?: number;
}

/** `harombe sandboxes list`. */
export async function runSandboxesList(_options: unknown, command: Command): Promise<void> {
  const client = createClient('submit', { flags: connectionFlags(command) });
  process.stdout.write(`${JSON.stringify(await client.listSandboxes(), null, 2)}\n`);
}

/** `harombe sandboxes create`. */
export async function runSandboxesCreate(options: CreateFlags, command: Command): Promise<void> {
  if (options.allowDomain && !options.network) {
    throw new CliError('InvalidArgument', '--allow-domain needs --network');
  }
  const client = createClient('submit', { flags: connectionFlags(command) });
  const params: CodeCreateSandboxParams = {
    language: options.language,
    ...(options.network ? { network_enabled: true, allowed_domains: options.allowDomain ?? [] } : {}),
    ...(options.idleTimeout ? { idle_timeout: options.idleTimeout } : {}),
  };
  const result = await client.createSandbox(params);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.exitCode = result.success ? EXIT.ok : EXIT.failed;
}

/** `harombe sandboxes destroy`. */
export async function runSandboxesDestroy(sandboxId: string, _options: unknown, command: Command): Promise<void> {
  const client = createClient('submit', { flags: connectionFlags(command) });
  const job = await client.destroySandbox(sandboxId);
  process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
  process.exitCode = job.status === 'completed' && job.result?.success === true ? EXIT.ok : EXIT.failed;
}
