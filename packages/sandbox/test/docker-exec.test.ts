import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerExec, ExecStartError } from '../src/index.js';
import { docker } from './fixtures.js';

let container: Docker.Container;

beforeAll(async () => {
  container = await docker.createContainer({
    Image: 'harombe/sandbox-shell:latest',
    Cmd: ['sleep', '300'],
    Labels: { 'org.harombe.test': 'docker-exec' },
    HostConfig: { Runtime: 'runsc', NetworkMode: 'none', AutoRemove: true },
  });
  await container.start();
});
afterAll(async () => {
  await container.remove({ force: true });
});

describe('dockerExec', () => {
  it("gives the process's own exit code and output", async () => {
    const outcome = await dockerExec(container, {
      cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'],
      maxOutputBytes: 1024,
    });
    expect(outcome).toMatchObject({ exitCode: 3, aborted: false });
    expect([outcome.stdout.text(), outcome.stderr.text()]).toEqual(['out\n', 'err\n']);
  });

  it("takes a process the runtime never started for the runtime's failure, not the program's outcome", async () => {
    // Docker reports such an exec with an exit code, pid 0, and its own message where the output goes.
    const run = dockerExec(container, { cmd: ['/no/such/launcher'], maxOutputBytes: 1024 });
    await expect(run).rejects.toBeInstanceOf(ExecStartError);
    await expect(run).rejects.toThrow(/could not start the process \(3 attempts\)/);
  });
});
