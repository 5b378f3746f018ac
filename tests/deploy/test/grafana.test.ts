import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { promtool, REPO, run } from '../src/tools.js';

interface Target {
  refId: string;
  expr: string;
  datasource?: { uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}

const grafana = join(REPO, 'deploy/grafana');
const dashboard = JSON.parse(readFileSync(join(grafana, 'dashboards/harombe-fleet.json'), 'utf8')) as {
  uid: string;
  panels: Panel[];
};
const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
const exprs = panels.flatMap((panel) => panel.targets ?? []).map((target) => target.expr);

describe('deploy/grafana', () => {
  it('provisions the Prometheus data source every panel names, and the dashboards folder', () => {
    const datasources = parse(readFileSync(join(grafana, 'provisioning/datasources/prometheus.yml'), 'utf8')) as {
      datasources: { uid: string; type: string; url: string }[];
    };
    const [source] = datasources.datasources;
    expect(source).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    for (const panel of panels) {
      expect(panel.datasource?.uid, panel.title).toBe(source?.uid);
      for (const target of panel.targets ?? []) expect(target.datasource?.uid, panel.title).toBe(source?.uid);
    }
    const providers = parse(readFileSync(join(grafana, 'provisioning/dashboards/harombe.yml'), 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    expect(providers.providers[0]?.options.path).toBe('/var/lib/grafana/dashboards');
    // docker-compose.yml mounts deploy/grafana/dashboards there.
    expect(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8')).toContain(
      './deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro',
    );
  });

  it('has a panel for each thing operators watch, each with at least one query', () => {
    const uses = (metric: string) =>
      panels
        .filter((panel) => (panel.targets ?? []).some((target) => target.expr.includes(metric)))
        .map((panel) => panel.title);
    const wanted: Record<string, string> = {
      'queue depth by state': 'harombe_queue_depth',
      'awaiting approval by risk': 'harombe_approvals_pending',
      throughput: 'harombe_jobs_total',
      'latency percentiles per phase': 'harombe_job_duration_seconds_bucket',
      'sandboxes per worker': 'harombe_sandboxes_active',
      'warm pool': 'harombe_warm_pool_available',
      'approval outcomes': 'harombe_approvals_total',
      'errors by code': 'harombe_errors_total',
      'sandbox capacity': 'harombe_sandboxes_max',
      'MCP tool calls': 'harombe_mcp_tool_calls_total',
      'webhook deliveries': 'harombe_webhook_deliveries_total',
    };
    for (const [what, metric] of Object.entries(wanted))
      expect(uses(metric), `no panel shows ${what} (${metric})`).not.toEqual([]);
    expect(exprs.filter((expr) => expr.includes('histogram_quantile') && expr.includes('phase'))).toHaveLength(3);
    for (const panel of panels) expect(panel.targets?.length ?? 0, panel.title).toBeGreaterThan(0);
  });

  it('lays panels out on the 24-column grid with unique ids', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels)
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
  });

  it('uses no Grafana variable but $__rate_interval, and valid PromQL (checked as recording rules)', () => {
    for (const expr of exprs) expect(expr.replaceAll('$__rate_interval', ''), expr).not.toContain('$');
    const file = join(mkdtempSync(join(tmpdir(), 'harombe-dashboard-')), 'dashboard-rules.yml');
    writeFileSync(
      file,
      stringify({
        groups: [
          {
            name: 'dashboard',
            rules: exprs.map((expr, i) => ({
              record: `dashboard:query_${i}`,
              expr: expr.replaceAll('$__rate_interval', '1m'),
            })),
          },
        ],
      }),
    );
    const result = run(promtool(), ['check', 'rules', file]);
    expect(result.status, result.stderr + result.stdout).toBe(0);
    expect(result.stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
  });
});
