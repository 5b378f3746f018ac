import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CodeExecutionTools, EgressNetwork, type EgressRefusal, type SandboxManager } from '../src/index.js';
import { docker, testManager } from './fixtures.js';

/**
 * Network-enabled sandboxes against stand-ins the test serves on a Docker network of its own
 * (internal: no traffic leaves the machine): one runc container with several names plays a
 * PyPI simple index, an npm registry and two web sites, one allowed and one not.
 */

const OWNER = 'net-tester';
const SUFFIX = randomBytes(3).toString('hex');
const STANDIN_NETWORK = `harombe-test-standins-${SUFFIX}`;
const NAMES = { pypi: 'pypi.harombe.test', npm: 'npm.harombe.test', allowed: 'allowed.harombe.test', blocked: 'blocked.harombe.test' };

let standin: { id: string; address: string } | undefined;
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
  const wheelSha = createHash('sha256').update(execFileSync('cat', [wheel])).digest('hex');
  writeFileSync(
    join(root, 'simple/harombe-demo/index.html'),
    `<!DOCTYPE html><html><body><a href="../../packages/harombe_demo-1.0-py3-none-any.whl#sha256=${wheelSha}">harombe_demo-1.0-py3-none-any.whl</a></body></html>\n`,
  );
  const pkg = join(root, 'npm-src/package');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'harombe-demo', version: '1.0.0', main: 'index.js' }));
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

/** Runs a probe program in a sandbox and returns its JSON verdicts. */
async function probe(sandboxId: string, program: string): Promise<Record<string, string>> {
  const result = await manager.execute(sandboxId, OWNER, { code: PROBE_PRELUDE + program, timeout: 60 });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as Record<string, string>;
}

/** Python helpers: a TCP connect, an HTTP GET through the configured proxy, a raw DNS query. */
const PROBE_PRELUDE = `
import json, os, socket, urllib.request, urllib.error
def tcp(host, port):
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, port)); return 'connected'
    except socket.timeout: return 'timeout'
    except OSError as e: return 'error:' + (e.strerror or str(e))
    finally: s.close()
def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r: return 'ok:' + r.read().decode().strip()
    except urllib.error.HTTPError as e: return 'http:' + str(e.code)
    except Exception as e: return 'error:' + type(e).__name__
def dns(name):
    q = os.urandom(2) + b'\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00' + b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\\x00\\x00\\x01\\x00\\x01'
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    try:
        s.sendto(q, ('127.0.0.11', 53)); r = s.recv(512)
        return 'answers:' + str(int.from_bytes(r[6:8], 'big'))
    except OSError as e: return 'error:' + type(e).__name__
def resolve(name):
    try: return 'resolved:' + socket.gethostbyname(name)
    except OSError as e: return 'error:' + type(e).__name__
`;

beforeAll(async () => {
  // The host side: a listener on the docker0 address stands for Redis and every host service.
  const bridge = await docker.getNetwork('bridge').inspect();
  hostAddress = bridge.IPAM?.Config?.[0]?.Gateway ?? '';
  expect(hostAddress, 'the default bridge has a gateway address').toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  hostListener = createServer((socket) => {
    socket.on('error', () => undefined); // probes hang up without reading
    socket.end('host service\n');
  });
  await new Promise<void>((resolve) => hostListener!.listen(0, hostAddress, resolve));
  hostPort = (hostListener.address() as { port: number }).port;

  await docker.createNetwork({ Name: STANDIN_NETWORK, Internal: true, Labels: { 'org.harombe.test': 'network' } });
  cleanups.push(() => docker.getNetwork(STANDIN_NETWORK).remove());
  const files = mkdtempSync(join(tmpdir(), 'harombe-registry-'));
  buildRegistryFiles(files);
  const container = await docker.createContainer({
    Image: 'harombe/sandbox-python',
    name: `harombe-test-standins-${SUFFIX}`,
    User: '0:0',
    Cmd: ['python3', '-m', 'http.server', '80', '--directory', '/srv'],
    Labels: { 'org.harombe.test': 'standins' },
    HostConfig: { Runtime: 'runc', NetworkMode: STANDIN_NETWORK },
    NetworkingConfig: { EndpointsConfig: { [STANDIN_NETWORK]: { Aliases: Object.values(NAMES) } } },
  });
  cleanups.unshift(() => container.remove({ force: true }));
  await container.putArchive(execFileSync('tar', ['-C', files, '-c', '.']), { path: '/srv' });
  rmSync(files, { recursive: true });
  await container.start();
  const inspected = await container.inspect();
  standin = { id: container.id, address: inspected.NetworkSettings.Networks[STANDIN_NETWORK]!.IPAddress };

  manager = testManager(
    {
      network: {
        egress_network: STANDIN_NETWORK,
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
  it('sits alone with its proxy on an internal network, under the network runtime; destroy removes all three', async () => {
    const sandbox = await manager.create({ language: 'python', owner: OWNER, network_enabled: true, allowed_domains: [NAMES.allowed] });
    expect(sandbox).toMatchObject({ network_enabled: true, allowed_domains: [NAMES.allowed] });
    const networkName = EgressNetwork.networkName(sandbox.sandbox_id);
    const [container] = await docker.listContainers({ filters: { label: [`org.harombe.sandbox=${sandbox.sandbox_id}`, `org.harombe.manager=${manager.managerId}`] } });
    expect(container).toBeDefined();
    const [sandboxContainer, proxyContainer] = await Promise.all([
      docker.getContainer(`harombe-${sandbox.sandbox_id}`).inspect(),
      docker.getContainer(EgressNetwork.proxyName(sandbox.sandbox_id)).inspect(),
    ]);
    expect(sandboxContainer.HostConfig.Runtime).toBe('runsc-net');
    expect(Object.keys(sandboxContainer.NetworkSettings.Networks)).toEqual([networkName]);
    expect(Object.keys(proxyContainer.NetworkSettings.Networks).sort()).toEqual([networkName, STANDIN_NETWORK].sort());
    expect(proxyContainer.Config.User).toBe('65534:65534');
    const network = await docker.getNetwork(networkName).inspect();
    expect(network.Internal).toBe(true);
    expect(network.Options?.['com.docker.network.bridge.inhibit_ipv4']).toBe('true');

    await manager.destroy(sandbox.sandbox_id, OWNER);
    await expect(docker.getContainer(EgressNetwork.proxyName(sandbox.sandbox_id)).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await expect(docker.getNetwork(networkName).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('reaches allowed domains through its proxy; everything else is refused, logged and counted', async () => {
    const { sandbox_id } = await manager.create({ language: 'python', owner: OWNER, network_enabled: true, allowed_domains: [NAMES.allowed] });
    const verdicts = await probe(
      sandbox_id,
      `print(json.dumps({
  'allowed': get('http://${NAMES.allowed}/hello.txt'),
  'blocked': get('http://${NAMES.blocked}/hello.txt'),
  'ip_literal': get('http://${standin!.address}/hello.txt'),
  'other_port': get('http://${NAMES.allowed}:8080/hello.txt'),
  'host_via_proxy': get('http://${hostAddress}:${hostPort}/'),
}))`,
    );
    expect(verdicts).toEqual({
      allowed: 'ok:hello from the allowed site',
      blocked: 'http:403',
      ip_literal: 'http:403',
      other_port: 'http:403',
      host_via_proxy: 'http:403',
    });
    const mine = refusals.filter((r) => r.sandbox_id === sandbox_id);
    // The proxy's log reaches the manager a moment after the answer reached the sandbox.
    await expect.poll(() => manager.egressRefusals(sandbox_id), { timeout: 5000 }).toBe(4);
    expect(mine.map((r) => [r.target, r.reason]).sort()).toEqual(
      [
        [`${NAMES.blocked}:80`, 'domain_not_allowed'],
        [`${standin!.address}:80`, 'ip_literal'],
        [`${NAMES.allowed}:8080`, 'port_not_allowed'],
        [`${hostAddress}:${hostPort}`, 'ip_literal'],
      ].sort(),
    );
  });

  it('reaches nothing directly: not the host, the Docker API, the metadata address, another sandbox, an IP, DNS', async () => {
    const [one, other] = await Promise.all([
      manager.create({ language: 'python', owner: OWNER, network_enabled: true, allowed_domains: [NAMES.allowed] }),
      manager.create({ language: 'python', owner: OWNER, network_enabled: true, allowed_domains: [NAMES.allowed] }),
    ]);
    const otherProxy = await docker.getContainer(EgressNetwork.proxyName(other.sandbox_id)).inspect();
    const otherProxyAddress = otherProxy.NetworkSettings.Networks[EgressNetwork.networkName(other.sandbox_id)]!.IPAddress;
    const otherSandbox = await docker.getContainer(`harombe-${other.sandbox_id}`).inspect();
    const otherSandboxAddress = otherSandbox.NetworkSettings.Networks[EgressNetwork.networkName(other.sandbox_id)]!.IPAddress;
    const program = `print(json.dumps({
  'host_service': tcp('${hostAddress}', ${hostPort}),
  'host_redis': tcp('${hostAddress}', 6379),
  'docker_api': tcp('${hostAddress}', 2375),
  'docker_socket': str(os.path.exists('/var/run/docker.sock')),
  'metadata': tcp('169.254.169.254', 80),
  'other_proxy': tcp('${otherProxyAddress}', 3128),
  'other_sandbox': tcp('${otherSandboxAddress}', 80),
  'standin_ip': tcp('${standin!.address}', 80),
  'raw_dns': dns('${NAMES.allowed}'),
  'resolver': resolve('${NAMES.allowed}'),
}))`;
    const verdicts = await probe(one.sandbox_id, program);
    for (const [target, verdict] of Object.entries(verdicts)) {
      expect(verdict, target).not.toBe('connected');
      expect(verdict, target).not.toMatch(/^(answers|resolved|True)/);
    }
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
}))`,
    );
    for (const [target, verdict] of Object.entries(verdicts)) {
      expect(verdict, target).not.toBe('connected');
      expect(verdict, target).not.toMatch(/^(answers|resolved|True)/);
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
    await expect(docker.getContainer(`harombe-${sandbox.sandbox_id}`).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await expect(docker.getContainer(EgressNetwork.proxyName(sandbox.sandbox_id)).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await expect(docker.getNetwork(EgressNetwork.networkName(sandbox.sandbox_id)).inspect()).rejects.toMatchObject({ statusCode: 404 });
    // The first manager finds it gone.
    await expect(first.execute(sandbox.sandbox_id, OWNER, { code: 'true' })).rejects.toMatchObject({ code: expect.stringMatching(/SandboxLost|SandboxNotFound/) });
  });
});

describe('code_install_package', () => {
  it('installs a pip package from the allowed index; later programs import it', async () => {
    const tools = new CodeExecutionTools(manager);
    const { sandbox_id } = await manager.create({ language: 'python', owner: OWNER, network_enabled: true, allowed_domains: [] });
    const install = await tools.code_install_package({ sandbox_id, package: 'harombe-demo==1.0', registry: 'pypi' }, OWNER);
    expect(install, install.stderr).toMatchObject({ success: true, error: null });
    expect(install.stdout).toMatch(/Successfully installed harombe-demo-1\.0/);
    const run = await tools.code_execute({ language: 'python', sandbox_id, code: 'import harombe_demo; print(harombe_demo.GREETING)' }, OWNER);
    expect(run).toMatchObject({ success: true, stdout: 'hello from the pip package\n' });
    const missing = await tools.code_install_package({ sandbox_id, package: 'no-such-package', registry: 'pypi' }, OWNER);
    expect(missing).toMatchObject({ success: false, error: 'InstallFailed' });
    expect(missing.stderr).toMatch(/No matching distribution found for no-such-package/);
  });

  it('installs an npm package from the allowed registry; later programs require it', async () => {
    const tools = new CodeExecutionTools(manager);
    const { sandbox_id } = await manager.create({ language: 'javascript', owner: OWNER, network_enabled: true, allowed_domains: [] });
    const install = await tools.code_install_package({ sandbox_id, package: 'harombe-demo@1.0.0', registry: 'npm' }, OWNER);
    expect(install, install.stderr).toMatchObject({ success: true, error: null });
    const run = await tools.code_execute({ language: 'javascript', sandbox_id, code: "console.log(require('harombe-demo').greeting)" }, OWNER);
    expect(run).toMatchObject({ success: true, stdout: 'hello from the npm package\n' });
  });

  it('refuses a registry not on the list before any traffic, and installs without network', async () => {
    const pypiOnly = testManager({
      network: { egress_network: STANDIN_NETWORK, allowed_registries: { pypi: { index_url: `http://${NAMES.pypi}/simple/` } } },
    });
    await pypiOnly.start();
    try {
      const tools = new CodeExecutionTools(pypiOnly);
      const { sandbox_id } = await pypiOnly.create({ language: 'javascript', owner: OWNER, network_enabled: true, allowed_domains: [] });
      const refused = await tools.code_install_package({ sandbox_id, package: 'harombe-demo', registry: 'npm' }, OWNER);
      expect(refused).toMatchObject({ success: false, error: 'RegistryNotAllowed' });
      expect(refused.stderr).toMatch(/registry 'npm' is not allowed.*allowed: pypi.*allowed_registries/);
      expect(pypiOnly.egressRefusals(sandbox_id)).toBe(0);
      const offline = await pypiOnly.create({ language: 'python', owner: OWNER });
      expect(await tools.code_install_package({ sandbox_id: offline.sandbox_id, package: 'harombe-demo', registry: 'pypi' }, OWNER)).toMatchObject({
        success: false,
        error: 'NetworkDisabled',
      });
    } finally {
      await pypiOnly.stop({ destroySandboxes: true });
    }
  });
});
