import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createRegistry, EVENT_LOOP_SAMPLE_MS } from '../src/index.js';

const run = promisify(execFile);
const built = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/**
 * A process that has made a service's metrics registry, then sits idle for `idleMs`: how many
 * times its main thread was woken meanwhile (voluntary context switches).
 */
async function wakeUpsWhileIdle(idleMs: number): Promise<number> {
  const program = `
    import { readFileSync } from 'node:fs';
    import { createRegistry } from ${JSON.stringify(built)};
    const switches = () => Number(/voluntary_ctxt_switches:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
    createRegistry('idle-probe');
    setTimeout(() => {
      const before = switches();
      setTimeout(() => { console.log(switches() - before); process.exit(0); }, ${idleMs});
    }, 200);
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', program]);
  return Number(stdout.trim());
}

describe('createRegistry', () => {
  it('leaves an idle process asleep: its metrics do not wake it a hundred times a second', async () => {
    // prom-client samples the event loop's delay every 10 ms by default: about 200 wake-ups here.
    expect(await wakeUpsWhileIdle(2_000)).toBeLessThan(40);
  });

  it('measures how late the event loop is, without the sampling interval in the figure', async () => {
    const registry = createRegistry('lateness-probe');
    const lateness = async () => {
      const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'harombe_event_loop_lateness_seconds');
      const value = (name: string) =>
        metric?.values.find((v) => (v as { metricName?: string }).metricName === name)?.value ?? 0;
      return {
        count: value('harombe_event_loop_lateness_seconds_count'),
        sum: value('harombe_event_loop_lateness_seconds_sum'),
      };
    };
    await expect.poll(async () => (await lateness()).count, { timeout: 5_000 }).toBeGreaterThan(0);
    const quiet = await lateness();
    // A quiet loop fires its timer about on time: nowhere near the interval itself.
    expect(quiet.sum / quiet.count).toBeLessThan(EVENT_LOOP_SAMPLE_MS / 1000 / 2);
    // Busy past the next sample's due time: that sample is late by about the overrun.
    const busyUntil = performance.now() + EVENT_LOOP_SAMPLE_MS + 300;
    while (performance.now() < busyUntil);
    await expect.poll(async () => (await lateness()).count, { timeout: 5_000 }).toBeGreaterThan(quiet.count);
    expect((await lateness()).sum - quiet.sum).toBeGreaterThan(0.1);
    const exported = await registry.metrics();
    expect(exported).not.toContain('nodejs_eventloop_lag_p99_seconds');
    expect(exported).toContain('nodejs_eventloop_lag_seconds');
  });
});
