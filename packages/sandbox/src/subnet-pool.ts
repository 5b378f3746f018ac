import { randomInt } from 'node:crypto';

/** The addresses of one network-enabled sandbox's network. */
export interface SandboxSubnet {
  /** a.b.c.d/29 */
  subnet: string;
  /** Reserved by Docker as the network's gateway, held by nothing on the host: the proxy takes it. */
  gateway: string;
  /** The egress proxy's address on the network. */
  proxy: string;
}

/** Addresses per sandbox network: network, gateway, proxy, sandbox, spares and broadcast. */
const BLOCK = 8;
const PREFIX = 29;

/**
 * Hands out /29 subnets of a pool (security.sandbox.network.subnet_pool) for the own network
 * of each network-enabled sandbox. Docker's default address pools hold about 30 networks per host;
 * a /16 pool holds 8,192. Callers start at a random block: Docker refuses a subnet that overlaps a
 * network it has, so workers sharing a host need no other coordination, only the next block.
 */
export class SubnetPool {
  private readonly base: number;
  readonly blocks: number;

  constructor(readonly cidr: string) {
    const parsed = parseCidr(cidr);
    if (!parsed || parsed.prefix > PREFIX)
      throw new Error(`subnet pool ${cidr}: expected an IPv4 CIDR of /${PREFIX} or larger`);
    this.base = parsed.address;
    this.blocks = 2 ** (PREFIX - parsed.prefix);
  }

  /** The n-th /29 of the pool. */
  at(index: number): SandboxSubnet {
    const start = this.base + index * BLOCK;
    return { subnet: `${formatIp(start)}/${PREFIX}`, gateway: formatIp(start + 1), proxy: formatIp(start + 2) };
  }

  /** The index of a /29 picked at random. */
  randomIndex(): number {
    return randomInt(this.blocks);
  }

  /** A /29 picked at random. */
  pick(): SandboxSubnet {
    return this.at(this.randomIndex());
  }
}

/** Parses a.b.c.d/n; the address is aligned down to the prefix. */
export function parseCidr(cidr: string): { address: number; prefix: number } | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  return { address: Math.floor(address / size) * size, prefix };
}

export function formatIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}
