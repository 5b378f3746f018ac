import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

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
});
