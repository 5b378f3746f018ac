import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

/**
 * `harombe mcp`: an MCP server over stdin and stdout, for an MCP client that starts it as its
 * child process. Its tool calls are jobs of the fleet's API with the caller's key, so tenants,
 * risk, approval, quotas and audit apply as to any job. Nothing but the protocol goes to stdout.
 */
export function registerMcpCommand(program: Command): void {
  program
    .command('mcp')
    .description(
      'serve the tools over MCP on stdin/stdout (for an MCP client to start), each call a job of the API with your key',
    )
    .addHelpText(
      'after',
      [
        '',
        'The key comes from --api-key or $HAROMBE_API_KEY (else the local fleet of `harombe up`), the API from',
        '--api-url or $HAROMBE_API_URL. The limits the tool descriptions tell come from --config or $HAROMBE_CONFIG',
        "(the deployment's harombe.yaml), else the defaults. Over HTTP, run the MCP service instead (see README).",
      ].join('\n'),
    )
    .action(lazyAction(() => import('./mcp.js'), 'runMcp'));
}
