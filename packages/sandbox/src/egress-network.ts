import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { HarombeError } from '@harombe/core';
import { LABELS, ROLES } from './labels.js';
import { networkGateway } from './network-gateway.js';
import type { SandboxSubnet, SubnetPool } from './subnet-pool.js';

/** A connection the egress proxy refused: what the audit trail and the metrics are told. */
export interface EgressRefusal {
  sandbox_id: string;
  /** host:port as the sandbox asked for it; `*` in a flood's summary. */
  target: string;
  /**
   * ip_literal, port_not_allowed, domain_not_allowed, unresolvable, forbidden_address,
   * private_address, direct_connection, dns_query, ...
   */
  reason: string;
  method: string;
  at: string;
  /** Refusals this report stands for: 1, or how many of `reason` a flood's summary (target `*`) counts. */
  count: number;
  /** The job whose execution (or install) made the attempt, when the sandbox ran one for a job then. */
  job_id?: string;
  /** The attempt came while no execution ran: from background processes the job kept (keep_background). */
  background?: boolean;
}

export interface EgressNetworkOptions {
  docker: Docker;
  managerId: string;
  logger: Logger;
  /** Network the proxies reach out through; created (ICC off) when missing. */
  egressNetwork: string;
  proxyImage: string;
  /** Destination ports the proxies allow. */
  allowedPorts: number[];
  /** Private ranges allowed names may resolve into (security.sandbox.network.allowed_private_ranges). */
  allowedPrivateRanges: string[];
  /** Ranges allowed names may never resolve into: the host's addresses (see deniedRanges in sandbox-manager). */
  deniedRanges: string[];
  /** Where each sandbox network's /29 comes from (security.sandbox.network.subnet_pool). */
  subnets: SubnetPool;
  /** Told of every refusal. */
  onRefused: (refusal: EgressRefusal) => void;
}

/** What a network-enabled sandbox is given: where to attach and how to reach its proxy. */
export interface EgressAttachment {
  /** The sandbox's own network, from which only the proxy is reachable. */
  networkName: string;
  /** http://<proxy address>:<port> */
  proxyUrl: string;
  /** The network's gateway address, held by the proxy: the sandbox's DNS server. */
  gateway: string;
}

/** Port the proxy listens on inside its container. */
const PROXY_PORT = 3128;
/** Port of the proxy's DNS listener, where the sandbox's DNS queries are redirected. */
const DNS_PORT = 5353;
/** Subnets tried before giving up when Docker says each overlaps a network it has. */
const SUBNET_ATTEMPTS = 64;

/**
 * Run in the sandbox's network namespace by `confine`: what the sandbox sends stays unicast IPv4
 * TCP and UDP, which its routes take to its proxy. DNS too: its resolver (127.0.0.11 in the
 * resolv.conf Docker writes) is Docker's embedded DNS, which answers the names of the containers
 * on the sandbox's network; queries to it go to the proxy instead (HAROMBE_GATEWAY, where it
 * answers and records them), from the sandbox's own address (so the answers find their way back,
 * route_localnet is on, see confine), and nothing else reaches 127.0.0.11.
 */
const CONFINE_SCRIPT = `set -eu
for protocol in udp tcp; do
  iptables -w -t nat -I OUTPUT 1 -d 127.0.0.11 -p "$protocol" --dport 53 -j DNAT --to-destination "$HAROMBE_GATEWAY:53"
done
iptables -w -t nat -A POSTROUTING -s 127.0.0.0/8 -d "$HAROMBE_GATEWAY" -j MASQUERADE
iptables -w -A OUTPUT -d 127.0.0.11 -j DROP
iptables -w -A OUTPUT -m addrtype --dst-type BROADCAST -j DROP
iptables -w -A OUTPUT -m addrtype --dst-type MULTICAST -j DROP
iptables -w -A OUTPUT -d 255.255.255.255 -j DROP
iptables -w -A OUTPUT -p icmp -j DROP
if [ -e /proc/net/if_inet6 ]; then ip6tables -w -P OUTPUT DROP; fi`;
/** How long a new proxy may take to say it listens. */
const READY_TIMEOUT_MS = 20_000;
/** The proxy program, handed to each proxy container (src/ and dist/ both sit next to proxy/). */
const PROXY_SOURCE_URL = new URL('../proxy/egress-proxy.mjs', import.meta.url);
const PROXY_ADDRESSES_URL = new URL('../proxy/special-purpose-addresses.mjs', import.meta.url);
const PROXY_INIT_URL = new URL('../proxy/egress-proxy-init.sh', import.meta.url);
/** Where egress-proxy.mjs imports its address tables: the one line replaced by the tables themselves. */
const ADDRESSES_IMPORT = /^import \{[^}]*\} from '\.\/special-purpose-addresses\.mjs';$/m;

/**
 * The proxy program as one text, the way its container runs it (`node -e`): egress-proxy.mjs with
 * the address tables it imports inlined.
 */
export function proxyProgramSource(): string {
  const source = readFileSync(PROXY_SOURCE_URL, 'utf8');
  if (!ADDRESSES_IMPORT.test(source)) throw new Error('egress-proxy.mjs no longer imports its address tables');
  return source.replace(ADDRESSES_IMPORT, () => readFileSync(PROXY_ADDRESSES_URL, 'utf8'));
}

/**
 * The network side of network-enabled sandboxes: per sandbox, a Docker network on a /29 of its
 * own with no IPv4 on the host's side of the bridge (so the host is unreachable from it) and an
 * egress proxy container attached to it and to the egress network. The proxy takes the network's
 * gateway address, so whatever the sandbox sends off its /29 reaches the proxy and is refused and
 * recorded there (see proxy/egress-proxy-init.sh). One proxy per sandbox keeps each allowlist,
 * and each sandbox's traffic, apart without identifying clients.
 */
export class EgressNetwork {
  private readonly docker: Docker;
  private readonly options: EgressNetworkOptions;
  private proxyProgram: { init: string; source: string } | undefined;
  private egressGateway: Promise<string> | undefined;
  /** Sandboxes whose proxy log is being followed. */
  private readonly following = new Set<string>();

  constructor(options: EgressNetworkOptions) {
    this.docker = options.docker;
    this.options = options;
  }

  static networkName(sandboxId: string): string {
    return `harombe-net-${sandboxId}`;
  }

  static proxyName(sandboxId: string): string {
    return `harombe-proxy-${sandboxId}`;
  }

  static confineName(sandboxId: string): string {
    return `harombe-confine-${sandboxId}`;
  }

  /** Fails with RuntimeUnavailable, and the fix, when the proxy image is not built. */
  async check(): Promise<void> {
    try {
      await this.docker.getImage(this.options.proxyImage).inspect();
    } catch {
      throw new HarombeError(
        'RuntimeUnavailable',
        `the egress proxy image ${this.options.proxyImage} is missing; build it with: sudo bash deploy/host/setup.sh images`,
      );
    }
  }

  /** Creates the sandbox's network and its proxy, allowing `allowedDomains`; resolves once the proxy listens. */
  async attach(sandboxId: string, owner: string, allowedDomains: string[]): Promise<EgressAttachment> {
    await this.check();
    const egressGateway = await this.ensureEgressNetwork();
    const labels = { [LABELS.manager]: this.options.managerId, [LABELS.sandbox]: sandboxId, [LABELS.owner]: owner };
    const networkName = EgressNetwork.networkName(sandboxId);
    try {
      const subnet = await this.createSandboxNetwork(networkName, { ...labels, [LABELS.role]: ROLES.sandboxNetwork });
      const program = this.program();
      const proxy = await this.docker.createContainer({
        name: EgressNetwork.proxyName(sandboxId),
        Image: this.options.proxyImage,
        // The init sets up the namespace as root, then runs the proxy as nobody with no capabilities.
        Cmd: ['sh', '-c', program.init, 'harombe-egress-proxy', program.source],
        User: '0:0',
        Env: [
          `HAROMBE_PROXY_ADDRESS=${subnet.proxy}`,
          `HAROMBE_GATEWAY=${subnet.gateway}`,
          `HAROMBE_EGRESS_GATEWAY=${egressGateway}`,
          `HAROMBE_PROXY_PORT=${PROXY_PORT}`,
          `HAROMBE_DNS_PORT=${DNS_PORT}`,
          `HAROMBE_EGRESS_CONFIG=${JSON.stringify({
            sandbox_id: sandboxId,
            allowed_domains: allowedDomains,
            allowed_ports: this.options.allowedPorts,
            listen_port: PROXY_PORT,
            dns_port: DNS_PORT,
            proxy_address: subnet.proxy,
            sandbox_subnet: subnet.subnet,
            gateway: subnet.gateway,
            allowed_private_ranges: this.options.allowedPrivateRanges,
            denied_ranges: this.options.deniedRanges,
          })}`,
        ],
        Labels: { ...labels, [LABELS.role]: ROLES.egressProxy },
        HostConfig: {
          ...netAdminHostConfig(['SETUID', 'SETGID']),
          NetworkMode: this.options.egressNetwork,
          // Nothing the sandbox sends may pass through the proxy's namespace.
          Sysctls: { 'net.ipv4.ip_forward': '0' },
          Memory: 128 * 1024 * 1024,
          PidsLimit: 64,
          RestartPolicy: { Name: 'no' },
          // Its stdout is the refusal log the manager follows.
          LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
        },
      });
      await this.docker
        .getNetwork(networkName)
        .connect({ Container: proxy.id, EndpointConfig: { IPAMConfig: { IPv4Address: subnet.proxy } } });
      await proxy.start();
      await this.followLog(proxy, sandboxId);
      return { networkName, proxyUrl: `http://${subnet.proxy}:${PROXY_PORT}`, gateway: subnet.gateway };
    } catch (error) {
      // Cleaning up must not hide why it failed.
      await this.detach(sandboxId).catch((cleanup: unknown) =>
        this.options.logger.warn({ sandbox_id: sandboxId, err: cleanup }, 'cleaning up a failed egress setup failed'),
      );
      if (error instanceof HarombeError) throw error;
      throw new HarombeError(
        'RuntimeUnavailable',
        `could not set up the sandbox's network: ${(error as Error).message}`,
      );
    }
  }

  /**
   * The sandbox's own network, on a /29 of the pool. Not `internal`: Docker's isolation rules for
   * internal networks drop what the sandbox sends off its subnet before it reaches the proxy,
   * silently. Without an IPv4 address on the bridge the host has none on this network and routes
   * nothing for it, so the proxy, holding the gateway address, is the only way off the /29.
   */
  private async createSandboxNetwork(name: string, labels: Record<string, string>): Promise<SandboxSubnet> {
    let lastError: unknown;
    const { subnets } = this.options;
    const tries = Math.min(SUBNET_ATTEMPTS, subnets.blocks);
    const start = subnets.randomIndex();
    // From a random block onwards: workers sharing the host rarely collide, and a filling pool is walked, not sampled.
    for (let attempt = 0; attempt < tries; attempt += 1) {
      const subnet = subnets.at((start + attempt) % subnets.blocks);
      try {
        await this.docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          Internal: false,
          CheckDuplicate: true,
          IPAM: { Driver: 'default', Config: [{ Subnet: subnet.subnet, Gateway: subnet.gateway }] },
          Options: {
            'com.docker.network.bridge.inhibit_ipv4': 'true',
            'com.docker.network.bridge.enable_ip_masquerade': 'false',
          },
          Labels: labels,
        });
        return subnet;
      } catch (error) {
        // Another network holds that range (another sandbox's, perhaps another worker's): pick again.
        if (!/overlap/i.test((error as Error).message)) throw error;
        lastError = error;
      }
    }
    throw new Error(`no free /29 in ${subnets.cidr} after ${tries} tries: ${(lastError as Error).message}`);
  }

  /**
   * Locks down the started sandbox's own network namespace, before any of its code runs: no
   * broadcast or multicast (which the host's side of the bridge would receive, address or not),
   * no ICMP and no IPv6, and DNS answered by its proxy (`gateway`), not by Docker's resolver. A short-lived container joins the namespace to do it, so the sandbox itself
   * never holds NET_ADMIN. Throws, leaving the sandbox for the caller to remove, when it fails.
   */
  async confine(sandboxContainerId: string, sandboxId: string, gateway: string): Promise<void> {
    const helper = await this.docker.createContainer({
      name: EgressNetwork.confineName(sandboxId),
      Image: this.options.proxyImage,
      Cmd: ['sh', '-c', CONFINE_SCRIPT],
      Env: [`HAROMBE_GATEWAY=${gateway}`],
      User: '0:0',
      Labels: {
        [LABELS.manager]: this.options.managerId,
        [LABELS.sandbox]: sandboxId,
        [LABELS.role]: ROLES.egressProxy,
      },
      HostConfig: {
        ...netAdminHostConfig(),
        NetworkMode: `container:${sandboxContainerId}`,
        // Set in the sandbox's namespace, which the helper joins: the proxy's DNS answers to the
        // sandbox's own address are turned back to the loopback address it asked from.
        Sysctls: { 'net.ipv4.conf.all.route_localnet': '1' },
        RestartPolicy: { Name: 'no' },
        LogConfig: { Type: 'json-file', Config: { 'max-size': '64k', 'max-file': '1' } },
      },
    });
    try {
      await helper.start();
      const { StatusCode } = (await helper.wait()) as { StatusCode: number };
      if (StatusCode !== 0) {
        const log = (await helper.logs({ stdout: true, stderr: true })).toString().slice(-2000);
        throw new HarombeError(
          'RuntimeUnavailable',
          `could not confine the sandbox's network (exit ${StatusCode}): ${log}`,
        );
      }
    } finally {
      await ignoreMissing(helper.remove({ force: true }));
    }
  }

  /** Removes the sandbox's proxy and network; what is already gone is fine. */
  async detach(sandboxId: string): Promise<void> {
    await ignoreMissing(this.docker.getContainer(EgressNetwork.proxyName(sandboxId)).remove({ force: true }));
    await ignoreMissing(this.docker.getContainer(EgressNetwork.confineName(sandboxId)).remove({ force: true }));
    await ignoreMissing(this.docker.getNetwork(EgressNetwork.networkName(sandboxId)).remove());
  }

  /**
   * Removes proxies and networks of this manager (or, with `managerIds`, of those managers)
   * whose sandbox `keep` does not claim. Returns how many sandboxes' leftovers it removed.
   */
  async reap(keep: (sandboxId: string, managerId: string) => boolean, anyManager = false): Promise<number> {
    const filter = { label: anyManager ? [LABELS.role] : [LABELS.role, `${LABELS.manager}=${this.options.managerId}`] };
    const proxies = await this.docker.listContainers({ all: true, filters: filter });
    const networks = await this.docker.listNetworks({ filters: filter });
    const gone = new Set<string>();
    for (const labels of [...proxies.map((c) => c.Labels), ...networks.map((n) => n.Labels ?? {})]) {
      const sandboxId = labels[LABELS.sandbox] ?? '';
      const managerId = labels[LABELS.manager] ?? '';
      if (sandboxId && !keep(sandboxId, managerId)) gone.add(sandboxId);
    }
    for (const sandboxId of gone) {
      await this.detach(sandboxId);
      this.options.logger.warn({ sandbox_id: sandboxId }, 'reaped egress proxy and network of a gone sandbox');
    }
    return gone.size;
  }

  private program(): { init: string; source: string } {
    this.proxyProgram ??= { init: readFileSync(PROXY_INIT_URL, 'utf8'), source: proxyProgramSource() };
    return this.proxyProgram;
  }

  /**
   * The egress network is shared by all proxies; inter-container traffic on it is off (on one
   * the operator made, each proxy listens on its sandbox's side only). Resolves to its gateway,
   * the proxies' default route.
   */
  private async ensureEgressNetwork(): Promise<string> {
    this.egressGateway ??= (async () => {
      const name = this.options.egressNetwork;
      const existing = await this.docker.listNetworks({ filters: { name: [name] } });
      if (!existing.some((n) => n.Name === name)) {
        try {
          await this.docker.createNetwork({
            Name: name,
            Driver: 'bridge',
            CheckDuplicate: true,
            Options: { 'com.docker.network.bridge.enable_icc': 'false' },
            Labels: { [LABELS.role]: ROLES.egressNetwork },
          });
        } catch (error) {
          if ((error as { statusCode?: number }).statusCode !== 409) throw error;
        }
      }
      return networkGateway(this.docker, name);
    })();
    try {
      return await this.egressGateway;
    } catch (error) {
      this.egressGateway = undefined;
      throw error;
    }
  }

  /**
   * Follows the proxy of a sandbox this manager adopted (after a restart) from now on, unless it
   * is followed already. Refusals logged before now were reported by the manager of the time.
   */
  async resume(sandboxId: string): Promise<void> {
    if (this.following.has(sandboxId)) return;
    try {
      await this.followLog(
        this.docker.getContainer(EgressNetwork.proxyName(sandboxId)),
        sandboxId,
        new Date().toISOString(),
      );
    } catch (error) {
      this.options.logger.warn(
        { sandbox_id: sandboxId, err: error },
        'could not follow the egress proxy of an adopted sandbox',
      );
    }
  }

  /**
   * Follows the proxy's JSON log and reports every refusal. A new proxy's (no `since`) resolves
   * once it listens; with `since`, at once, reporting only what is logged from then on.
   */
  private async followLog(proxy: Docker.Container, sandboxId: string, since?: string): Promise<void> {
    const stream = await proxy.logs({
      follow: true,
      stdout: true,
      stderr: true,
      ...(since ? { since: Math.floor(Date.parse(since) / 1000) } : {}),
    });
    this.following.add(sandboxId);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    this.docker.modem.demuxStream(stream, stdout, stderr);
    const ended = () => {
      this.following.delete(sandboxId);
      stdout.end();
      stderr.end();
    };
    stream.on('end', ended);
    // The stream breaks when the proxy is removed: nothing left to follow.
    stream.on('error', ended);
    stderr.on('data', (chunk: Buffer) =>
      this.options.logger.warn(
        { sandbox_id: sandboxId, stderr: chunk.toString().slice(0, 2000) },
        'egress proxy stderr',
      ),
    );
    let ready: () => void = () => undefined;
    const listening = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the egress proxy did not start listening')), READY_TIMEOUT_MS);
      stream.on('end', () => {
        clearTimeout(timer);
        reject(new Error('the egress proxy exited'));
      });
      ready = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    createInterface({ input: stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (entry.event === 'egress_proxy_ready') ready();
      else if (entry.event === 'egress_refused' && !(since && String(entry.at) < since)) {
        this.options.onRefused({
          sandbox_id: sandboxId,
          target: String(entry.target),
          reason: String(entry.reason),
          method: String(entry.method),
          at: String(entry.at),
          count: typeof entry.count === 'number' && entry.count > 0 ? entry.count : 1,
        });
      }
    });
    if (since) {
      listening.catch(() => undefined);
      return;
    }
    await listening;
  }
}

/**
 * The hardening the proxy and the confining helper share: root only to change a network
 * namespace (NET_ADMIN, NET_RAW, and `extra`), nothing else, a read-only root with /run for
 * iptables' lock.
 */
function netAdminHostConfig(extra: string[] = []): Docker.HostConfig {
  return {
    ReadonlyRootfs: true,
    Tmpfs: { '/run': 'rw,nosuid,nodev,noexec,size=1m' },
    CapDrop: ['ALL'],
    CapAdd: ['NET_ADMIN', 'NET_RAW', ...extra],
    SecurityOpt: ['no-new-privileges'],
  };
}

async function ignoreMissing(operation: Promise<unknown>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== 404 && status !== 409) throw error;
  }
}
