import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { HarombeMcpServer, type HarombeMcpServerOptions } from './harombe-mcp-server.js';

export interface ServeStdioOptions extends HarombeMcpServerOptions {
  /** Default: process.stdin. */
  stdin?: Readable;
  /** Where the protocol's messages go, and nothing else. Default: process.stdout. */
  stdout?: Writable;
  /** Ends the serving (SIGINT, SIGTERM) as if the client had closed stdin. Default: none. */
  signal?: AbortSignal;
  /** Told of what the transport could not take (a line that is not JSON-RPC, ...). Default: nobody. */
  onError?: (error: Error) => void;
}

/**
 * Serves MCP over stdin and stdout, for a client that starts the server as its child process,
 * until the client closes stdin (or `signal` aborts). Calls still under way then have their jobs
 * cancelled before this answers.
 */
export async function serveStdio(options: ServeStdioOptions): Promise<void> {
  const stdin = options.stdin ?? process.stdin;
  const mcp = new HarombeMcpServer(options);
  if (options.onError) mcp.server.onerror = options.onError;
  const ended = new Promise<void>((resolve) => {
    // The SDK's transport does not watch for the end of its input: a client that exits ends here.
    stdin.once('end', resolve);
    stdin.once('close', resolve);
    mcp.server.onclose = resolve;
    if (options.signal?.aborted) resolve();
    options.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  await mcp.connect(new StdioServerTransport(stdin, options.stdout ?? process.stdout));
  await ended;
  await mcp.close();
}
