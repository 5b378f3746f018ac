import { readFileSync } from 'node:fs';
import { loadConfig } from '@harombe/core';
import type { Command } from 'commander';

/** `harombe run` once its arguments are parsed (run-command.ts defines them). */
export async function runLocally(
  file: string | undefined,
  options: { language: string; code?: string; timeout?: number },
  command: Command,
): Promise<void> {
  const code = options.code ?? (file === undefined ? undefined : readFileSync(file === '-' ? 0 : file, 'utf8'));
  if (code === undefined) return command.error('give a file, "-" for stdin, or --code');
  const configPath = command.optsWithGlobals<{ config?: string }>().config ?? process.env.HAROMBE_CONFIG;
  const config = configPath ? loadConfig(configPath).security.sandbox : {};
  // Loaded here: the sandbox runtime (and dockerode) would slow every other command's start.
  const [{ SandboxManager }, { pino }] = await Promise.all([import('@harombe/sandbox'), import('pino')]);
  const manager = new SandboxManager({
    config,
    logger: pino({ level: process.env.LOG_LEVEL ?? 'warn' }),
    sweepIntervalMs: 0,
  });
  await manager.start();
  const owner = 'local';
  const { sandbox_id } = await manager.create({ language: options.language, owner });
  try {
    const result = await manager.execute(sandbox_id, owner, {
      code,
      ...(options.timeout ? { timeout: options.timeout } : {}),
    });
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    if (result.error) process.stderr.write(`harombe: ${result.error} after ${result.execution_time} s\n`);
    process.exitCode = result.exit_code >= 0 && result.exit_code < 256 ? result.exit_code : 1;
  } finally {
    await manager.destroy(sandbox_id, owner);
    await manager.stop();
  }
}
