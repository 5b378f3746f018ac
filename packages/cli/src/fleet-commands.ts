import type { Command } from 'commander';
import { CliError } from './cli-error.js';

/**
 * The commands that need this host's Docker, Redis or the fleet's services. They come with
 * @harombe/local-fleet, which `harombe` loads when it is installed beside it (in this
 * repository it always is): the client commands stay free of Bolt, BullMQ, dockerode and fastify.
 */
export const FLEET_COMMANDS = ['up', 'run', 'doctor', 'audit', 'policy'] as const;

/** What @harombe/local-fleet/commands provides. */
export interface FleetCommandsPlugin {
  registerFleetCommands(program: Command): void;
}

export const FLEET_COMMANDS_MODULE = '@harombe/local-fleet/commands';

/**
 * The fleet commands' module, or undefined when the package is not installed. Any other failure
 * (the package is there but broken, one of its own dependencies missing) is thrown.
 */
export async function loadFleetCommands(
  specifier: string = FLEET_COMMANDS_MODULE,
): Promise<FleetCommandsPlugin | undefined> {
  try {
    return (await import(specifier)) as FleetCommandsPlugin;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND';
    const packageName = specifier.split('/').slice(0, 2).join('/');
    if (missing && (error as Error).message.includes(`'${packageName}'`)) return undefined;
    throw error;
  }
}

/**
 * Adds the fleet commands to `program`: those of @harombe/local-fleet, or, when it is not
 * installed, commands of the same names that say how to get them.
 */
export async function registerFleetCommands(
  program: Command,
  load: () => Promise<FleetCommandsPlugin | undefined> = () => loadFleetCommands(),
): Promise<void> {
  const plugin = await load();
  if (plugin) return plugin.registerFleetCommands(program);
  for (const name of FLEET_COMMANDS) {
    program
      .command(name)
      .description('(needs @harombe/local-fleet, not installed)')
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new CliError(
          'RuntimeUnavailable',
          `\`harombe ${name}\` comes with @harombe/local-fleet: install it beside @harombe/cli (a clone of the repository has both)`,
        );
      });
  }
}
