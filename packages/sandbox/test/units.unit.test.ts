import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '@harombe/core';
import {
  DockerAgent,
  buildContainerSpec,
  CappedOutput,
  gatewayOf,
  RUNTIME_MEMORY_OVERHEAD_MB,
  TRUNCATION_MARKER,
  type NetworkDescription,
} from '../src/index.js';

describe('CappedOutput', () => {
  it('keeps the first bytes, counts the rest and marks the truncation', async () => {
    const out = new CappedOutput(5);
    for (const part of ['abc', 'defg', 'hij'])
      await new Promise<void>((resolve) => out.write(Buffer.from(part), () => resolve()));
    expect(out.received).toBe(10);
    expect(out.truncated).toBe(true);
    expect(out.text()).toBe('abcde' + TRUNCATION_MARKER);
  });

  it('is not truncated at exactly the limit, and decodes bad UTF-8 without throwing', async () => {
    const out = new CappedOutput(3);
    await new Promise<void>((resolve) => out.write(Buffer.from([0x61, 0xff, 0x62]), () => resolve()));
    expect(out.truncated).toBe(false);
    expect(out.text()).toBe('a\uFFFDb');
  });

  it('tells the kept bytes as text as they arrive: the pieces joined are text(), whatever the cuts', async () => {
    // Multi-byte characters cut between writes and by the cap, bytes that are not UTF-8 at all.
    const bytes = Buffer.concat([Buffer.from('aé€😀b'), Buffer.from([0xff, 0xc3]), Buffer.from('€z😀')]);
    for (const limit of [1, 2, 3, 5, 8, 12, 13, bytes.length - 1, bytes.length, bytes.length + 1]) {
      for (const step of [1, 2, 3, 7]) {
        const pieces: string[] = [];
        const out = new CappedOutput(limit, (text) => pieces.push(text));
        for (let i = 0; i < bytes.length; i += step)
          await new Promise<void>((resolve) => out.write(bytes.subarray(i, i + step), () => resolve()));
        out.finish();
        out.finish();
        expect(pieces.join(''), `limit ${limit}, writes of ${step}`).toBe(out.text());
        expect(pieces.join('').split(TRUNCATION_MARKER).length - 1).toBe(limit < bytes.length ? 1 : 0);
        expect(pieces).not.toContain('');
      }
    }
  });
});

describe('buildContainerSpec', () => {
  const spec = buildContainerSpec({
    sandboxId: 'sandbox-0123456789abcdef',
    managerId: 'm',
    language: 'python',
    image: 'harombe/sandbox-python',
    runtime: 'runsc',
    owner: 'tenant',
    limits: DEFAULT_LIMITS,
    maxProcesses: 128,
    maxFiles: 32_768,
    createdAt: '2030-01-01T00:00:00.000Z',
    pooled: false,
  });

  it('hardens the container', () => {
    expect(spec.HostConfig).toMatchObject({
      Runtime: 'runsc',
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Privileged: false,
      Binds: [],
      Mounts: [],
      NanoCpus: 500_000_000,
    });
    expect(spec.NetworkDisabled).toBe(true);
    // The init alone is root, with CAP_KILL alone; programs run under ids of their own.
    expect(spec.User).toBe('0:0');
    expect(spec.HostConfig?.CapAdd).toEqual(['KILL']);
    expect(spec.Env).toEqual(expect.arrayContaining(['PYTHONUNBUFFERED=', 'PYTHONNOUSERSITE=1', 'HOME=/workspace']));
    expect(spec.HostConfig?.Tmpfs?.['/workspace']).toMatch(/size=1024m/);
    expect(spec.HostConfig?.Ulimits).toContainEqual({ Name: 'nproc', Soft: 128, Hard: 128 });
  });

  it('sizes memory for the program, the workspace and the runtime', () => {
    expect(spec.HostConfig?.Memory).toBe((512 + 1024 + RUNTIME_MEMORY_OVERHEAD_MB) * 1024 * 1024);
    expect(spec.HostConfig?.MemorySwap).toBe(spec.HostConfig?.Memory);
  });
});

describe('gatewayOf', () => {
  const bridge = (
    config: { Subnet?: string; Gateway?: string }[],
    extra: Partial<NetworkDescription> = {},
  ): NetworkDescription => ({
    Name: 'harombe-egress',
    Id: '0123456789abcdef0123',
    Driver: 'bridge',
    IPAM: { Config: config },
    ...extra,
  });
  const none = () => ({});

  it('takes the gateway Docker lists', () => {
    expect(gatewayOf(bridge([{ Subnet: '172.30.0.0/24', Gateway: '172.30.0.254' }]), none)).toBe('172.30.0.254');
  });

  it("reads the bridge interface's address when Docker lists no gateway (the default bridge on Docker 20.10)", () => {
    const interfaces = () => ({ docker0: ['172.17.0.1'], 'br-0123456789ab': ['172.30.0.9'], eth0: ['10.0.0.5'] });
    expect(gatewayOf(bridge([{ Subnet: '172.17.0.0/16' }], { Name: 'bridge' }), interfaces)).toBe('172.17.0.1');
    expect(gatewayOf(bridge([{ Subnet: '172.30.0.0/24' }]), interfaces)).toBe('172.30.0.9');
    expect(
      gatewayOf(
        bridge([{ Subnet: '172.31.0.0/24' }], { Options: { 'com.docker.network.bridge.name': 'eth0' } }),
        interfaces,
      ),
    ).toBe('172.31.0.1');
  });

  it("falls back to the subnet's first host, which Docker assigns when nobody chose", () => {
    expect(gatewayOf(bridge([{ Subnet: 'fd00::/64' }, { Subnet: '172.30.4.0/22' }]), none)).toBe('172.30.4.1');
  });

  it('refuses a network without an IPv4 subnet, saying how to make one', () => {
    expect(() => gatewayOf(bridge([{ Subnet: 'fd00::/64' }]), none)).toThrow(/no IPv4 subnet.*--subnet .* --gateway/);
    expect(() => gatewayOf(bridge([]), none)).toThrow(expect.objectContaining({ code: 'RuntimeUnavailable' }));
  });
});

describe('DockerAgent', () => {
  it('formats as its name, however deep docker-modem inspects a request', async () => {
    const agent = new DockerAgent();
    // An agent with a socket in its pool: what docker-modem formats on every request.
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) =>
      get({ host: '127.0.0.1', port, agent }, (res) => res.resume().on('end', resolve)),
    );
    expect(inspect({ path: '/containers/json', agent }, { showHidden: true, depth: null })).toContain(
      'agent: DockerAgent',
    );
    expect(inspect(agent, { showHidden: true, depth: null })).toBe('DockerAgent');
    agent.destroy();
    server.close();
  });
});
