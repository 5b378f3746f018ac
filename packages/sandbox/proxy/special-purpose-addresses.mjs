// The address ranges the egress proxy never lets an allowed name lead to: IANA's IPv4 and IPv6
// Special-Purpose Address Registries (iana-ipv4-special-registry, iana-ipv6-special-registry),
// whole, plus the multicast ranges (their own registries). Part of the proxy program: the sandbox
// manager inlines this file where egress-proxy.mjs imports it, since the proxy container gets one
// program text.
//
// Each entry: the range, the registry's name for it, and its kind:
//   - "never": no allowed name may lead there, whatever the operator allows (this network,
//     loopback, link-local, multicast, broadcast, reserved, unspecified, mapped);
//   - "private": the operator's own networks (private-use, shared, unique-local), refused unless
//     security.sandbox.network.allowed_private_ranges lists them (a package mirror);
//   - "special": any other special purpose (documentation, benchmarking, translation, anycast,
//     protocol assignments...): refused like private ranges, and allowed the same way.
// The more specific entries come first (192.0.0.0/29 before 192.0.0.0/24), so a verdict names
// the narrowest range.

import { BlockList, isIPv6 } from 'node:net';

export const SPECIAL_PURPOSE_IPV4 = [
  ['0.0.0.0/32', 'This host on this network', 'never'],
  ['0.0.0.0/8', 'This network', 'never'],
  ['10.0.0.0/8', 'Private-Use', 'private'],
  ['100.64.0.0/10', 'Shared Address Space', 'private'],
  ['127.0.0.0/8', 'Loopback', 'never'],
  ['169.254.0.0/16', 'Link Local', 'never'],
  ['172.16.0.0/12', 'Private-Use', 'private'],
  ['192.0.0.0/29', 'IPv4 Service Continuity Prefix', 'special'],
  ['192.0.0.8/32', 'IPv4 dummy address', 'special'],
  ['192.0.0.9/32', 'Port Control Protocol Anycast', 'special'],
  ['192.0.0.10/32', 'Traversal Using Relays around NAT Anycast', 'special'],
  ['192.0.0.170/32', 'NAT64/DNS64 Discovery', 'special'],
  ['192.0.0.171/32', 'NAT64/DNS64 Discovery', 'special'],
  ['192.0.0.0/24', 'IETF Protocol Assignments', 'special'],
  ['192.0.2.0/24', 'Documentation (TEST-NET-1)', 'special'],
  ['192.31.196.0/24', 'AS112-v4', 'special'],
  ['192.52.193.0/24', 'AMT', 'special'],
  ['192.88.99.0/24', 'Deprecated (6to4 Relay Anycast)', 'special'],
  ['192.168.0.0/16', 'Private-Use', 'private'],
  ['192.175.48.0/24', 'Direct Delegation AS112 Service', 'special'],
  ['198.18.0.0/15', 'Benchmarking', 'special'],
  ['198.51.100.0/24', 'Documentation (TEST-NET-2)', 'special'],
  ['203.0.113.0/24', 'Documentation (TEST-NET-3)', 'special'],
  ['224.0.0.0/4', 'Multicast', 'never'],
  ['255.255.255.255/32', 'Limited Broadcast', 'never'],
  ['240.0.0.0/4', 'Reserved', 'never'],
];

export const SPECIAL_PURPOSE_IPV6 = [
  ['::1/128', 'Loopback Address', 'never'],
  ['::/128', 'Unspecified Address', 'never'],
  ['::ffff:0:0/96', 'IPv4-mapped Address', 'never'],
  ['64:ff9b::/96', 'IPv4-IPv6 Translat.', 'special'],
  ['64:ff9b:1::/48', 'IPv4-IPv6 Translat.', 'special'],
  ['100::/64', 'Discard-Only Address Block', 'special'],
  ['100:0:0:1::/64', 'Dummy IPv6 Prefix', 'special'],
  ['2001::/32', 'TEREDO', 'special'],
  ['2001:1::1/128', 'Port Control Protocol Anycast', 'special'],
  ['2001:1::2/128', 'Traversal Using Relays around NAT Anycast', 'special'],
  ['2001:1::3/128', 'DNS-SD Service Registration Protocol Anycast', 'special'],
  ['2001:2::/48', 'Benchmarking', 'special'],
  ['2001:3::/32', 'AMT', 'special'],
  ['2001:4:112::/48', 'AS112-v6', 'special'],
  ['2001:10::/28', 'Deprecated (previously ORCHID)', 'special'],
  ['2001:20::/28', 'ORCHIDv2', 'special'],
  ['2001:30::/28', 'Drone Remote ID Protocol Entity Tags (DETs) Prefix', 'special'],
  ['2001::/23', 'IETF Protocol Assignments', 'special'],
  ['2001:db8::/32', 'Documentation', 'special'],
  ['2002::/16', '6to4', 'special'],
  ['2620:4f:8000::/48', 'Direct Delegation AS112 Service', 'special'],
  ['3fff::/20', 'Documentation', 'special'],
  ['5f00::/16', 'Segment Routing (SRv6) SIDs', 'special'],
  ['fc00::/7', 'Unique-Local', 'private'],
  ['fe80::/10', 'Link-Local Unicast', 'never'],
  ['ff00::/8', 'Multicast', 'never'],
];

/** Only global unicast IPv6 (2000::/3) leads anywhere; the rest is reserved, or in the tables above. */
const GLOBAL_UNICAST_IPV6 = '2000::/3';

function blockList(ranges) {
  const list = new BlockList();
  for (const range of ranges ?? []) {
    const [network, prefix] = String(range).split('/');
    list.addSubnet(network, Number(prefix), isIPv6(network) ? 'ipv6' : 'ipv4');
  }
  return list;
}

const TABLE = [...SPECIAL_PURPOSE_IPV4, ...SPECIAL_PURPOSE_IPV6].map(([range, name, kind]) => ({
  range,
  name,
  kind,
  list: blockList([range]),
  family: isIPv6(range.split('/')[0]) ? 'ipv6' : 'ipv4',
}));
const globalUnicast = blockList([GLOBAL_UNICAST_IPV6]);

/**
 * The special-purpose range an address falls in ({range, name, kind}), or undefined for an
 * ordinary public address. IPv6 outside 2000::/3 that no entry names is "never" (reserved).
 */
export function specialPurpose(address) {
  const family = isIPv6(address) ? 'ipv6' : 'ipv4';
  for (const entry of TABLE) {
    if (entry.family === family && entry.list.check(address, family))
      return { range: entry.range, name: entry.name, kind: entry.kind };
  }
  if (family === 'ipv6' && !globalUnicast.check(address, 'ipv6'))
    return { range: '::/0', name: 'Reserved by IETF (outside global unicast)', kind: 'never' };
  return undefined;
}

/**
 * Why an allowed name may not lead to `address`, or undefined when it may:
 *   - forbidden_address: a "never" range, or one of `forbidden` (the host's and the proxy's own
 *     addresses, the operator's denied_ranges), whatever else is allowed;
 *   - private_address: a private or other special-purpose range the operator did not allow.
 * `forbidden` and `allowed` are BlockLists. An IPv4-mapped IPv6 address is judged as its IPv4.
 */
export function addressVerdict(address, { forbidden, allowed }) {
  let a = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) a = mapped[1];
  const family = isIPv6(a) ? 'ipv6' : 'ipv4';
  if (forbidden?.check(a, family)) return 'forbidden_address';
  const special = specialPurpose(a);
  if (!special) return undefined;
  if (special.kind === 'never') return 'forbidden_address';
  return allowed?.check(a, family) ? undefined : 'private_address';
}

export { blockList };
