import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MAIN as main } from './harombe-cli.js';

function harombe(args: string[], input?: string) {
  return spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    input,
    env: { ...process.env, LOG_LEVEL: 'silent' },
  });
}

describe('harombe run', () => {
  it('prints the program output, stdout and stderr apart, and exits with its exit code', () => {
    const run = harombe([
      'run',
      '--language',
      'python',
      '-c',
      'import sys\nprint("to out")\nprint("to err", file=sys.stderr)\nsys.exit(4)',
    ]);
    expect(run.stdout).toBe('to out\n');
    expect(run.stderr).toBe('to err\n');
    expect(run.status).toBe(4);
  });

  it('reads the program from stdin', () => {
    const run = harombe(['run', '--language', 'shell', '-'], 'echo "from stdin"');
    expect(run.stdout).toBe('from stdin\n');
    expect(run.status).toBe(0);
  });

  it('says TimeoutError and fails when the program runs too long', () => {
    const run = harombe([
      'run',
      '--language',
      'python',
      '--timeout',
      '2',
      '-c',
      'import time\nprint("tick", flush=True)\ntime.sleep(60)',
    ]);
    expect(run.stdout).toBe('tick\n');
    expect(run.stderr).toMatch(/TimeoutError/);
    expect(run.status).toBe(1);
  });

  it('refuses an unknown language with a clear message', () => {
    const run = harombe(['run', '--language', 'ruby', '-c', 'puts 1']);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/Allowed choices are python, javascript, shell/);
  });
});
