import { describe, expect, it } from 'vitest';
import { matchesDomain, RegistryResolver } from '../src/index.js';

const MIRROR = 'https://npm-mirror.internal.example/';

describe('RegistryResolver', () => {
  it('takes index_url and adds its host to the configured hosts', async () => {
    const resolver = new RegistryResolver({
      registries: { pypi: { index_url: 'https://pypi.internal.example/simple/', hosts: ['files.internal.example'] } },
    });
    expect(await resolver.resolve('pypi')).toEqual({
      name: 'pypi',
      indexUrl: 'https://pypi.internal.example/simple/',
      hosts: ['pypi.internal.example', 'files.internal.example'],
    });
  });

  it("defaults npm's index to the host's npm registry when the operator listed its host", async () => {
    let asked = 0;
    const resolver = new RegistryResolver({
      registries: { npm: ['*.internal.example'] },
      hostNpmRegistry: async () => {
        asked += 1;
        return MIRROR;
      },
    });
    expect(await resolver.resolve('npm')).toMatchObject({
      indexUrl: MIRROR,
      hosts: ['npm-mirror.internal.example', '*.internal.example'],
    });
    await resolver.resolve('npm');
    expect(asked).toBe(1);
  });

  it("refuses the host's npm registry when its host is not listed", async () => {
    const resolver = new RegistryResolver({
      registries: { npm: ['other.example'] },
      hostNpmRegistry: async () => MIRROR,
    });
    await expect(resolver.resolve('npm')).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/not among allowed_registries\.npm/),
    });
  });

  it('refuses an unlisted registry, and a pypi entry without index_url, saying what to set', async () => {
    const resolver = new RegistryResolver({
      registries: { pypi: ['pypi.internal.example'] },
      hostNpmRegistry: async () => MIRROR,
    });
    await expect(resolver.resolve('npm')).rejects.toMatchObject({
      code: 'RegistryNotAllowed',
      message: expect.stringMatching(/allowed: pypi/),
    });
    await expect(resolver.resolve('pypi')).rejects.toMatchObject({
      message: expect.stringMatching(/allowed_registries\.pypi\.index_url/),
    });
    expect(await resolver.resolveAll()).toEqual([]);
  });

  it('matches exact names and *. wildcards below the domain only', () => {
    expect(matchesDomain('a.example.com', '*.example.com')).toBe(true);
    expect(matchesDomain('A.B.Example.com.', '*.example.com')).toBe(true);
    expect(matchesDomain('example.com', '*.example.com')).toBe(false);
    expect(matchesDomain('badexample.com', '*.example.com')).toBe(false);
    expect(matchesDomain('example.com', 'example.com')).toBe(true);
    expect(matchesDomain('www.example.com', 'example.com')).toBe(false);
  });
});
