import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebhookReceiver } from '@harombe/test-fixtures';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertQueries,
  dashboardQueries,
  keyOf,
  PrometheusServer,
  requirePrometheus,
  resultOf,
  runApproved,
  TestFleet,
  until,
  type DeployQuery,
} from '../src/index.js';

/**
 * A real Prometheus (Debian's binary) scrapes a running fleet, configured like
 * deploy/prometheus/prometheus.yml with its alerts.yml, while jobs flow through every path:
 * approved, denied, cancelled, expired, a tool error, a refused request. Then every query of
 * the Grafana dashboard and every alert must answer data: no panel or alert may name a metric
 * that does not exist, and the values must match what happened. The tests run in order: the
 * queries need the traffic of the one before them.
 */
let fleet: TestFleet | undefined;
let prometheus: PrometheusServer | undefined;
let receiver: WebhookReceiver | undefined;

/** host:port of a service's http://host:port address. */
const hostOf = (address: unknown): string => new URL(String(address)).host;

beforeAll(async () => {
  // Before starting anything: a missing binary must fail the test with its fix, not skip it.
  requirePrometheus();
  receiver = await WebhookReceiver.start();
  fleet = await TestFleet.start({
    workers: 1,
    mcp: true,
    // The receiver listens on loopback, which deliveries may reach only when allowed.
    config: { webhooks: { allowed_ranges: ['127.0.0.1/32'] } },
  });
  const local = fleet.fleet;
  prometheus = await PrometheusServer.start({
    dir: mkdtempSync(join(tmpdir(), 'harombe-prometheus-')),
    targets: {
      'harombe-api': [hostOf(local.apiUrl)],
      'harombe-mcp': [hostOf(local.mcpUrl)],
      'harombe-approval': [hostOf(local.approval?.url)],
      'harombe-worker': local.workers.map((worker) => hostOf(worker.url)),
    },
  });
});

afterAll(async () => {
  await prometheus?.stop();
  await fleet?.stop();
  await receiver?.close();
});

describe('observability of a running fleet', () => {
  it('scrapes the API, the MCP service, the approval service and every worker', async () => {
    const p = prometheus as PrometheusServer;
    const up = await until('every target to be scraped', async () => {
      const samples = await p.query('up');
      return samples.length === 4 && samples.every((sample) => sample.value[1] === '1') && samples;
    });
    expect(up.map((sample) => sample.metric.job).sort()).toEqual([
      'harombe-api',
      'harombe-approval',
      'harombe-mcp',
      'harombe-worker',
    ]);
  });

  it('counts what happens: submissions, approvals, ends, errors, sandboxes, workers', async () => {
    const f = fleet as TestFleet;
    const p = prometheus as PrometheusServer;
    const alice = f.client('alice');
    const bob = f.client('bob');

    // A refused request first: every scrape that shows a later end shows it too.
    const refused = await fetch(`${f.apiUrl}/v1/approvals`, {
      headers: { authorization: `Bearer ${keyOf('alice')}-wrong` },
    });
    expect(refused.status).toBe(401);

    // A job waits for a person until Prometheus has seen it waiting, by risk.
    const held = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("held")', keep_sandbox: true },
    });
    await until(
      'the pending approval in Prometheus',
      async () => (await p.value('max(harombe_queue_depth{queue="approvals", state="awaiting_approval"})')) === 1,
    );
    expect(await p.value('max(harombe_approvals_pending{risk="HIGH"})')).toBe(1);
    await bob.approve(held.approval!.approval_id);
    const first = await alice.waitForJob(held.job_id, { timeoutMs: 120_000 });
    expect(first).toMatchObject({ status: 'completed', result: { stdout: 'held\n' } });

    // An approval nobody answers (2 s), a tool error (no such file), a cold shell sandbox, a
    // denial and a cancel: the API's last events.
    const expiring = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: '# EXPIRES_IN_2S' },
    });
    const sandboxId = resultOf(first).sandbox_id as string;
    const missing = await runApproved(alice, bob, {
      tool: 'code_read_file',
      params: { sandbox_id: sandboxId, file_path: 'missing.txt' },
    });
    expect(missing).toMatchObject({ status: 'completed', result: { error: 'FileNotFound' } });
    expect(
      await runApproved(alice, bob, {
        tool: 'code_execute',
        params: { language: 'shell', code: 'echo cold', keep_sandbox: true },
      }),
    ).toMatchObject({ status: 'completed' });
    const denied = await alice.submitJob({ tool: 'code_execute', params: { language: 'python', code: 'print("no")' } });
    await bob.deny(denied.approval!.approval_id, 'not today');
    const cancelled = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("never")' },
    });
    await alice.cancelJob(cancelled.job_id);
    expect(await alice.waitForJob(expiring.job_id, { timeoutMs: 30_000 })).toMatchObject({ status: 'expired' });

    // Once Prometheus has scraped every end (3 completed by the worker, the API's denial and
    // cancel, the approval service's expiry), each count is exact: every other event a service
    // counts happened before the last end it counts (the cancel, for the API).
    await until('every end in Prometheus', async () => (await p.value('sum(harombe_jobs_total)')) === 6);
    const count = (expr: string) => p.value(`sum(${expr})`);
    expect(await count('harombe_jobs_total{service="worker", status="completed"}')).toBe(3);
    expect(await count('harombe_jobs_total{service="api", status="denied"}')).toBe(1);
    expect(await count('harombe_jobs_total{service="api", status="cancelled"}')).toBe(1);
    expect(await count('harombe_jobs_total{service="approval", status="expired"}')).toBe(1);
    expect(await count('harombe_jobs_submitted_total')).toBe(6);
    expect(await count('harombe_approvals_total{outcome="approved", risk="HIGH"}')).toBe(2);
    expect(await count('harombe_approvals_total{outcome="approved", risk="MEDIUM"}')).toBe(1);
    expect(await count('harombe_approvals_total{outcome="denied"}')).toBe(1);
    expect(await count('harombe_approvals_total{outcome="cancelled"}')).toBe(1);
    expect(await count('harombe_approvals_total{outcome="expired"}')).toBe(1);
    expect(await count('harombe_errors_total{code="FileNotFound"}')).toBe(1);
    expect(await count('harombe_errors_total{code="ApprovalDenied"}')).toBe(1);
    expect(await count('harombe_errors_total{code="ApprovalTimeout"}')).toBe(1);
    expect(await count('harombe_errors_total{service="api", code="Unauthorized"}')).toBeGreaterThanOrEqual(1);
    expect(await count('harombe_job_duration_seconds_count{phase="approval_wait"}')).toBe(4);
    expect(await count('harombe_job_duration_seconds_count{phase="queue_wait"}')).toBe(3);
    expect(await count('harombe_job_duration_seconds_count{phase="execution"}')).toBe(3);
    // The python job's sandbox came from the warm pool, the shell job's was started cold.
    expect(await count('harombe_sandbox_start_seconds_count')).toBe(2);
    expect(await p.value('max(harombe_workers_up)')).toBe(1);
    await until('both sandboxes in Prometheus', async () => (await count('harombe_sandboxes_active')) === 2);
    expect((await p.query('harombe_sandboxes_active'))[0]?.metric.worker).toBe(f.fleet.workers[0]?.workerId);
    expect(await p.value('max(harombe_queue_depth{state="awaiting_approval"})')).toBe(0);
  });

  it('counts what agents and webhooks do: MCP sessions and tool calls, webhook deliveries', async () => {
    const f = fleet as TestFleet;
    const p = prometheus as PrometheusServer;
    const client = new Client({ name: 'harombe-e2e', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(f.mcpUrl), {
      requestInit: { headers: { authorization: `Bearer ${keyOf('alice')}` } },
    });
    await client.connect(transport);
    try {
      await until('the open MCP session in Prometheus', async () => (await p.value('sum(harombe_mcp_sessions)')) === 1);
      // LOW, so it runs at once: a sandbox that does not exist is a tool error, the call's outcome `failed`.
      const destroyed = await client.callTool({
        name: 'code_destroy_sandbox',
        arguments: { sandbox_id: 'sandbox-0123456789abcdef' },
      });
      expect(destroyed.isError).toBe(true);
    } finally {
      await transport.terminateSession();
      await client.close();
    }
    await until(
      'the MCP call in Prometheus',
      async () =>
        (await p.value('sum(harombe_mcp_tool_calls_total{tool="code_destroy_sandbox", outcome="failed"})')) === 1,
    );
    expect(await p.value('sum(harombe_mcp_tool_call_duration_seconds_count)')).toBe(1);
    await until('the closed MCP session in Prometheus', async () => (await p.value('sum(harombe_mcp_sessions)')) === 0);

    // A job that names a callback_url: its job.awaiting_approval event is delivered, then its job.finished.
    const r = receiver as WebhookReceiver;
    const alice = f.client('alice');
    const hooked = await alice.submitJob({
      tool: 'code_execute',
      params: { language: 'python', code: 'print("hooked")' },
      callback_url: r.url(),
    });
    expect(hooked.status).toBe('awaiting_approval');
    await alice.cancelJob(hooked.job_id);
    await until(
      'both deliveries at the receiver',
      async () => r.requests().filter((q) => q.status === 200).length === 2,
    );
    await until(
      'both deliveries in Prometheus',
      async () => (await p.value('sum(harombe_webhook_deliveries_total{outcome="delivered"})')) === 2,
    );
    expect(await p.value('sum(harombe_webhook_events_pending)')).toBe(0);
  });

  it('answers data for every query of the Grafana dashboard and every alert rule', async () => {
    const p = prometheus as PrometheusServer;
    const queries: DeployQuery[] = [...dashboardQueries(), ...alertQueries()];
    expect(queries.length).toBeGreaterThan(20);
    const empty: string[] = [];
    for (const query of queries) {
      // A rate needs two scrapes of a series; give a new one a few seconds.
      const answered = await until(
        `${query.source} to answer`,
        async () => (await p.query(query.expr)).length > 0,
        15_000,
      ).catch(() => false);
      if (!answered) empty.push(`${query.source}: ${query.expr}`);
    }
    expect(empty, 'queries that answer no data (a metric that does not exist?)').toEqual([]);
  });

  it('loads every rule of alerts.yml and evaluates it without error', async () => {
    const p = prometheus as PrometheusServer;
    const { groups } = await p.get<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>(
      '/api/v1/rules',
    );
    const rules = groups.flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.name).sort()).toEqual(
      alertQueries()
        .map((query) => query.source.replace(/^alert /, ''))
        .sort(),
    );
    await until('every rule to be evaluated', async () => {
      const { groups: now } = await p.get<{ groups: { rules: { health: string }[] }[] }>('/api/v1/rules');
      return now.flatMap((group) => group.rules).every((rule) => rule.health !== 'unknown');
    });
    const { groups: evaluated } = await p.get<{
      groups: { rules: { name: string; health: string; lastError?: string }[] }[];
    }>('/api/v1/rules');
    expect(evaluated.flatMap((group) => group.rules).filter((rule) => rule.health !== 'ok')).toEqual([]);
  });
});
