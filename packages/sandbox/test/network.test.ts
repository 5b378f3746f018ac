import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CodeExecutionTools,
  EgressNetwork,
  InMemorySandboxRegistry,
  networkGateway,
  type EgressRefusal,
  type SandboxManager,
} from '../src/index.js';
import { NETWORK_PROBES as PROBE_PRELUDE } from '@harombe/test-fixtures';
import { docker, testManager } from './fixtures.js';

/**
 * Network-enabled sandboxes against stand-ins the test serves on a Docker network of its own
 * (internal: no traffic leaves the machine): one runc container with several names plays a
 * PyPI simple index, an npm registry and two web sites, one allowed and one not.
 */

const OWNER = 'net-tester';
const SUFFIX = randomBytes(3).toString('hex');
const STANDIN_NETWORK = `harombe-test-standins-${SUFFIX}`;
const NAMES = {
  pypi: 'pypi.harombe.test',
  npm: 'npm.harombe.test',
  allowed: 'allowed.harombe.test',
  blocked: 'blocked.harombe.test',
};

let standin: { id: string; address: string } | undefined;
let siteCertificate = '';
/** The stand-ins sit on a private range; the managers allow it as an operator allows a mirror's. */
let standinSubnet = '';

/** The stand-ins' server: /srv over HTTP on 80 and over HTTPS on 443. */
const STANDIN_SERVER = `
import functools, http.server, ssl, threading
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory='/srv')
tls = http.server.ThreadingHTTPServer(('', 443), handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain('/tls/cert.pem', '/tls/key.pem')
tls.socket = context.wrap_socket(tls.socket, server_side=True)
threading.Thread(target=tls.serve_forever, daemon=True).start()
http.server.ThreadingHTTPServer(('', 80), handler).serve_forever()
`;
let hostListener: Server | undefined;
let hostAddress = '';
let hostPort = 0;
let manager: SandboxManager;
const refusals: EgressRefusal[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

/** A pure-python wheel, a PyPI simple index for it, an npm tarball and its packument. */
function buildRegistryFiles(root: string): void {
  mkdirSync(join(root, 'simple/harombe-demo'), { recursive: true });
  mkdirSync(join(root, 'packages'));
  mkdirSync(join(root, 'tarballs'));
  writeFileSync(join(root, 'hello.txt'), 'hello from the allowed site\n');
  const wheel = join(root, 'packages/harombe_demo-1.0-py3-none-any.whl');
  execFileSync('python3', [
    '-c',
    `import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    z.writestr('harombe_demo/__init__.py', 'GREETING = "hello from the pip package"\\n')
    z.writestr('harombe_demo-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: harombe-demo\\nVersion: 1.0\\n')
    z.writestr('harombe_demo-1.0.dist-info/WHEEL', 'Wheel-Version: 1.0\\nGenerator: harombe-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')
    z.writestr('harombe_demo-1.0.dist-info/RECORD', 'harombe_demo/__init__.py,,\\nharombe_demo-1.0.dist-info/METADATA,,\\nharombe_demo-1.0.dist-info/WHEEL,,\\nharombe_demo-1.0.dist-info/RECORD,,\\n')`,
    wheel,
  ]);
  const wheelSha = createHash('sha256')
    .update(execFileSync('cat', [wheel]))
    .digest('hex');
  writeFileSync(
    join(root, 'simple/harombe-demo/index.html'),
    `<!DOCTYPE html><html><body><a href="../../packages/harombe_demo-1.0-py3-none-any.whl#sha256=${wheelSha}">harombe_demo-1.0-py3-none-any.whl</a></body></html>\n`,
  );
  const pkg = join(root, 'npm-src/package');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({ name: 'harombe-demo', version: '1.0.0', main: 'index.js' }),
  );
  writeFileSync(join(pkg, 'index.js'), "module.exports = { greeting: 'hello from the npm package' };\n");
  const tarball = join(root, 'tarballs/harombe-demo-1.0.0.tgz');
  execFileSync('tar', ['-C', join(root, 'npm-src'), '-czf', tarball, 'package']);
  rmSync(join(root, 'npm-src'), { recursive: true });
  const bytes = execFileSync('cat', [tarball]);
  const packument = {
    name: 'harombe-demo',
    'dist-tags': { latest: '1.0.0' },
    versions: {
      '1.0.0': {
        name: 'harombe-demo',
        version: '1.0.0',
        main: 'index.js',
        dist: {
          tarball: `http://${NAMES.npm}/tarballs/harombe-demo-1.0.0.tgz`,
          shasum: createHash('sha1').update(bytes).digest('hex'),
          integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
        },
      },
    },
  };
  writeFileSync(join(root, 'harombe-demo'), JSON.stringify(packument));
}

/**
 * Listens on an address of a bridge that was just made. Its IPv6 link-local address stays
 * tentative until the kernel's duplicate address detection is done (a second or two), and
 * binding it before then fails with EADDRNOTAVAIL: try again until it is usable.
 */
async function listenOnFreshAddress(server: Server, host: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return (server.address() as { port: number }).port;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL' || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Runs a probe program in a sandbox and returns its JSON verdicts. */
async function probe(sandboxId: string, program: string): Promise<Record<string, string>> {
  const result = await manager.execute(sandboxId, OWNER, { code: PROBE_PRELUDE + program, timeout: 60 });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as Record<string, string>;
}

beforeAll(async () => {
  // The host side: a listener on the docker0 address stands for Redis and every host service.
  hostAddress = await networkGateway(docker, 'bridge');
  expect(hostAddress, 'the default bridge has a gateway address').toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  hostListener = createServer((socket) => {
    socket.on('error', () => undefined); // probes hang up without reading
    socket.end('host service\n');
  });
  await new Promise<void>((resolve) => hostListener!.listen(0, hostAddress, resolve));
  hostPort = (hostListener.address() as { port: number }).port;

  // As an operator makes it with `--subnet` and no `--gateway`: Docker then lists no gateway.
  await docker.createNetwork({
    Name: STANDIN_NETWORK,
    Internal: true,
    IPAM: { Driver: 'default', Config: [{ Subnet: '10.216.0.0/24' }] },
    Labels: { 'org.harombe.test': 'network' },
  });
  expect((await docker.getNetwork(STANDIN_NETWORK).inspect()).IPAM?.Config?.[0]?.Gateway ?? '').toBe('');
  cleanups.push(() => docker.getNetwork(STANDIN_NETWORK).remove());
  const files = mkdtempSync(join(tmpdir(), 'harombe-registry-'));
  buildRegistryFiles(join(files, 'srv'));
  // The allowed site also speaks TLS, with a certificate for its name that sandboxes are told to trust.
  mkdirSync(join(files, 'tls'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${NAMES.allowed}`,
      '-addext',
      `subjectAltName=DNS:${NAMES.allowed},DNS:${NAMES.blocked}`,
      '-keyout',
      join(files, 'tls/key.pem'),
      '-out',
      join(files, 'tls/cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  siteCertificate = readFileSync(join(files, 'tls/cert.pem'), 'utf8');
  const container = await docker.createContainer({
    Image: 'harombe/sandbox-python',
    name: `harombe-test-standins-${SUFFIX}`,
    User: '0:0',
    Cmd: ['python3', '-c', STANDIN_SERVER],
    Labels: { 'org.harombe.test': 'standins' },
    HostConfig: { Runtime: 'runc', NetworkMode: STANDIN_NETWORK },
    NetworkingConfig: { EndpointsConfig: { [STANDIN_NETWORK]: { Aliases: Object.values(NAMES) } } },
  });
  cleanups.unshift(() => container.remove({ force: true }));
  await container.putArchive(execFileSync('tar', ['-C', files, '-c', 'srv', 'tls']), { path: '/' });
  rmSync(files, { recursive: true });
  await container.start();
  const inspected = await container.inspect();
  standin = { id: container.id, address: inspected.NetworkSettings.Networks[STANDIN_NETWORK]!.IPAddress };
  standinSubnet = (await docker.getNetwork(STANDIN_NETWORK).inspect()).IPAM?.Config?.[0]?.Subnet ?? '';

  manager = testManager(
    {
      network: {
        egress_network: STANDIN_NETWORK,
        subnet_pool: '10.214.0.0/16',
        allowed_private_ranges: [standinSubnet],
        allowed_registries: {
          pypi: { index_url: `http://${NAMES.pypi}/simple/` },
          npm: { index_url: `http://${NAMES.npm}/` },
        },
      },
    },
    { onEgressRefused: (refusal) => refusals.push(refusal) },
  );
  await manager.start();
});

afterAll(async () => {
  await manager?.stop({ destroySandboxes: true });
  for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  hostListener?.close();
});

describe('a network-enabled sandbox', () => {
  it('sits alone with its proxy on a network of its own, under the network runtime; destroy removes all three', async () => {
    const sandbox = await manager.create({
      language: 'python',
      owner: OWNER,
      network_enabled: true,
      allowed_domains: [NAMES.allowed],
    });
    expect(sandbox).toMatchObject({ network_enabled: true, allowed_domains: [NAMES.allowed] });
    const networkName = EgressNetwork.networkName(sandbox.sandbox_id);
    const [container] = await docker.listContainers({
      filters: { label: [`org.harombe.sandbox=${sandbox.sandbox_id}`, `org.harombe.manager=${manager.managerId}`] },
    });
    expect(container).toBeDefined();
    const [sandboxContainer, proxyContainer] = await Promise.all([
      docker.getContainer(`harombe-${sandbox.sandbox_id}`).inspect(),
      docker.getContainer(EgressNetwork.proxyName(sandbox.sandbox_id)).inspect(),
    ]);
    expect(sandboxContainer.HostConfig.Runtime).toBe('runsc-net');
    expect(Object.keys(sandboxContainer.NetworkSettings.Networks)).toEqual([networkName]);
    expect(Object.keys(proxyContainer.NetworkSettings.Networks).sort()).toEqual([networkName, STANDIN_NETWORK].sort());
    // The proxy program runs as nobody with no capabilities; only its init had a few, to take the gateway.
    const processes = await docker
      .getContainer(EgressNetwork.proxyName(sandbox.sandbox_id))
      .top({ ps_args: '-o pid,comm' });
    const nodePid = (processes.Processes as string[][]).find((row) => row[1] === 'node')?.[0];
    expect(nodePid, 'the proxy runs node').toBeDefined();
    const status = readFileSync(`/proc/${nodePid}/status`, 'utf8');
    expect(status).toMatch(/^Uid:\s+65534\s/m);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^CapPrm:\s+0+$/m);
    // The proxy listens on its sandbox's side only: from the egress network it is closed.
    const proxyEgressAddress = proxyContainer.NetworkSettings.Networks[STANDIN_NETWORK]!.IPAddress;
    const fromEgress = await docker.createContainer({
      Image: 'harombe/sandbox-python',
      Cmd: ['python3', '-c', `${PROBE_PRELUDE}\nprint(tcp('${proxyEgressAddress}', 3128))`],
      Labels: { 'org.harombe.test': 'control' },
      HostConfig: { Runtime: 'runc', NetworkMode: STANDIN_NETWORK },
    });
    try {
      await fromEgress.start();
      await fromEgress.wait();
      expect((await fromEgress.logs({ stdout: true, stderr: true })).toString()).toContain('error:Connection refused');
    } finally {
      await fromEgress.remove({ force: true });
    }
    // Its own /29 of the configured pool, with no IPv4 on the host's side of the bridge.
    const network = await docker.getNetwork(networkName).inspect();
    expect(network.Options?.['com.docker.network.bridge.inhibit_ipv4']).toBe('true');
    expect(network.IPAM?.Config?.[0]?.Subnet).toMatch(/^10\.214\.\d+\.\d+\/29$/);
    expect(sandboxContainer.HostConfig.Dns).toEqual([network.IPAM?.Config?.[0]?.Gateway]);

    await manager.destroy(sandbox.sandbox_id, OWNER);
    await expect(docker.getContainer(EgressNetwork.proxyName(sandbox.sandbox_id)).inspect()).rejects.toMatchObject({
      statusCode: 404,
    });
    await expect(docker.getNetwork(networkName).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('reaches allowed domains through its proxy; everything else is refused, logged and counted', async () => {
    const { sandbox_id } = await manager.create({
      language: 'python',
      owner: OWNER,
      network_enabled: true,
      allowed_domains: [NAMES.allowed],
    });
    const verdicts = await probe(
      sandbox_id,
      `import ssl
trusted = ssl.create_default_context(cadata='''${siteCertificate}''')
print(json.dumps({
  'allowed': get('http://${NAMES.allowed}/hello.txt'),
  'allowed_https': get('https://${NAMES.allowed}/hello.txt', trusted),
  'allowed_tunnel_80': tunnel('${NAMES.allowed}', 80),
  'blocked': get('http://${NAMES.blocked}/hello.txt'),
  'blocked_https': get('https://${NAMES.blocked}/hello.txt', trusted),
  'ip_literal': get('http://${standin!.address}/hello.txt'),
  'other_port': get('http://${NAMES.allowed}:8080/hello.txt'),
  'host_via_proxy': get('http://${hostAddress}:${hostPort}/'),
}))`,
    );
    expect(verdicts).toEqual({
      allowed: 'ok:hello from the allowed site',
      allowed_https: 'ok:hello from the allowed site',
      allowed_tunnel_80: 'ok:hello from the allowed site',
      blocked: 'http:403',
      blocked_https: 'error:URLError',
      ip_literal: 'http:403',
      other_port: 'http:403',
      host_via_proxy: 'http:403',
    });
    // The proxy's log reaches the manager a moment after the answer reached the sandbox.
    await expect.poll(() => manager.egressRefusals(sandbox_id), { timeout: 15_000 }).toBe(5);
    const mine = refusals.filter((r) => r.sandbox_id === sandbox_id);
    expect(mine.map((r) => [r.target, r.reason]).sort()).toEqual(
      [
        [`${NAMES.blocked}:80`, 'domain_not_allowed'],
        [`${NAMES.blocked}:443`, 'domain_not_allowed'],
        [`${standin!.address}:80`, 'ip_literal'],
        [`${NAMES.allowed}:8080`, 'port_not_allowed'],
        [`${hostAddress}:${hostPort}`, 'ip_literal'],
      ].sort(),
    );
  });

  it('reaches nothing directly: not the host, the Docker API, the metadata address, another sandbox, an IP, DNS; each attempt is recorded', async () => {
    const [one, other] = await Promise.all([
      manager.create({ language: 'python', owner: OWNER, network_enabled: true, allowed_domains: [NAMES.allowed] }),
      manager.create({ language: 'python', owner: OWNER, network_enabled: true, allowed_domains: [NAMES.allowed] }),
    ]);
    const otherProxy = await docker.getContainer(EgressNetwork.proxyName(other.sandbox_id)).inspect();
    const otherProxyAddress =
      otherProxy.NetworkSettings.Networks[EgressNetwork.networkName(other.sandbox_id)]!.IPAddress;
    const otherSandbox = await docker.getContainer(`harombe-${other.sandbox_id}`).inspect();
    const otherSandboxAddress =
      otherSandbox.NetworkSettings.Networks[EgressNetwork.networkName(other.sandbox_id)]!.IPAddress;
    // The host's IPv6 link-local address on the sandbox's own bridge, with a listener on it.
    const bridge = `br-${(await docker.getNetwork(EgressNetwork.networkName(one.sandbox_id)).inspect()).Id.slice(0, 12)}`;
    const linkLocal = networkInterfaces()[bridge]?.find((entry) => entry.family === 'IPv6')?.address;
    let v6Listener: Server | undefined;
    let v6Port = 0;
    if (linkLocal) {
      v6Listener = createServer((socket) => socket.end('host service\n'));
      v6Port = await listenOnFreshAddress(v6Listener, `${linkLocal}%${bridge}`);
    }
    // A host socket on every address: broadcasts from the sandbox must not reach it.
    const received: string[] = [];
    const udp = createSocket('udp4');
    udp.on('message', (message) => received.push(message.toString()));
    await new Promise<void>((resolve) => udp.bind(0, '0.0.0.0', resolve));
    const udpPort = udp.address().port;
    const sandboxSubnet = (await docker.getNetwork(EgressNetwork.networkName(one.sandbox_id)).inspect()).IPAM
      ?.Config?.[0]?.Subnet as string;
    const subnetBroadcast = sandboxSubnet.replace(/\.(\d+)\/29$/, (_, last: string) => `.${Number(last) + 7}`);
    const program = `print(json.dumps({
  'broadcast': broadcast('255.255.255.255', ${udpPort}),
  'subnet_broadcast': broadcast('${subnetBroadcast}', ${udpPort}),
  'multicast': broadcast('224.0.0.251', ${udpPort}),
  'raw_socket': raw('${hostAddress}'),
  'ping_socket': ping('${hostAddress}'),
  'host_service': tcp('${hostAddress}', ${hostPort}),
  'host_redis': tcp('${hostAddress}', 6379),
  'docker_api': tcp('${hostAddress}', 2375),
  'docker_socket': str(os.path.exists('/var/run/docker.sock')),
  'metadata': tcp('169.254.169.254', 80),
  'other_proxy': tcp('${otherProxyAddress}', 3128),
  'other_sandbox': tcp('${otherSandboxAddress}', 80),
  'standin_ip': tcp('${standin!.address}', 80),
  'host_ipv6': ${linkLocal ? `tcp6('${linkLocal}%eth0', ${v6Port})` : "'no ipv6 on the host'"},
  'raw_dns': dns('${NAMES.allowed}'),
  'resolver': resolve('${NAMES.blocked}'),
}))`;
    let verdicts: Record<string, string>;
    try {
      verdicts = await probe(one.sandbox_id, program);
      // Datagrams that got out would have arrived by now.
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      v6Listener?.close();
      udp.close();
    }
    expect(received).toEqual([]);
    for (const kind of ['broadcast', 'subnet_broadcast', 'multicast'])
      expect(verdicts[kind], kind).toBe('error:Operation not permitted');
    // ICMP: neither a raw nor a ping socket can even be opened.
    expect([verdicts.raw_socket, verdicts.ping_socket]).toEqual([
      expect.stringMatching(/^error:/),
      expect.stringMatching(/^error:/),
    ]);
    for (const [target, verdict] of Object.entries(verdicts)) {
      expect(verdict, target).not.toMatch(/^(connected|reply|answers:[1-9]|resolved|True)/);
    }
    // Each attempt reached the proxy, which refused it at once and recorded where it was headed.
    const direct = [
      `${hostAddress}:${hostPort}`,
      `${hostAddress}:6379`,
      `${hostAddress}:2375`,
      '169.254.169.254:80',
      `${otherProxyAddress}:3128`,
      `${otherSandboxAddress}:80`,
      `${standin!.address}:80`,
    ];
    for (const target of direct) expect(verdicts, target).not.toContain('timeout');
    const recorded = () =>
      refusals.filter((r) => r.sandbox_id === one.sandbox_id).map((r) => `${r.reason} ${r.target}`);
    await expect
      .poll(
        () =>
          recorded()
            .filter((r) => r.startsWith('direct_connection'))
            .sort(),
        { timeout: 15_000 },
      )
      .toEqual(direct.map((t) => `direct_connection ${t}`).sort());
    expect(recorded()).toContain(`dns_query ${NAMES.allowed}`);
    expect(recorded()).toContain(`dns_query ${NAMES.blocked}`);
    expect(refusals.filter((r) => r.sandbox_id === other.sandbox_id)).toEqual([]);
    // The probe can tell: from a container on the default bridge the host service answers.
    const control = await docker.createContainer({
      Image: 'harombe/sandbox-python',
      Cmd: ['python3', '-c', `${PROBE_PRELUDE}\nprint(tcp('${hostAddress}', ${hostPort}))`],
      Labels: { 'org.harombe.test': 'control' },
      HostConfig: { Runtime: 'runc', NetworkMode: 'bridge' },
    });
    try {
      await control.start();
      await control.wait();
      const log = (await control.logs({ stdout: true })).toString();
      expect(log).toContain('connected');
    } finally {
      await control.remove({ force: true });
    }
    // ...and from its own network, a sandbox reaches its own proxy.
    const own = await probe(other.sandbox_id, `print(json.dumps({'own_proxy': tcp('${otherProxyAddress}', 3128)}))`);
    expect(own).toEqual({ own_proxy: 'connected' });
  });

  it.each([
    // The stand-ins' private range, not allowed: the operator's own network.
    ['into a private range the operator did not allow', () => ({}), 'private_address'],
    // Allowed, but the stand-in's address is denied, as the host's own addresses are.
    [
      "to a denied address (the host's own, say)",
      () => ({ allowed_private_ranges: [standinSubnet], denied_ranges: [`${standin!.address}/32`] }),
      'forbidden_address',
    ],
  ])('refuses an allowed name that leads %s', async (_case, ranges, reason) => {
    const strict = testManager(
      { network: { egress_network: STANDIN_NETWORK, subnet_pool: '10.214.0.0/16', ...ranges() } },
      { onEgressRefused: (refusal) => refusals.push(refusal) },
    );
    try {
      const { sandbox_id } = await strict.create({
        language: 'python',
        owner: OWNER,
        network_enabled: true,
        allowed_domains: [NAMES.allowed],
      });
      const result = await strict.execute(sandbox_id, OWNER, {
        code: `${PROBE_PRELUDE}\nprint(get('http://${NAMES.allowed}/hello.txt'))`,
        timeout: 60,
      });
      expect(result.stdout).toBe('http:403\n');
      await expect
        .poll(() => refusals.filter((r) => r.sandbox_id === sandbox_id).map((r) => [r.target, r.reason]), {
          timeout: 15_000,
        })
        .toEqual([[`${NAMES.allowed}:80`, reason]]);
    } finally {
      await strict.stop({ destroySandboxes: true });
    }
  });

  it("asks its proxy for names, never Docker's resolver: the containers on its network go unanswered, and each query is recorded", async () => {
    const { sandbox_id } = await manager.create({
      language: 'python',
      owner: OWNER,
      network_enabled: true,
      allowed_domains: [NAMES.allowed],
    });
    const proxyName = EgressNetwork.proxyName(sandbox_id);
    const ownName = `harombe-${sandbox_id}`;
    const verdicts = await probe(
      sandbox_id,
      `print(json.dumps({
  'proxy_name': resolve('${proxyName}'),
  'own_name': resolve('${ownName}'),
  'raw_proxy_name': dns('${proxyName}'),
  'allowed': get('http://${NAMES.allowed}/hello.txt'),
}))`,
    );
    // Docker's resolver answers both names (the control below); through the proxy, neither resolves.
    expect(verdicts).toEqual({
      proxy_name: expect.stringMatching(/^error:/),
      own_name: expect.stringMatching(/^error:/),
      raw_proxy_name: 'answers:0',
      allowed: 'ok:hello from the allowed site',
    });
    await expect
      .poll(() => refusals.filter((r) => r.sandbox_id === sandbox_id).map((r) => `${r.reason} ${r.target}`), {
        timeout: 15_000,
      })
      .toEqual(expect.arrayContaining([`dns_query ${proxyName}`, `dns_query ${ownName}`]));
    // The control: a container on the same network asking Docker's resolver gets the proxy's address.
    const control = await docker.createContainer({
      Image: 'harombe/sandbox-python',
      Cmd: ['python3', '-c', `${PROBE_PRELUDE}\nprint(resolve('${proxyName}'))`],
      Labels: { 'org.harombe.test': 'control' },
      HostConfig: { Runtime: 'runc', NetworkMode: EgressNetwork.networkName(sandbox_id) },
    });
    try {
      await control.start();
      await control.wait();
      expect((await control.logs({ stdout: true })).toString()).toMatch(/resolved:\d+\.\d+\.\d+\.\d+/);
    } finally {
      await control.remove({ force: true });
    }
  });

  it('ties each refused attempt to the job whose execution made it, and background attempts to the job that kept them', async () => {
    const { sandbox_id } = await manager.create({
      language: 'python',
      owner: OWNER,
      network_enabled: true,
      allowed_domains: [NAMES.allowed],
    });
    const direct = await manager.execute(sandbox_id, OWNER, {
      code: `${PROBE_PRELUDE}\nprint(get('http://${NAMES.blocked}/hello.txt'))`,
      job_id: 'job-000000000000000000000001',
      timeout: 60,
    });
    expect(direct.stdout).toBe('http:403\n');
    await expect
      .poll(() => refusals.filter((r) => r.sandbox_id === sandbox_id).map((r) => [r.target, r.job_id, r.background]), {
        timeout: 15_000,
      })
      .toEqual([[`${NAMES.blocked}:80`, 'job-000000000000000000000001', false]]);
    // A daemon the job kept tries once its execution has ended.
    const daemon = await manager.execute(sandbox_id, OWNER, {
      code: `${PROBE_PRELUDE}
import os, time
if os.fork() == 0:
    os.setsid()
    time.sleep(1)
    get('http://${NAMES.blocked}:8080/later')
    os._exit(0)
print('started')`,
      job_id: 'job-000000000000000000000002',
      keep_background: true,
    });
    expect(daemon.stdout).toBe('started\n');
    await expect
      .poll(
        () =>
          refusals
            .filter((r) => r.sandbox_id === sandbox_id && r.target.endsWith(':8080'))
            .map((r) => [r.job_id, r.background]),
        { timeout: 15_000 },
      )
      .toEqual([['job-000000000000000000000002', true]]);
  });

  it('a sandbox without network reaches nothing at all', async () => {
    const { sandbox_id } = await manager.create({ language: 'python', owner: OWNER });
    const verdicts = await probe(
      sandbox_id,
      `print(json.dumps({
  'host_service': tcp('${hostAddress}', ${hostPort}),
  'metadata': tcp('169.254.169.254', 80),
  'standin_ip': tcp('${standin!.address}', 80),
  'raw_dns': dns('${NAMES.allowed}'),
  'resolver': resolve('${NAMES.allowed}'),
  'proxy_env': str('HTTP_PROXY' in os.environ),
  'raw_socket': raw('${hostAddress}'),
  'ping_socket': ping('${hostAddress}'),
}))`,
    );
    for (const [target, verdict] of Object.entries(verdicts)) {
      expect(verdict, target).not.toMatch(/^(connected|reply|answers:[1-9]|resolved|True)/);
    }
  });
});

describe('refusal records', () => {
  it('a flood of direct attempts is counted in full and logged in part, with summaries of the rest by reason', async () => {
    const { sandbox_id } = await manager.create({
      language: 'python',
      owner: OWNER,
      network_enabled: true,
      allowed_domains: [],
    });
    const result = await manager.execute(sandbox_id, OWNER, {
      code: `${PROBE_PRELUDE}\nprint(sorted(set(tcp('169.254.169.254', 1000 + i) for i in range(120))))`,
      timeout: 60,
    });
    expect(result.stdout.trim()).toBe("['error:Connection refused']");
    // At most 50 one by one per 10-second window of the proxy; the rest counted, in summaries each second.
    await expect.poll(() => manager.egressRefusals(sandbox_id), { timeout: 25_000, interval: 250 }).toBe(120);
    const mine = refusals.filter((r) => r.sandbox_id === sandbox_id);
    const logged = mine.filter((r) => r.target !== '*');
    const summaries = mine.filter((r) => r.target === '*');
    expect(logged.length).toBeGreaterThanOrEqual(50);
    expect(logged.length).toBeLessThanOrEqual(100);
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    expect(mine.every((r) => r.reason === 'direct_connection')).toBe(true);
    expect(logged.length + summaries.reduce((sum, r) => sum + r.count, 0)).toBe(120);
  });
});

describe('a restarted manager', () => {
  it('follows the proxies of the network-enabled sandboxes it adopts, without replaying what was reported', async () => {
    const registry = new InMemorySandboxRegistry();
    const seenFirst: EgressRefusal[] = [];
    const seenRestarted: EgressRefusal[] = [];
    const config = { network: { egress_network: STANDIN_NETWORK, subnet_pool: '10.214.0.0/16' } };
    const first = testManager(config, { registry, onEgressRefused: (refusal) => seenFirst.push(refusal) });
    const { sandbox_id } = await first.create({
      language: 'python',
      owner: OWNER,
      network_enabled: true,
      allowed_domains: [],
    });
    await first.execute(sandbox_id, OWNER, { code: `${PROBE_PRELUDE}\ntcp('169.254.169.254', 81)`, timeout: 60 });
    await expect.poll(() => seenFirst.map((r) => r.target), { timeout: 15_000 }).toEqual(['169.254.169.254:81']);
    // The same manager id and registry, as after a restart of the worker.
    const restarted = testManager(config, {
      registry,
      managerId: first.managerId,
      onEgressRefused: (refusal) => seenRestarted.push(refusal),
    });
    try {
      await restarted.start();
      await restarted.execute(sandbox_id, OWNER, { code: `${PROBE_PRELUDE}\ntcp('169.254.169.254', 82)`, timeout: 60 });
      await expect.poll(() => seenRestarted.map((r) => r.target), { timeout: 15_000 }).toEqual(['169.254.169.254:82']);
    } finally {
      await restarted.stop({ destroySandboxes: true });
    }
  });
});

describe('sandbox subnets', () => {
  it('gives each sandbox network its own /29 of the pool, and fails clearly when the pool is full', async () => {
    const small = testManager({ network: { egress_network: STANDIN_NETWORK, subnet_pool: '10.215.0.0/28' } });
    try {
      const [a, b] = await Promise.all([
        small.create({ language: 'shell', owner: OWNER, network_enabled: true, allowed_domains: [] }),
        small.create({ language: 'shell', owner: OWNER, network_enabled: true, allowed_domains: [] }),
      ]);
      const subnets = await Promise.all(
        [a, b].map(
          async (s) =>
            (await docker.getNetwork(EgressNetwork.networkName(s.sandbox_id)).inspect()).IPAM?.Config?.[0]?.Subnet,
        ),
      );
      expect(subnets.sort()).toEqual(['10.215.0.0/29', '10.215.0.8/29']);
      await expect(
        small.create({ language: 'shell', owner: OWNER, network_enabled: true, allowed_domains: [] }),
      ).rejects.toMatchObject({
        code: 'RuntimeUnavailable',
        message: expect.stringContaining('no free /29 in 10.215.0.0/28'),
      });
      // What failed left nothing behind.
      expect(
        (await docker.listNetworks({ filters: { label: [`org.harombe.manager=${small.managerId}`] } })).length,
      ).toBe(2);
      await small.destroy(a.sandbox_id, OWNER);
      const c = await small.create({ language: 'shell', owner: OWNER, network_enabled: true, allowed_domains: [] });
      expect((await small.execute(c.sandbox_id, OWNER, { code: 'echo ok' })).stdout).toBe('ok\n');
    } finally {
      await small.stop({ destroySandboxes: true });
    }
  });
});

describe('the reaper', () => {
  it("removes a forgotten network-enabled sandbox's container, proxy and network", async () => {
    const first = testManager({ network: { egress_network: STANDIN_NETWORK } });
    const sandbox = await first.create({ language: 'shell', owner: OWNER, network_enabled: true, allowed_domains: [] });
    // A restarted manager with the same id remembers nothing: all three are orphans to it.
    const restarted = testManager({ network: { egress_network: STANDIN_NETWORK } }, { managerId: first.managerId });
    expect(await restarted.reapOrphans()).toBe(1);
    await expect(docker.getContainer(`harombe-${sandbox.sandbox_id}`).inspect()).rejects.toMatchObject({
      statusCode: 404,
    });
    await expect(docker.getContainer(EgressNetwork.proxyName(sandbox.sandbox_id)).inspect()).rejects.toMatchObject({
      statusCode: 404,
    });
    await expect(docker.getNetwork(EgressNetwork.networkName(sandbox.sandbox_id)).inspect()).rejects.toMatchObject({
      statusCode: 404,
    });
    // The first manager finds it gone.
    await expect(first.execute(sandbox.sandbox_id, OWNER, { code: 'true' })).rejects.toMatchObject({
      code: expect.stringMatching(/SandboxLost|SandboxNotFound/),
    });
  });
});

describe('code_install_package', () => {
  it('installs a pip package from the allowed index; later programs import it', async () => {
    const tools = new CodeExecutionTools(manager);
    const { sandbox_id } = await manager.create({
      language: 'python',
      owner: OWNER,
      network_enabled: true,
      allowed_domains: [],
    });
    const install = await tools.code_install_package(
      { sandbox_id, package: 'harombe-demo==1.0', registry: 'pypi' },
      OWNER,
    );
    expect(install, install.stderr).toMatchObject({ success: true, error: null });
    expect(install.stdout).toMatch(/Successfully installed harombe-demo-1\.0/);
    const run = await tools.code_execute(
      { language: 'python', sandbox_id, code: 'import harombe_demo; print(harombe_demo.GREETING)' },
      OWNER,
    );
    expect(run).toMatchObject({ success: true, stdout: 'hello from the pip package\n' });
    const missing = await tools.code_install_package(
      { sandbox_id, package: 'no-such-package', registry: 'pypi' },
      OWNER,
    );
    expect(missing).toMatchObject({ success: false, error: 'InstallFailed' });
    expect(missing.stderr).toMatch(/No matching distribution found for no-such-package/);
  });

  it('installs an npm package from the allowed registry; later programs require it', async () => {
    const tools = new CodeExecutionTools(manager);
    const { sandbox_id } = await manager.create({
      language: 'javascript',
      owner: OWNER,
      network_enabled: true,
      allowed_domains: [],
    });
    const install = await tools.code_install_package(
      { sandbox_id, package: 'harombe-demo@1.0.0', registry: 'npm' },
      OWNER,
    );
    expect(install, install.stderr).toMatchObject({ success: true, error: null });
    const run = await tools.code_execute(
      { language: 'javascript', sandbox_id, code: "console.log(require('harombe-demo').greeting)" },
      OWNER,
    );
    expect(run).toMatchObject({ success: true, stdout: 'hello from the npm package\n' });
  });

  it('refuses a registry not on the list before any traffic, and installs without network', async () => {
    const pypiOnly = testManager({
      network: {
        egress_network: STANDIN_NETWORK,
        allowed_registries: { pypi: { index_url: `http://${NAMES.pypi}/simple/` } },
      },
    });
    await pypiOnly.start();
    try {
      const tools = new CodeExecutionTools(pypiOnly);
      const { sandbox_id } = await pypiOnly.create({
        language: 'javascript',
        owner: OWNER,
        network_enabled: true,
        allowed_domains: [],
      });
      const refused = await tools.code_install_package({ sandbox_id, package: 'harombe-demo', registry: 'npm' }, OWNER);
      expect(refused).toMatchObject({ success: false, error: 'RegistryNotAllowed' });
      expect(refused.stderr).toMatch(/registry 'npm' is not allowed.*allowed: pypi.*allowed_registries/);
      expect(pypiOnly.egressRefusals(sandbox_id)).toBe(0);
      const offline = await pypiOnly.create({ language: 'python', owner: OWNER });
      expect(
        await tools.code_install_package(
          { sandbox_id: offline.sandbox_id, package: 'harombe-demo', registry: 'pypi' },
          OWNER,
        ),
      ).toMatchObject({
        success: false,
        error: 'NetworkDisabled',
      });
    } finally {
      await pypiOnly.stop({ destroySandboxes: true });
    }
  });
});
