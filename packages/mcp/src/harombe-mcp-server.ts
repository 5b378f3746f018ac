import { createRequire } from 'node:module';
import type { HarombeClient } from '@harombe/client';
import { fieldProblems, formatProblem, invalidInputCode, TOOLS } from '@harombe/core';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  type CallToolResult,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { DEFAULT_FACTS, type DeploymentFacts } from './deployment-facts.js';
import { EventStreamJobFollower } from './event-stream-job-follower.js';
import type { JobFollower } from './job-follower.js';
import { ProgressReporter } from './progress-reporter.js';
import { ToolCall, toolError, type CallOutcome } from './tool-call.js';
import { toolDefinitions } from './tool-definitions.js';
import { MCP_TOOL_NAMES, serverInstructions, type McpToolName } from './tool-descriptions.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** One tool call that ended, for metrics and logs. */
export interface McpCallEvent {
  tool: string;
  outcome: CallOutcome;
  seconds: number;
  /** The job it submitted, when it got that far. */
  jobId?: string;
  /** The Streamable HTTP session it came in (none over stdio). */
  session?: string;
}

export interface HarombeMcpServerOptions {
  /** The API, with the key of the caller this server acts for. */
  client: HarombeClient;
  /** The limits the tool descriptions tell. Default: the documented defaults (DEFAULT_FACTS). */
  facts?: DeploymentFacts;
  /** How calls follow their jobs to the end. Default: an EventStreamJobFollower on `client` (output as it comes). */
  follower?: JobFollower;
  /** Milliseconds between progress notifications while a job's state does not change. Default 10_000. */
  heartbeatMs?: number;
  /** Told of every call once it ended. Default: nobody. */
  onCallEnded?: (event: McpCallEvent) => void;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

function isMcpTool(name: string): name is McpToolName {
  return (MCP_TOOL_NAMES as readonly string[]).includes(name);
}

/**
 * The fleet as an MCP server: tools/list answers the six tools, their JSON Schemas generated from
 * the core contracts; tools/call checks the arguments against the same contracts, then runs the
 * call as a job of the API (see ToolCall). One instance serves one connection (a stdio process,
 * or one Streamable HTTP session), for one API key.
 *
 * It answers tools/call itself on the SDK's Server, rather than through McpServer.registerTool,
 * because McpServer refuses arguments that fail the schema with a text of its own: here a bad
 * argument is a tool error that starts with the stable code (InvalidArgument) and names the field,
 * as the API's refusals do.
 */
export class HarombeMcpServer {
  readonly server: Server;
  private readonly follower: JobFollower;
  private readonly active = new Set<Promise<unknown>>();

  constructor(private readonly options: HarombeMcpServerOptions) {
    const facts = options.facts ?? DEFAULT_FACTS;
    this.follower = options.follower ?? new EventStreamJobFollower(options.client);
    this.server = new Server(
      { name: 'harombe', title: 'Harombe Fleet', version },
      { capabilities: { tools: {} }, instructions: serverInstructions(facts) },
    );
    const tools = toolDefinitions(facts);
    this.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
    this.server.setRequestHandler(CallToolRequestSchema, (request, extra) =>
      this.track(this.call(request.params.name, request.params.arguments, extra)),
    );
  }

  /** Tool calls under way. */
  get activeCalls(): number {
    return this.active.size;
  }

  async connect(transport: Transport): Promise<void> {
    await this.server.connect(transport);
  }

  /**
   * Closes the connection: calls under way are aborted, which cancels their jobs; answers once
   * those cancellations are done.
   */
  async close(): Promise<void> {
    await this.server.close();
    await Promise.allSettled([...this.active]);
  }

  private async track<T>(work: Promise<T>): Promise<T> {
    this.active.add(work);
    try {
      return await work;
    } finally {
      this.active.delete(work);
    }
  }

  private async call(name: string, args: Record<string, unknown> | undefined, extra: Extra): Promise<CallToolResult> {
    const started = Date.now();
    const ended = (outcome: CallOutcome, result: CallToolResult, jobId?: string): CallToolResult => {
      this.options.onCallEnded?.({
        tool: isMcpTool(name) ? name : 'unknown',
        outcome,
        seconds: (Date.now() - started) / 1000,
        ...(jobId ? { jobId } : {}),
      });
      return result;
    };
    if (!isMcpTool(name)) {
      return ended(
        'error',
        toolError('UnknownTool', `there is no tool "${name}"; the tools are ${MCP_TOOL_NAMES.join(', ')}`),
      );
    }
    const params = args ?? {};
    const checked = TOOLS[name].params.safeParse(params);
    if (!checked.success) {
      const problems = fieldProblems(checked.error.issues, { whole: '(arguments)' });
      // As the API: a language it does not know is UnsupportedLanguage.
      const code = invalidInputCode(problems[0]?.field ?? '', 'params');
      return ended('error', toolError(code, `${name}: ${problems.map(formatProblem).join('; ')}`));
    }
    const call = new ToolCall({
      client: this.options.client,
      follower: this.follower,
      tool: name,
      params,
      signal: extra.signal,
      progress: new ProgressReporter(extra._meta?.progressToken, extra.sendNotification),
      ...(this.options.heartbeatMs === undefined ? {} : { heartbeatMs: this.options.heartbeatMs }),
    });
    const { result, outcome, jobId } = await call.run();
    return ended(outcome, result, jobId);
  }
}
