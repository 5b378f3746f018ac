import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import type { AuditPage } from '@harombe/core';
import { NETWORK_PROBES as PROBE } from '@harombe/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyOf, resultOf, runApproved, TestFleet, until } from '../src/index.js';

/**
 * A network-enabled job through the whole fleet: API, CRITICAL approval, a worker, its sandbox's
 * own network and egress proxy, and back; the refusals in the audit trail and the worker's
 * metrics. The web site it may reach is a stand-in on a Docker network the test creates
 * (internal: nothing leaves the machine), which the fleet uses as its egress network.
 */

const docker = new Docker();
const SUFFIX = randomBytes(3).toString('hex');
const EGRESS_NETWORK = `harombe-e2e-egress-${SUFFIX}`;
const ALLOWED = 'allowed.e2e.test';
const BLOCKED = 'blocked.e2e.test';

let fleet: TestFleet;
let site: Docker.Container | undefined;

beforeAll(async () => {
  await docker.createNetwork({ Name: EGRESS_NETWORK, Internal: true, Labels: { 'org.harombe.test': 'network' } });
  site = await docker.createContainer({
    Image: 'harombe/sandbox-python',
    name: `harombe-e2e-site-${SUFFIX}`,
    User: '0:0',
    Cmd: [
      'sh',
      '-c',
      'mkdir -p /tmp/site && echo "hello from the allowed site" > /tmp/site/hello.txt && exec python3 -m http.server 80 --directory /tmp/site',
    ],
    Labels: { 'org.harombe.test': 'site' },
    HostConfig: { Runtime: 'runc', NetworkMode: EGRESS_NETWORK, Tmpfs: { '/tmp': 'rw' } },
    NetworkingConfig: { EndpointsConfig: { [EGRESS_NETWORK]: { Aliases: [ALLOWED, BLOCKED] } } },
  });
  await site.start();
  // The site sits on a private range: allowed as an operator allows a mirror's.
  const siteSubnet = (await docker.getNetwork(EGRESS_NETWORK).inspect()).IPAM?.Config?.[0]?.Subnet;
  expect(siteSubnet).toBeTruthy();
  fleet = await TestFleet.start({
    config: {
      security: {
        sandbox: {
          network: {
            egress_network: EGRESS_NETWORK,
            subnet_pool: '10.217.0.0/16',
            allowed_private_ranges: [siteSubnet],
          },
        },
      },
    },
  });
});

afterAll(async () => {
  await fleet?.stop();
  await site?.remove({ force: true }).catch(() => undefined);
  await docker
    .getNetwork(EGRESS_NETWORK)
    .remove()
    .catch(() => undefined);
});

async function auditOf(sandboxId: string): Promise<AuditPage['records']> {
  const response = await fetch(`${fleet.apiUrl}/v1/audit?limit=500`, {
    headers: { authorization: `Bearer ${keyOf('audrey')}` },
  });
  expect(response.status).toBe(200);
  const page = (await response.json()) as AuditPage;
  return page.records.filter((record) => record.type === 'network_refused' && record.details.sandbox_id === sandboxId);
}

async function workerMetrics(): Promise<string> {
  const ops = String(fleet.fleet.workers[0]?.url);
  return (await fetch(`${ops}/metrics`)).text();
}

describe('a network-enabled job through the fleet', () => {
  it('is CRITICAL, runs once approved, reaches its allowed domain only, and every refusal is audited and counted', async () => {
    const job = await runApproved(fleet.client('alice'), fleet.client('bob'), {
      tool: 'code_execute',
      params: {
        language: 'python',
        network_enabled: true,
        allowed_domains: [ALLOWED],
        keep_sandbox: true,
        code: `${PROBE}
print(json.dumps({
  'allowed': get('http://${ALLOWED}/hello.txt'),
  'blocked': get('http://${BLOCKED}/hello.txt'),
  'metadata': tcp('169.254.169.254', 80),
}))`,
      },
    });
    expect(job.risk).toBe('CRITICAL');
    expect(job.approval).toMatchObject({ status: 'approved', decided_by: 'bob' });
    const result = resultOf(job);
    expect(result).toMatchObject({ success: true, stderr: '' });
    expect(JSON.parse(String(result.stdout))).toEqual({
      allowed: 'ok:hello from the allowed site',
      blocked: 'http:403',
      metadata: 'error:Connection refused',
    });
    const sandboxId = String(result.sandbox_id);
    const listed = await fleet.client('alice').listSandboxes();
    expect(listed.find((s) => s.sandbox_id === sandboxId)).toMatchObject({
      network_enabled: true,
      allowed_domains: [ALLOWED],
    });

    // The sandbox keeps its network and its allowlist for later jobs.
    const again = await runApproved(fleet.client('alice'), fleet.client('bob'), {
      tool: 'code_execute',
      params: {
        language: 'python',
        sandbox_id: sandboxId,
        code: `${PROBE}\nprint(get('http://${ALLOWED}/hello.txt'), tcp('${ALLOWED}', 80))`,
      },
    });
    expect(resultOf(again)).toMatchObject({
      success: true,
      stdout: 'ok:hello from the allowed site error:Temporary failure in name resolution\n',
    });

    // Refused through the proxy, refused directly, refused in DNS: each in the tenant's trail...
    const records = await until('the refusals in the audit trail', async () => {
      const found = await auditOf(sandboxId);
      const reasons = new Set(found.map((r) => r.details.reason));
      return ['domain_not_allowed', 'direct_connection', 'dns_query'].every((reason) => reasons.has(reason))
        ? found
        : undefined;
    });
    expect(records.map((r) => [r.details.reason, r.details.destination])).toEqual(
      expect.arrayContaining([
        ['domain_not_allowed', `${BLOCKED}:80`],
        ['direct_connection', '169.254.169.254:80'],
        ['dns_query', ALLOWED],
      ]),
    );
    expect(records.every((r) => r.tenant === 'acme' && r.channel === 'sandbox')).toBe(true);
    // ...each with the job whose execution made it (and its payload's hash)...
    const byJob = (reason: string, destination: string) =>
      records.find((r) => r.details.reason === reason && r.details.destination === destination);
    expect(byJob('domain_not_allowed', `${BLOCKED}:80`)).toMatchObject({
      job_id: job.job_id,
      payload_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(byJob('direct_connection', '169.254.169.254:80')?.job_id).toBe(job.job_id);
    expect(records.filter((r) => r.details.reason === 'dns_query').map((r) => r.job_id)).toContain(again.job_id);
    expect(records.every((r) => r.job_id !== null)).toBe(true);
    // ...which another tenant's admin does not see...
    const globex = (await (
      await fetch(`${fleet.apiUrl}/v1/audit?limit=500`, { headers: { authorization: `Bearer ${keyOf('eve')}` } })
    ).json()) as AuditPage;
    expect(globex.records.filter((r) => r.details.sandbox_id === sandboxId)).toEqual([]);
    // ...and counted by reason on the worker.
    const metrics = await workerMetrics();
    for (const reason of ['domain_not_allowed', 'direct_connection', 'dns_query']) {
      expect(metrics).toMatch(new RegExp(`^harombe_egress_refusals_total\\{reason="${reason}"[^}]*\\} [1-9]`, 'm'));
    }
  });
});
