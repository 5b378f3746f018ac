import { readFileSync } from 'node:fs';
import { seconds } from '@harombe/cli';
import { loadConfig, LANGUAGES } from '@harombe/core';
import { Option, type Command } from 'commander';

/** `harombe run`: one program in a fresh sandbox on this host, without the fleet. */
export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run one program in a fresh local sandbox (no fleet), print its output and exit with its exit code')
    .addOption(
      new Option('-l, --language <language>', 'language of the program').choices(LANGUAGES).makeOptionMandatory(),
    )
    .option('-c, --code <code>', 'the program text (instead of a file)')
    .option('-t, --timeout <seconds>', 'time limit (default: the configured max_execution_time)', seconds)
    .argument('[file]', 'file holding the program ("-" for stdin)')
    .action(
      async (
        file: string | undefined,
        options: { language: string; code?: string; timeout?: number },
        command: Command,
      ) => {
        const code = options.code ?? (file === undefined ? undefined : readFileSync(file === '-' ? 0 : file, 'utf8'));
        if (code === undefined) return command.error('give a file, "-" for stdin, or --code');
        const configPath = program.opts<{ config?: string }>().config ?? process.env.HAROMBE_CONFIG;
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
      },
    );
}
