import { HarombeClient, isHarombeApiError } from '@harombe/client';
import { loadConfig } from '@harombe/core';
import { deploymentFacts, serveStdio, DEFAULT_FACTS } from '@harombe/mcp';
import type { Command } from 'commander';
import { connectionFlags, resolveClientOptions } from '../api-client-options.js';
import { CliError } from '../cli-error.js';
import { configPathOf } from '../config-path.js';

/** `harombe mcp` once its arguments are parsed (mcp-command.ts defines them). */
export async function runMcp(_options: unknown, command: Command): Promise<void> {
  const { baseUrl, apiKey, sources } = resolveClientOptions('submit', { flags: connectionFlags(command) });
  const client = new HarombeClient({ baseUrl, apiKey });
  await checkKey(client, sources.apiKey);
  const path = configPathOf(command.optsWithGlobals<{ config?: string }>().config);
  const facts = path ? deploymentFacts(loadConfig(path)) : DEFAULT_FACTS;
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // Until the client closes stdin; calls still under way then have their jobs cancelled.
    await serveStdio({
      client,
      facts,
      signal: stop.signal,
      // stdout carries the protocol alone; what went wrong goes to stderr, which MCP clients log.
      onError: (error) => process.stderr.write(`harombe mcp: ${error.message}\n`),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * A key the API does not know ends the command at once, with the reason on stderr; an API that
 * does not answer yet does not (calls will say so): MCP clients start their servers early.
 */
async function checkKey(client: HarombeClient, source: string): Promise<void> {
  try {
    await client.listSandboxes({ signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    // A key without some scope is still a key: its calls will hear Forbidden from the API.
    if (isHarombeApiError(error, 'Forbidden')) return;
    if (isHarombeApiError(error, 'Unauthorized'))
      throw new CliError('Unauthorized', `the API refused the key from ${source}: ${error.message}`);
    const reason = error instanceof Error ? error.message : String(error);
    process.stderr.write(`harombe mcp: cannot check the key with the API yet (${reason}); serving anyway\n`);
  }
}
