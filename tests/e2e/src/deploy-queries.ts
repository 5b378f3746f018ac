import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEPLOY_PROMETHEUS } from './prometheus-server.js';

/** A PromQL expression of the deployment and where it comes from. */
export interface DeployQuery {
  source: string;
  expr: string;
}

const DASHBOARD = join(DEPLOY_PROMETHEUS, '..', 'grafana', 'dashboards', 'harombe-fleet.json');

/** Grafana's variables as Prometheus must read them; any other variable is an error. */
const GRAFANA_VARIABLES: Record<string, string> = { $__rate_interval: '1m' };

/** Every query of every panel of the Grafana dashboard, its variables filled in. */
export function dashboardQueries(): DeployQuery[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: { title: string; targets?: { refId: string; expr: string }[] }[];
  };
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => {
      let expr = target.expr;
      for (const [variable, value] of Object.entries(GRAFANA_VARIABLES)) expr = expr.replaceAll(variable, value);
      if (expr.includes('$'))
        throw new Error(`panel "${panel.title}" uses a Grafana variable this test does not know: ${target.expr}`);
      return { source: `panel "${panel.title}" ${target.refId}`, expr };
    }),
  );
}

/**
 * Every rule of alerts.yml. An alert's expression answers nothing while it does not fire, so
 * its comparisons with a number are turned into `bool` comparisons: they then answer 0 or 1
 * for every series the signal has, and nothing only when a metric is missing.
 */
export function alertQueries(): DeployQuery[] {
  const rules = parse(readFileSync(join(DEPLOY_PROMETHEUS, 'alerts.yml'), 'utf8')) as {
    groups: { rules: { alert?: string; record?: string; expr: string }[] }[];
  };
  return rules.groups.flatMap((group) =>
    group.rules.map((rule) =>
      rule.alert
        ? { source: `alert ${rule.alert}`, expr: withBool(rule.expr) }
        : { source: `rule ${rule.record}`, expr: rule.expr },
    ),
  );
}

/** `x > 5` → `x > bool 5`; label matchers (`code!="x"`) are left alone. */
export function withBool(expr: string): string {
  return expr.replace(/(==|!=|>=|<=|>|<)\s*(?!bool\b)(-?\d[\d.]*(?:e[+-]?\d+)?)/g, '$1 bool $2').trim();
}
