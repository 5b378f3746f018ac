import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { freeLoopbackPort } from '@harombe/test-fixtures';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { proxyProgramSource } from '../src/index.js';

/**
 * The egress proxy program on its own, as a local process on loopback: its stdin stands for the
 * conntrack events its container's init pipes in. What it logs is what the manager follows.
 */

/** The program as its container runs it: one text, its address tables inlined. */
const PROGRAM = proxyProgramSource();
const SUBNET = '10.99.0.0/29';
const SANDBOX = '10.99.0.3';
const PROXY = '127.0.0.1';

interface RunningProxy {
  child: ChildProcessWithoutNullStreams;
  lines: Record<string, unknown>[];
  port: number;
  dnsPort: number;
  refusals(): Record<string, unknown>[];
}

let proxy: RunningProxy;

async function startProxy(): Promise<RunningProxy> {
  const port = await freeLoopbackPort();
  const dnsPort = await freeLoopbackPort();
  const config = {
    sandbox_id: 'sandbox-test',
    allowed_domains: ['allowed.test', 'localhost'],
    listen_port: port,
    dns_port: dnsPort,
    proxy_address: PROXY,
    sandbox_subnet: SUBNET,
  };
  const child = spawn(process.execPath, ['--input-type=module', '-e', PROGRAM], {
    env: { ...process.env, HAROMBE_EGRESS_CONFIG: JSON.stringify(config) },
  });
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout }).on('line', (line) =>
    lines.push(JSON.parse(line) as Record<string, unknown>),
  );
  await expect.poll(() => lines.some((line) => line.event === 'egress_proxy_ready'), { timeout: 15_000 }).toBe(true);
  return { child, lines, port, dnsPort, refusals: () => lines.filter((line) => line.event === 'egress_refused') };
}

/** A conntrack -E line for a new flow. */
function flow(protocol: 'tcp' | 'udp', source: string, destination: string, port: number): string {
  const number = protocol === 'tcp' ? '6 120 SYN_SENT' : '17 30';
  return `    [NEW] ${protocol}      ${number} src=${source} dst=${destination} sport=40000 dport=${port} [UNREPLIED] src=${PROXY} dst=${source} sport=9 dport=40000\n`;
}

async function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, PROXY, () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

beforeEach(async () => {
  proxy = await startProxy();
});

afterEach(() => {
  proxy.child.kill('SIGKILL');
});

describe('the egress proxy program', () => {
  it("records the sandbox's direct attempts from the flow events, and nothing else", async () => {
    proxy.child.stdin.write(flow('tcp', SANDBOX, '169.254.169.254', 80));
    proxy.child.stdin.write(flow('udp', SANDBOX, '8.8.8.8', 123));
    // Its use of the proxy, its DNS (the DNS listener records those), and flows not from the sandbox.
    proxy.child.stdin.write(flow('tcp', SANDBOX, PROXY, proxy.port));
    proxy.child.stdin.write(flow('udp', SANDBOX, '10.99.0.1', 53));
    proxy.child.stdin.write(flow('tcp', '172.18.0.5', '1.2.3.4', 443));
    proxy.child.stdin.write('conntrack v1.4.7 (conntrack-tools): 5 flow events have been shown.\n');
    await expect.poll(() => proxy.refusals().length, { timeout: 15_000 }).toBe(2);
    expect(proxy.refusals().map((r) => [r.reason, r.target, r.method])).toEqual([
      ['direct_connection', '169.254.169.254:80', 'TCP'],
      ['direct_connection', '8.8.8.8:123', 'UDP'],
    ]);
  });

  it('answers DNS queries REFUSED with the question alone, and records the name', async () => {
    const name = Buffer.concat(
      ['evil', 'example'].map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])),
    );
    const question = Buffer.concat([name, Buffer.from([0, 0, 1, 0, 1])]);
    // With an EDNS record after the question, which the answer must not echo.
    const opt = Buffer.from([0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
    const query = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]), question, opt]);
    const socket = createSocket('udp4');
    try {
      const reply = await new Promise<Buffer>((resolve) => {
        socket.on('message', resolve);
        socket.send(query, proxy.dnsPort, PROXY);
      });
      expect(reply.readUInt16BE(0)).toBe(0x1234);
      expect(reply[2]! & 0x80).toBe(0x80);
      expect(reply[3]! & 0x0f).toBe(5);
      expect([reply.readUInt16BE(4), reply.readUInt16BE(6), reply.readUInt16BE(8), reply.readUInt16BE(10)]).toEqual([
        1, 0, 0, 0,
      ]);
      expect(reply.subarray(12)).toEqual(question);
    } finally {
      socket.close();
    }
    await expect
      .poll(() => proxy.refusals().map((r) => [r.reason, r.target]), { timeout: 15_000 })
      .toEqual([['dns_query', 'evil.example']]);
  });

  it('keeps the port a CONNECT asks for, and refuses IP literals and allowed names that lead to loopback', async () => {
    expect(await rawRequest(proxy.port, 'CONNECT allowed.test:80 HTTP/1.1\r\nhost: allowed.test:80\r\n\r\n')).toMatch(
      /^HTTP\/1.1 403/,
    );
    expect(await rawRequest(proxy.port, 'CONNECT 10.0.0.1:443 HTTP/1.1\r\nhost: 10.0.0.1:443\r\n\r\n')).toMatch(
      /^HTTP\/1.1 403/,
    );
    expect(await rawRequest(proxy.port, 'CONNECT localhost:443 HTTP/1.1\r\nhost: localhost:443\r\n\r\n')).toMatch(
      /^HTTP\/1.1 403/,
    );
    await expect.poll(() => proxy.refusals().length, { timeout: 15_000 }).toBe(3);
    expect(proxy.refusals().map((r) => [r.target, r.reason])).toEqual([
      ['allowed.test:80', 'unresolvable'],
      ['10.0.0.1:443', 'ip_literal'],
      ['localhost:443', 'forbidden_address'],
    ]);
  });

  it('logs 50 refusals a window one by one and counts the rest in summaries each second', async () => {
    for (let i = 0; i < 120; i += 1) proxy.child.stdin.write(flow('tcp', SANDBOX, '169.254.169.254', 1000 + i));
    await expect
      .poll(() => proxy.refusals().reduce((sum, r) => sum + Number(r.count), 0), { timeout: 15_000 })
      .toBe(120);
    const summaries = proxy.refusals().filter((r) => r.target === '*');
    expect(proxy.refusals().filter((r) => r.target !== '*')).toHaveLength(50);
    for (const summary of summaries) expect(summary).toMatchObject({ reason: 'direct_connection', summary: true });
  });

  it('stops when the flow events end, rather than run without recording direct attempts', async () => {
    const exited = new Promise<number | null>((resolve) => proxy.child.once('exit', resolve));
    proxy.child.stdin.end();
    expect(await exited).toBe(1);
  });
});
