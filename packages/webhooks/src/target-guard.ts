import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { HarombeError, WebhookUrl } from '@harombe/core';

/** A target that passed the checks: the URL, and the one address deliveries connect to. */
export interface ResolvedTarget {
  url: URL;
  /** The host as the URL names it (no brackets): the Host header and the TLS server name. */
  host: string;
  address: string;
  family: 4 | 6;
}

/** Resolves a name to every address it has, as the system resolver does (/etc/hosts included). */
export type LookupAll = (hostname: string) => Promise<{ address: string; family: number }[]>;

/** Why a target was refused (details.reason of WebhookTargetRefused). */
export type RefusalReason =
  'invalid_url' | 'unresolvable' | 'loopback' | 'link_local' | 'private' | 'own_address' | 'denied' | 'reserved';

export interface WebhookTargetGuardOptions {
  /** CIDRs allowed although loopback, link-local, private or the fleet's own (tests: the receiver's). Default: none. */
  allowedRanges?: readonly string[];
  /** CIDRs refused beyond the built-in ones. Default: none. */
  deniedRanges?: readonly string[];
  /** This process's own addresses. Default: every address of the host's network interfaces. */
  ownAddresses?: readonly string[];
  /** Default: the system resolver (dns.lookup, all addresses). */
  lookup?: LookupAll;
  /** Milliseconds a name may take to resolve. Default 5 000. */
  lookupTimeoutMs?: number;
}

const blockList = (ranges: readonly string[]): BlockList => {
  const list = new BlockList();
  for (const range of ranges) {
    const [network = '', prefix] = range.split('/');
    const family = isIP(network) === 6 ? 'ipv6' : 'ipv4';
    list.addSubnet(network, Number(prefix ?? (family === 'ipv6' ? 128 : 32)), family);
  }
  return list;
};

const LOOPBACK = blockList(['127.0.0.0/8', '::1/128']);
/** Link-local: cloud metadata services (169.254.169.254) live here. */
const LINK_LOCAL = blockList(['169.254.0.0/16', 'fe80::/10']);
/** RFC 1918, shared address space (100.64/10), IPv6 unique local. */
const PRIVATE = blockList(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7']);
/** Unspecified, IETF protocol assignments, benchmarking, multicast, reserved and broadcast. */
const RESERVED4 = blockList(['0.0.0.0/8', '192.0.0.0/24', '198.18.0.0/15', '224.0.0.0/3']);
/** IPv6 may lead only to global unicast, and not to 6to4 or NAT64, whose addresses carry an IPv4 one. */
const GLOBAL6 = blockList(['2000::/3']);
const EMBEDDING6 = blockList(['2002::/16', '64:ff9b::/96', '64:ff9b:1::/48']);

/**
 * Decides where webhook deliveries may go (SSRF): the URL's host is resolved and every address
 * it has must be allowed, else the target is refused with WebhookTargetRefused. Refused: loopback,
 * link-local, private ranges, unspecified/multicast/reserved, the host's own addresses and
 * `deniedRanges`, unless `allowedRanges` lists the address. The caller connects to the address
 * returned, never resolving the name again, so a DNS answer that changes between the check and
 * the connection (rebinding) cannot lead anywhere else.
 */
export class WebhookTargetGuard {
  private readonly allowed: BlockList;
  private readonly denied: BlockList;
  private readonly own: BlockList;
  private readonly lookup: LookupAll;
  private readonly lookupTimeoutMs: number;

  constructor(options: WebhookTargetGuardOptions = {}) {
    this.allowed = blockList(options.allowedRanges ?? []);
    this.denied = blockList(options.deniedRanges ?? []);
    this.own = blockList((options.ownAddresses ?? hostAddresses()).map(normalize).map(hostRoute));
    this.lookup = options.lookup ?? ((hostname) => dnsLookup(hostname, { all: true, verbatim: true }));
    this.lookupTimeoutMs = options.lookupTimeoutMs ?? 5_000;
  }

  /** Throws WebhookTargetRefused naming `field` when deliveries may not go to `url`. */
  async check(url: string, field = 'url'): Promise<ResolvedTarget> {
    return this.resolve(url, field);
  }

  /** The address to connect to; throws WebhookTargetRefused naming `field` when there is none allowed. */
  async resolve(raw: string, field = 'url'): Promise<ResolvedTarget> {
    const parsed = WebhookUrl.safeParse(raw);
    if (!parsed.success)
      throw refused(field, 'invalid_url', `${field}: ${parsed.error.issues[0]?.message ?? 'not a valid URL'}`);
    const url = new URL(parsed.data);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    let addresses: { address: string; family: number }[];
    if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
    else {
      try {
        addresses = await this.lookupWithTimeout(host);
      } catch (error) {
        throw refused(field, 'unresolvable', `${field}: ${host} does not resolve (${(error as Error).message})`);
      }
      if (addresses.length === 0) throw refused(field, 'unresolvable', `${field}: ${host} has no address`);
    }
    // Every address must be allowed: a name with one public and one private address could lead either way.
    for (const { address } of addresses) {
      const reason = this.classify(address);
      if (reason) {
        const via = isIP(host) ? '' : ` (${host} resolves to ${address})`;
        throw refused(
          field,
          reason,
          `${field}: webhooks may not go to ${DESCRIPTIONS[reason]}${via}; an operator may allow it in webhooks.allowed_ranges`,
          normalize(address),
        );
      }
    }
    const first = addresses[0] as { address: string; family: number };
    const address = normalize(first.address);
    return { url, host, address, family: isIP(address) === 6 ? 6 : 4 };
  }

  /** Why an address is refused, or undefined when deliveries may reach it. */
  classify(raw: string): RefusalReason | undefined {
    const address = normalize(raw);
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (this.allowed.check(address, family)) return undefined;
    if (LOOPBACK.check(address, family)) return 'loopback';
    if (LINK_LOCAL.check(address, family)) return 'link_local';
    if (PRIVATE.check(address, family)) return 'private';
    if (this.own.check(address, family)) return 'own_address';
    if (this.denied.check(address, family)) return 'denied';
    if (family === 'ipv4' ? RESERVED4.check(address, family) : !GLOBAL6.check(address, family)) return 'reserved';
    if (family === 'ipv6' && EMBEDDING6.check(address, family)) return 'reserved';
    return undefined;
  }

  private async lookupWithTimeout(host: string): Promise<{ address: string; family: number }[]> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.lookup(host),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${this.lookupTimeoutMs} ms`)),
            this.lookupTimeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

const DESCRIPTIONS: Record<RefusalReason, string> = {
  invalid_url: 'an invalid URL',
  unresolvable: 'a name that does not resolve',
  loopback: 'a loopback address',
  link_local: 'a link-local address (cloud metadata lives there)',
  private: 'a private address',
  own_address: "one of the fleet's own addresses",
  denied: 'a denied range (webhooks.denied_ranges)',
  reserved: 'a reserved, multicast or non-global address',
};

function refused(field: string, reason: RefusalReason, message: string, address?: string): HarombeError {
  return new HarombeError('WebhookTargetRefused', message, { field, reason, ...(address ? { address } : {}) });
}

/** IPv4-mapped IPv6 (::ffff:7f00:1, ::ffff:127.0.0.1) as the IPv4 address it carries; lower case. */
export function normalize(address: string): string {
  const lower = address.toLowerCase();
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1] as string;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const high = parseInt(hex[1] as string, 16);
    const low = parseInt(hex[2] as string, 16);
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  return lower;
}

const hostRoute = (address: string): string => `${address}/${isIP(address) === 6 ? 128 : 32}`;

/** Every address of this host's interfaces (scope ids dropped). */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((entries) =>
    (entries ?? []).map((entry) => entry.address.split('%')[0] as string),
  );
}
