import { HarombeError } from '@harombe/core';
import { describe, expect, it } from 'vitest';
import { WebhookTargetGuard, type LookupAll } from '../src/index.js';

/** A resolver that knows a few names and fails for the rest, so no test asks a DNS server. */
const names: Record<string, string[]> = {
  'hooks.example.com': ['93.184.216.34'],
  'internal.example.com': ['10.1.2.3'],
  'mixed.example.com': ['93.184.216.34', '192.168.1.10'],
  'v6.example.com': ['2001:4860:4860::8888'],
};
const lookup: LookupAll = async (hostname) => {
  const addresses = names[hostname];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

async function refusal(guard: WebhookTargetGuard, url: string): Promise<Record<string, unknown> | 'allowed'> {
  try {
    await guard.check(url, 'callback_url');
    return 'allowed';
  } catch (error) {
    expect(error).toBeInstanceOf(HarombeError);
    expect((error as HarombeError).code).toBe('WebhookTargetRefused');
    return { ...(error as HarombeError).details };
  }
}

describe('WebhookTargetGuard', () => {
  const guard = new WebhookTargetGuard({ lookup, ownAddresses: ['203.0.113.9'], deniedRanges: ['198.51.100.0/24'] });

  it.each([
    ['http://127.0.0.1:8080/hook', 'loopback', '127.0.0.1'],
    ['http://127.5.6.7/', 'loopback', '127.5.6.7'],
    ['http://[::1]:9000/', 'loopback', '::1'],
    ['http://[::ffff:127.0.0.1]/', 'loopback', '127.0.0.1'],
    ['http://2130706433/', 'loopback', '127.0.0.1'],
    ['http://169.254.169.254/latest/meta-data/', 'link_local', '169.254.169.254'],
    ['http://[fe80::1]/', 'link_local', 'fe80::1'],
    ['http://10.0.0.5/', 'private', '10.0.0.5'],
    ['https://172.16.3.4/', 'private', '172.16.3.4'],
    ['http://192.168.0.1/', 'private', '192.168.0.1'],
    ['http://100.64.0.1/', 'private', '100.64.0.1'],
    ['http://[fd00::1]/', 'private', 'fd00::1'],
    ['http://0.0.0.0:8080/', 'reserved', '0.0.0.0'],
    ['http://224.0.0.1/', 'reserved', '224.0.0.1'],
    ['http://[64:ff9b::a00:1]/', 'reserved', '64:ff9b::a00:1'],
    ['http://203.0.113.9/', 'own_address', '203.0.113.9'],
    ['http://198.51.100.7/', 'denied', '198.51.100.7'],
    ['http://internal.example.com/', 'private', '10.1.2.3'],
    ['http://mixed.example.com/', 'private', '192.168.1.10'],
  ])('refuses %s (%s)', async (url, reason, address) => {
    expect(await refusal(guard, url)).toEqual({ field: 'callback_url', reason, address });
  });

  it('refuses a name that resolves to loopback with the system resolver (localhost)', async () => {
    const system = new WebhookTargetGuard();
    expect(await refusal(system, 'http://localhost:8080/hook')).toMatchObject({ reason: 'loopback' });
  });

  it('refuses what is no http(s) URL, or carries credentials, or does not resolve', async () => {
    expect(await refusal(guard, 'ftp://hooks.example.com/')).toMatchObject({ reason: 'invalid_url' });
    expect(await refusal(guard, 'http://user:pw@hooks.example.com/')).toMatchObject({ reason: 'invalid_url' });
    expect(await refusal(guard, 'not a url')).toMatchObject({ reason: 'invalid_url' });
    expect(await refusal(guard, 'http://nowhere.example.com/')).toMatchObject({ reason: 'unresolvable' });
    const slow = new WebhookTargetGuard({ lookup: () => new Promise(() => {}), lookupTimeoutMs: 50 });
    expect(await refusal(slow, 'http://slow.example.com/')).toMatchObject({ reason: 'unresolvable' });
  });

  it('allows public addresses, and connects to the address it checked', async () => {
    expect(await guard.resolve('https://hooks.example.com/h?x=1')).toMatchObject({
      host: 'hooks.example.com',
      address: '93.184.216.34',
      family: 4,
    });
    expect(await guard.resolve('http://v6.example.com/')).toMatchObject({ address: '2001:4860:4860::8888', family: 6 });
    expect(await refusal(guard, 'http://8.8.8.8/')).toBe('allowed');
  });

  it('allows what allowed_ranges lists, even loopback and the host’s own addresses', async () => {
    const testing = new WebhookTargetGuard({ lookup, allowedRanges: ['127.0.0.1/32', '10.1.0.0/16'] });
    expect(await refusal(testing, 'http://127.0.0.1:4000/hook')).toBe('allowed');
    expect(await refusal(testing, 'http://internal.example.com/')).toBe('allowed');
    expect(await refusal(testing, 'http://127.0.0.2/')).toMatchObject({ reason: 'loopback' });
    expect(await refusal(testing, 'http://10.2.0.1/')).toMatchObject({ reason: 'private' });
  });
});
