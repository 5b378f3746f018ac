import { describe, expect, it } from 'vitest';
import { SubnetPool } from '../src/index.js';

describe('SubnetPool', () => {
  it('cuts the pool into /29s: network, gateway, proxy', () => {
    const pool = new SubnetPool('10.213.0.0/16');
    expect(pool.blocks).toBe(8192);
    expect(pool.at(0)).toEqual({ subnet: '10.213.0.0/29', gateway: '10.213.0.1', proxy: '10.213.0.2' });
    expect(pool.at(33)).toEqual({ subnet: '10.213.1.8/29', gateway: '10.213.1.9', proxy: '10.213.1.10' });
    expect(pool.at(8191)).toEqual({ subnet: '10.213.255.248/29', gateway: '10.213.255.249', proxy: '10.213.255.250' });
  });

  it('aligns a pool given off its boundary and picks only inside it', () => {
    const pool = new SubnetPool('192.168.7.77/28');
    expect(pool.blocks).toBe(2);
    const picked = new Set(Array.from({ length: 50 }, () => pool.pick().subnet));
    expect([...picked].sort()).toEqual(['192.168.7.64/29', '192.168.7.72/29']);
  });

  it('refuses what is not an IPv4 CIDR of /29 or larger', () => {
    for (const bad of ['10.0.0.0/30', '10.0.0.0', '300.1.1.1/16', 'fd00::/64', '']) {
      expect(() => new SubnetPool(bad), bad).toThrow(/expected an IPv4 CIDR/);
    }
  });
});
