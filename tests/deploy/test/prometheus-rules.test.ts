import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { promtool, REPO, run } from '../src/tools.js';

const prometheusDir = join(REPO, 'deploy/prometheus');

describe('deploy/prometheus', () => {
  it('prometheus.yml is a valid configuration that loads alerts.yml', () => {
    const result = run(promtool(), ['check', 'config', join(prometheusDir, 'prometheus.yml')]);
    expect(result.stderr + result.stdout).toContain('SUCCESS: 1 rule files found');
    expect(result.status, result.stderr + result.stdout).toBe(0);
  });

  it('alerts.yml is valid', () => {
    const result = run(promtool(), ['check', 'rules', join(prometheusDir, 'alerts.yml')]);
    expect(result.status, result.stderr + result.stdout).toBe(0);
  });

  it('each alert fires when it should and only then (alerts-test.yml)', () => {
    const result = run(promtool(), ['test', 'rules', join(prometheusDir, 'alerts-test.yml')]);
    expect(result.status, result.stderr + result.stdout).toBe(0);
    // Every alert of alerts.yml has a unit test.
    const tested = readFileSync(join(prometheusDir, 'alerts-test.yml'), 'utf8');
    const alerts = [...readFileSync(join(prometheusDir, 'alerts.yml'), 'utf8').matchAll(/- alert: (\w+)/g)].map(
      (match) => match[1] as string,
    );
    expect(alerts.length).toBeGreaterThanOrEqual(5);
    for (const alert of alerts)
      expect(tested, `alerts-test.yml has no test of ${alert}`).toContain(`alertname: ${alert}`);
  });
});
