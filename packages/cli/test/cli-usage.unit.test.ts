import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closedPort, harombe, tempDir } from './harombe-cli.js';

// Every case here fails before any request: no fleet is needed, and none is reached.

describe('harombe exec: arguments', () => {
  it('refuses an unknown language with the allowed ones', () => {
    const run = harombe(['exec', '--language', 'ruby', '-c', 'puts 1']);
    expect(run.stderr).toMatch(/Allowed choices are python, javascript, shell/);
    expect(run.status).toBe(2);
  });

  it('wants a program: a file, "-" or -c, and only one of them', () => {
    const none = harombe(['exec', '--language', 'python']);
    expect(none.stderr).toMatch(/^harombe: InvalidArgument: give a file, "-" for stdin, or -c <code>/);
    expect(none.status).toBe(2);
    const cwd = tempDir();
    writeFileSync(join(cwd, 'p.py'), 'print(1)');
    const both = harombe(['exec', '--language', 'python', '-c', 'print(1)', 'p.py'], { cwd });
    expect(both.stderr).toMatch(/not both/);
    const missing = harombe(['exec', '--language', 'python', 'nope.py']);
    expect(missing.stderr).toMatch(/^harombe: InvalidArgument: cannot read nope\.py: no such file/);
    expect(missing.status).toBe(2);
  });

  it('checks --sandbox, --timeout and --wait before asking the API', () => {
    expect(harombe(['exec', '-l', 'python', '-c', '1', '--sandbox', 'box']).stderr).toMatch(
      /sandbox_id looks like sandbox-<16 hex digits>/,
    );
    expect(harombe(['exec', '-l', 'python', '-c', '1', '--timeout', '0']).stderr).toMatch(/positive number of seconds/);
    expect(harombe(['exec', '-l', 'python', '-c', '1', '--wait', 'soon']).stderr).toMatch(/positive number of seconds/);
  });

  it('without a key, says how to get one', () => {
    const run = harombe(['exec', '--language', 'python', '-c', 'print(1)']);
    expect(run.stderr).toMatch(/^harombe: Unauthorized: no API key to submit jobs with/);
    expect(run.stderr).toMatch(/--api-key/);
    expect(run.stderr).toMatch(/HAROMBE_API_KEY/);
    expect(run.stderr).toMatch(/`harombe up`/);
    expect(run.stderr).toMatch(/`harombe keys create/);
    expect(run.stdout).toBe('');
    expect(run.status).toBe(2);
  });

  it('reports an unreachable API as harombe: ServiceUnavailable, exit 2', async () => {
    const port = await closedPort();
    const run = harombe(['exec', '-l', 'python', '-c', 'print(1)'], {
      env: { HAROMBE_API_URL: `http://127.0.0.1:${port}`, HAROMBE_API_KEY: 'hk_x' },
    });
    expect(run.stderr).toMatch(
      new RegExp(
        `^harombe: ServiceUnavailable: POST /v1/jobs: cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`,
      ),
    );
    expect(run.status).toBe(2);
  });

  it('refuses an API URL that is not http(s), naming its source', () => {
    const run = harombe(['exec', '-l', 'python', '-c', '1', '--api-url', 'localhost:8080'], {
      env: { HAROMBE_API_KEY: 'k' },
    });
    expect(run.stderr).toMatch(
      /^harombe: InvalidArgument: the API URL "localhost:8080" \(from --api-url\) is not http\(s\)/,
    );
    expect(run.status).toBe(2);
  });
});

describe('harombe jobs and approvals: arguments', () => {
  it('checks ids locally', () => {
    const run = harombe(['jobs', 'get', 'job-1']);
    expect(run.stderr).toMatch(/a job_id looks like job-<24 hex digits>/);
    expect(run.status).toBe(2);
    expect(harombe(['approvals', 'approve', 'job-000000000000000000000001']).stderr).toMatch(
      /an approval_id looks like approval-<24 hex digits>/,
    );
    expect(harombe(['approvals', 'approve', '--batch', 'b-1']).stderr).toMatch(
      /a batch_id looks like batch-<24 hex digits>/,
    );
  });

  it('wants an approval_id or --batch, not both, and deny wants a reason', () => {
    expect(harombe(['approvals', 'approve']).stderr).toMatch(/give either an approval_id or --batch <batch_id>/);
    const both = harombe([
      'approvals',
      'approve',
      'approval-000000000000000000000001',
      '--batch',
      'batch-000000000000000000000001',
    ]);
    expect(both.stderr).toMatch(/not both/);
    expect(both.status).toBe(2);
    const deny = harombe(['approvals', 'deny', 'approval-000000000000000000000001']);
    expect(deny.stderr).toMatch(/required option '--reason <reason>'/);
    expect(deny.status).toBe(2);
  });

  it('approvals use the approver key, not HAROMBE_API_KEY', () => {
    const run = harombe(['approvals', 'list'], { env: { HAROMBE_API_KEY: 'hk_submitter' } });
    expect(run.stderr).toMatch(/^harombe: Unauthorized: no API key to decide approvals with/);
    expect(run.stderr).toMatch(/HAROMBE_APPROVER_KEY/);
    expect(run.status).toBe(2);
  });

  it('jobs wait checks --timeout', () => {
    expect(harombe(['jobs', 'wait', 'job-000000000000000000000001', '--timeout', '-1']).stderr).toMatch(
      /positive number of seconds/,
    );
  });
});

describe('harombe (no command)', () => {
  it("loads only the commands' definitions to parse: the contracts (zod), the client, MCP and what each command does load when it runs", () => {
    const dir = tempDir();
    // A module hook that writes down every module the command loads.
    writeFileSync(
      join(dir, 'hooks.mjs'),
      "import { appendFileSync } from 'node:fs';\n" +
        'export async function load(url, context, next) {\n' +
        '  appendFileSync(process.env.LOADED_LOG, `${url}\\n`);\n' +
        '  return next(url, context);\n' +
        '}\n',
    );
    writeFileSync(
      join(dir, 'register.mjs'),
      "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n",
    );
    let runs = 0;
    const loaded = (args: string[]): string[] => {
      const log = join(dir, `loaded-${(runs += 1)}.txt`);
      harombe(args, { env: { NODE_OPTIONS: `--import ${join(dir, 'register.mjs')}`, LOADED_LOG: log } });
      return readFileSync(log, 'utf8').trim().split('\n');
    };
    const heavy =
      /\/node_modules\/zod\/|\/(client|mcp)\/dist\/|\/core\/dist\/index\.js$|\/commands\/(exec|jobs|approvals|up|run|doctor|audit|policy)\.js$/;
    for (const args of [['--help'], ['jobs', 'get', 'job-1'], ['run', '-l', 'ruby']]) {
      const urls = loaded(args);
      // The hook saw the definitions, the fleet commands' too...
      expect(urls.some((url) => url.endsWith('/commands/exec-command.js'))).toBe(true);
      expect(urls.some((url) => url.endsWith('/commands/doctor-command.js'))).toBe(true);
      // ...and nothing of what the commands do.
      expect(urls.filter((url) => heavy.test(url))).toEqual([]);
    }
    // A command that runs loads its module, and the contracts with it.
    const ran = loaded(['jobs', 'get', 'job-000000000000000000000001']);
    expect(ran.some((url) => url.endsWith('/commands/jobs.js'))).toBe(true);
    expect(ran.some((url) => url.endsWith('/core/dist/index.js'))).toBe(true);
  });

  it('lists the commands', () => {
    const run = harombe(['--help']);
    expect(run.status).toBe(0);
    for (const command of ['up', 'run', 'exec', 'submit', 'jobs', 'approvals', 'keys', 'doctor', 'mcp'])
      expect(run.stdout).toMatch(new RegExp(`\\n  ${command} `));
  });
});
