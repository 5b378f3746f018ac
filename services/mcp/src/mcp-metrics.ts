import type { ErrorCode } from '@harombe/core';
import type { McpCallEvent } from '@harombe/mcp';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Seconds a tool call takes: from a quick read to a call that waited a day for a person. */
const CALL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 86_400];

/**
 * What the MCP service sees: tool calls by tool and outcome (succeeded, failed, denied, expired,
 * cancelled, error) and how long they took, open sessions, and requests it refused itself.
 */
export class McpMetrics {
  private readonly calls: Counter<'tool' | 'outcome'>;
  private readonly duration: Histogram<'tool' | 'outcome'>;
  private readonly refused: Counter<'code'>;

  constructor(registry: Registry, sessions: () => number) {
    const registers = [registry];
    this.calls = new Counter({
      name: 'harombe_mcp_tool_calls_total',
      help: 'MCP tool calls ended, by tool and outcome',
      labelNames: ['tool', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'harombe_mcp_tool_call_duration_seconds',
      help: 'Seconds from an MCP tool call to its answer (approval waits included), by tool and outcome',
      labelNames: ['tool', 'outcome'],
      buckets: CALL_BUCKETS,
      registers,
    });
    this.refused = new Counter({
      name: 'harombe_mcp_refused_requests_total',
      help: 'MCP requests refused before reaching a session, by error code',
      labelNames: ['code'],
      registers,
    });
    new Gauge({
      name: 'harombe_mcp_sessions',
      help: 'Streamable HTTP sessions open',
      registers,
      collect() {
        this.set(sessions());
      },
    });
  }

  callEnded(event: McpCallEvent): void {
    this.calls.inc({ tool: event.tool, outcome: event.outcome });
    this.duration.observe({ tool: event.tool, outcome: event.outcome }, event.seconds);
  }

  requestRefused(code: ErrorCode): void {
    this.refused.inc({ code });
  }
}
