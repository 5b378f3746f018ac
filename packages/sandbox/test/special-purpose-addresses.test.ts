import { describe, expect, it } from 'vitest';
import {
  addressVerdict,
  blockList,
  SPECIAL_PURPOSE_IPV4,
  SPECIAL_PURPOSE_IPV6,
  specialPurpose,
} from '../proxy/special-purpose-addresses.mjs';

/**
 * The egress proxy's address tables against IANA's IPv4 and IPv6 Special-Purpose Address
 * Registries: an address inside each registered block is refused (and named), public ones pass.
 * Nothing here sends a packet: addresses are only classified.
 */

/** One address inside each block of the registries (and the multicast ranges), with the block it must be found in. */
const REGISTRY_SAMPLES: [address: string, range: string][] = [
  ['0.0.0.0', '0.0.0.0/32'],
  ['0.1.2.3', '0.0.0.0/8'],
  ['10.20.30.40', '10.0.0.0/8'],
  ['100.100.1.1', '100.64.0.0/10'],
  ['127.0.0.53', '127.0.0.0/8'],
  ['169.254.169.254', '169.254.0.0/16'],
  ['172.31.255.1', '172.16.0.0/12'],
  ['192.0.0.5', '192.0.0.0/29'],
  ['192.0.0.8', '192.0.0.8/32'],
  ['192.0.0.9', '192.0.0.9/32'],
  ['192.0.0.10', '192.0.0.10/32'],
  ['192.0.0.170', '192.0.0.170/32'],
  ['192.0.0.171', '192.0.0.171/32'],
  ['192.0.0.200', '192.0.0.0/24'],
  ['192.0.2.77', '192.0.2.0/24'],
  ['192.31.196.1', '192.31.196.0/24'],
  ['192.52.193.1', '192.52.193.0/24'],
  ['192.88.99.1', '192.88.99.0/24'],
  ['192.168.1.1', '192.168.0.0/16'],
  ['192.175.48.1', '192.175.48.0/24'],
  ['198.19.255.254', '198.18.0.0/15'],
  ['198.51.100.7', '198.51.100.0/24'],
  ['203.0.113.9', '203.0.113.0/24'],
  ['224.0.0.251', '224.0.0.0/4'],
  ['239.255.255.250', '224.0.0.0/4'],
  ['250.1.2.3', '240.0.0.0/4'],
  ['255.255.255.255', '255.255.255.255/32'],
  ['::1', '::1/128'],
  ['::', '::/128'],
  ['::ffff:a00:1', '::ffff:0:0/96'],
  ['64:ff9b::a00:1', '64:ff9b::/96'],
  ['64:ff9b:1::1', '64:ff9b:1::/48'],
  ['100::1', '100::/64'],
  ['100:0:0:1::1', '100:0:0:1::/64'],
  ['2001:0:4136:e378::1', '2001::/32'],
  ['2001:1::1', '2001:1::1/128'],
  ['2001:1::2', '2001:1::2/128'],
  ['2001:1::3', '2001:1::3/128'],
  ['2001:2::5', '2001:2::/48'],
  ['2001:3::1', '2001:3::/32'],
  ['2001:4:112::1', '2001:4:112::/48'],
  ['2001:10::1', '2001:10::/28'],
  ['2001:20::1', '2001:20::/28'],
  ['2001:30::1', '2001:30::/28'],
  ['2001:100::1', '2001::/23'],
  ['2001:db8::1', '2001:db8::/32'],
  ['2002:a00:1::1', '2002::/16'],
  ['2620:4f:8000::1', '2620:4f:8000::/48'],
  ['3fff:123::1', '3fff::/20'],
  ['5f00::1', '5f00::/16'],
  ['fd12:3456::1', 'fc00::/7'],
  ['fe80::1', 'fe80::/10'],
  ['ff02::1', 'ff00::/8'],
];

/** Ordinary unicast addresses, outside every registered block (only classified, never contacted). */
const PUBLIC = [
  '1.1.1.1',
  '8.8.4.4',
  '100.63.255.255',
  '100.128.0.0',
  '172.32.0.1',
  '192.0.1.1',
  '198.20.0.1',
  '2606:4700::1111',
  '2a00:1450::1',
];

describe('the egress proxy’s special-purpose address tables', () => {
  it('list every block of both registries, each once', () => {
    const ranges = [...SPECIAL_PURPOSE_IPV4, ...SPECIAL_PURPOSE_IPV6].map(([range]) => range);
    expect(new Set(ranges).size).toBe(ranges.length);
    expect(new Set(REGISTRY_SAMPLES.map(([, range]) => range))).toEqual(new Set(ranges));
  });

  it.each(REGISTRY_SAMPLES)('finds %s in %s, and refuses it', (address, range) => {
    expect(specialPurpose(address)?.range).toBe(range);
    expect(addressVerdict(address, {})).toMatch(/^(forbidden|private)_address$/);
  });

  it.each(PUBLIC)('lets %s through', (address) => {
    expect(specialPurpose(address)).toBeUndefined();
    expect(addressVerdict(address, {})).toBeUndefined();
  });

  it('refuses IPv6 outside global unicast that no block names', () => {
    expect(specialPurpose('4000::1')).toMatchObject({ kind: 'never' });
    expect(addressVerdict('4000::1', {})).toBe('forbidden_address');
  });

  it('lets the operator allow private and special ranges, never loopback, link-local, multicast or reserved ones; denied ranges win', () => {
    const allowed = blockList(['10.0.0.0/8', '198.18.0.0/15', 'fd00::/8', '127.0.0.0/8', '169.254.0.0/16']);
    expect(addressVerdict('10.1.2.3', { allowed })).toBeUndefined();
    expect(addressVerdict('198.18.0.1', { allowed })).toBeUndefined();
    expect(addressVerdict('fd00::1', { allowed })).toBeUndefined();
    expect(addressVerdict('172.16.0.1', { allowed })).toBe('private_address');
    expect(addressVerdict('127.0.0.1', { allowed })).toBe('forbidden_address');
    expect(addressVerdict('169.254.169.254', { allowed })).toBe('forbidden_address');
    // IPv4-mapped: judged as the IPv4 address it carries.
    expect(addressVerdict('::ffff:127.0.0.1', { allowed })).toBe('forbidden_address');
    expect(addressVerdict('::ffff:10.1.2.3', { allowed })).toBeUndefined();
    const forbidden = blockList(['10.9.0.0/16', '1.1.1.1/32']);
    expect(addressVerdict('10.9.0.1', { allowed, forbidden })).toBe('forbidden_address');
    expect(addressVerdict('1.1.1.1', { forbidden })).toBe('forbidden_address');
  });
});
