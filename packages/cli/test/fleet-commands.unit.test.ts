import { spawnSync } from 'node:child_process';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { CliError } from '../src/cli-error.js';
import { FLEET_COMMANDS, registerFleetCommands } from '../src/fleet-commands.js';
import { harombe } from './harombe-cli.js';

/** What loadFleetCommands(specifier) of the built CLI makes of a module, in plain Node (not vitest's loader). */
function load(specifier: string): string {
  const module = new URL('../dist/fleet-commands.js', import.meta.url).href;
  const program = `import { loadFleetCommands } from ${JSON.stringify(module)};
loadFleetCommands(${JSON.stringify(specifier)}).then(
  (plugin) => console.log(plugin === undefined ? 'not installed' : typeof plugin.registerFleetCommands),
  (error) => console.log('error: ' + error.code),
);`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8' }).stdout.trim();
}

describe('the fleet commands (up, run, doctor, audit, policy)', () => {
  it('come from @harombe/local-fleet, installed beside the CLI in this repository', async () => {
    expect(load('@harombe/local-fleet/commands')).toBe('function');
    const help = harombe(['up', '--help']);
    expect(help.stdout).toMatch(/--exit-after-first-job/);
    expect(help.status).toBe(0);
  });

  it('without the package, are listed and say how to get them', async () => {
    expect(load('@harombe/not-installed/commands')).toBe('not installed');
    const program = new Command().exitOverride();
    await registerFleetCommands(program, () => Promise.resolve(undefined));
    expect(program.commands.map((command) => command.name())).toEqual([...FLEET_COMMANDS]);
    const run = program.parseAsync(['node', 'harombe', 'up', '--port', '9000']);
    await expect(run).rejects.toThrow(CliError);
    await expect(run).rejects.toMatchObject({
      code: 'RuntimeUnavailable',
      message: expect.stringMatching(/^`harombe up` comes with @harombe\/local-fleet/),
    });
  });

  it('a fleet package that is there but broken is an error, not a missing package', async () => {
    // A package that is installed but lacks the module: not "not installed".
    expect(load('@harombe/core/commands')).toBe('error: ERR_PACKAGE_PATH_NOT_EXPORTED');
  });
});
