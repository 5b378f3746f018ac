import { lazyAction } from '@harombe/cli/command-kit';
import type { Command } from 'commander';

/** `harombe up`: the all-in-one local fleet, in the foreground until Ctrl-C. */
export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description(
      'start the all-in-one local fleet (API, approvals, one worker), run a first job, and serve until Ctrl-C',
    )
    .option('--workers <n>', 'worker processes', (v) => Number.parseInt(v, 10), 1)
    .option('--port <port>', 'API port (default: api.port of the configuration, 8080)', (v) => Number.parseInt(v, 10))
    .option('--no-first-job', 'do not run the first job')
    .option(
      '--mcp-port <port>',
      'port of the MCP service (Streamable HTTP; default: mcp.port of the configuration, 8090)',
      (v) => Number.parseInt(v, 10),
    )
    .option('--no-mcp', 'do not start the MCP service')
    .option('--exit-after-first-job', 'stop the fleet once the first job has run (for scripts)', false)
    .action(lazyAction(() => import('./up.js'), 'runUp'));
}
