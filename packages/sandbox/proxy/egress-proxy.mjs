// The egress proxy of one network-enabled sandbox: the sandbox's only way out. Plain Node, no
// dependencies, one file: the sandbox manager hands it to a harombe/egress-proxy container, whose
// init (egress-proxy-init.sh) has already made this network namespace the sandbox's next hop.
//
// Allows plain HTTP (absolute-form requests) and HTTPS tunnels (CONNECT) to host names on the
// sandbox's allowlist (exact names and `*.example.com` wildcards) on the allowed ports; refuses
// IP literals, other ports, other names, and names resolving to any address of IANA's
// special-purpose registries (loopback, link-local and cloud metadata, multicast, reserved,
// documentation, benchmarking...; see special-purpose-addresses.mjs) or to this container's
// gateways (the host); private and other special-purpose ranges the operator lists in
// `allowed_private_ranges` are allowed.
// It resolves names itself. Everything else the sandbox tries is refused too, and recorded:
// DNS queries reach its DNS listener (answered REFUSED), and direct connections arrive as
// conntrack events on stdin. Every decision is one JSON line on stdout, which the manager
// follows; refusals carry `event: "egress_refused"` and a running count.
//
// Configuration: the environment variable HAROMBE_EGRESS_CONFIG, JSON:
//   { "sandbox_id": string, "allowed_domains": string[],
//     "allowed_ports"?: number[] (default [80, 443]), "listen_port"?: number (default 3128),
//     "dns_port"?: number (default 5353), "proxy_address"?: string, "sandbox_subnet"?: "a.b.c.d/n",
//     "allowed_private_ranges"?: string[] (CIDRs; default none), "denied_ranges"?: string[] (CIDRs) }

import { readFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { addressVerdict, blockList } from './special-purpose-addresses.mjs';

const config = JSON.parse(process.env.HAROMBE_EGRESS_CONFIG ?? '{}');
const sandboxId = String(config.sandbox_id ?? 'unknown');
const patterns = (config.allowed_domains ?? []).map((d) => String(d).toLowerCase().replace(/\.$/, ''));
const allowedPorts = new Set(config.allowed_ports ?? [80, 443]);
const listenPort = config.listen_port ?? 3128;
const dnsPort = config.dns_port ?? 5353;
const proxyAddress = config.proxy_address ?? '';
/** Where the proxy listens: its sandbox's side only, never the egress network's. */
const listenAddress = proxyAddress || '0.0.0.0';
/** Idle connections are closed after this long (a tunnel nobody uses holds a socket). */
const IDLE_MS = 5 * 60_000;

/**
 * Refusals logged one by one per window; past that they are only counted, by reason, and the
 * counts sent each second (a flood stays cheap, and a proxy removed soon after loses little).
 */
const LOG_WINDOW_MS = 10_000;
const LOGGED_PER_WINDOW = 50;
const SUMMARY_MS = 1_000;

let refusedCount = 0;
let loggedInWindow = 0;
/** Refusals counted but not logged since the last summary, by reason. */
const suppressed = new Map();
setInterval(() => {
  loggedInWindow = 0;
}, LOG_WINDOW_MS).unref();
setInterval(flushSuppressed, SUMMARY_MS).unref();

function log(event, fields) {
  process.stdout.write(
    `${JSON.stringify({ event, sandbox_id: sandboxId, at: new Date().toISOString(), ...fields })}\n`,
  );
}

function flushSuppressed() {
  for (const [reason, count] of suppressed) {
    log('egress_refused', { target: '*', reason, method: '*', count, summary: true, refused_total: refusedCount });
  }
  suppressed.clear();
}

/** Gateways of this container's routes: the host, seen from its networks. */
function gateways() {
  try {
    return readFileSync('/proc/net/route', 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/)[2])
      .filter((hex) => hex && hex !== '00000000')
      .map((hex) =>
        hex
          .match(/../g)
          .reverse()
          .map((b) => parseInt(b, 16))
          .join('.'),
      );
  } catch {
    return [];
  }
}

function hostAllowed(host) {
  return patterns.some((p) => (p.startsWith('*.') ? host.endsWith(p.slice(1)) : host === p));
}

/**
 * Addresses no allowed name may lead to, whatever its DNS says (rebinding included), beyond the
 * special-purpose ranges (see special-purpose-addresses.mjs): this container's gateways and its
 * own sandbox-side addresses (the host, and itself), and the operator's denied ranges.
 */
const forbidden = blockList([
  ...[...gateways(), proxyAddress, config.gateway].filter(Boolean).map((address) => `${address}/32`),
  ...(config.denied_ranges ?? []),
]);
/** Private and other special-purpose addresses an allowed name may still lead to: the operator's mirrors, say. */
const privateAllowed = blockList(config.allowed_private_ranges);

function refusedAddress(address) {
  return addressVerdict(address, { forbidden, allowed: privateAllowed });
}

/** Checks a target; returns the address to connect to, or a refusal reason. */
async function decide(rawHost, port) {
  const host = rawHost
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  if (net.isIP(host)) return { reason: 'ip_literal' };
  if (!allowedPorts.has(port)) return { reason: 'port_not_allowed' };
  if (!hostAllowed(host)) return { reason: 'domain_not_allowed' };
  let addresses;
  try {
    addresses = await lookup(host, { all: true });
  } catch {
    return { reason: 'unresolvable' };
  }
  const verdicts = addresses.map((entry) => ({ address: entry.address, refused: refusedAddress(entry.address) }));
  const usable = verdicts.find((entry) => !entry.refused);
  return usable ? { address: usable.address } : { reason: verdicts[0]?.refused ?? 'unresolvable' };
}

function refuse(target, reason, method) {
  refusedCount += 1;
  if (loggedInWindow >= LOGGED_PER_WINDOW) {
    suppressed.set(reason, (suppressed.get(reason) ?? 0) + 1);
    return;
  }
  loggedInWindow += 1;
  log('egress_refused', { target, reason, method, count: 1, refused_total: refusedCount });
}

/** The sandbox's own /29: flows from it are the sandbox's. */
const sandboxNetwork = blockList(config.sandbox_subnet ? [config.sandbox_subnet] : []);

function fromSandbox(address) {
  return net.isIPv4(address) && sandboxNetwork.check(address, 'ipv4');
}

/**
 * One conntrack event line: a new flow. Those from the sandbox that are not its use of this proxy
 * (or DNS, which the DNS listener records with the name) are direct attempts: already refused
 * by the redirect, recorded here with their real destination.
 */
function onFlow(line) {
  const match = /\[NEW\]\s+(\w+)\s.*?src=(\S+) dst=(\S+)(?: sport=\d+ dport=(\d+))?/.exec(line);
  if (!match) return;
  const [, protocol, source, destination, port] = match;
  if (!fromSandbox(source)) return;
  if (protocol === 'tcp' && destination === proxyAddress && Number(port) === listenPort) return;
  if (protocol === 'udp' && Number(port) === 53) return;
  refuse(port ? `${destination}:${port}` : destination, 'direct_connection', protocol.toUpperCase());
}

/** The first question of a DNS message (its name, and where it ends), or undefined when it is not one. */
function question(message) {
  if (message.length < 17) return undefined;
  const labels = [];
  let offset = 12;
  while (offset < message.length) {
    const length = message[offset];
    if (length === 0)
      return offset + 5 <= message.length ? { name: labels.join('.') || '.', end: offset + 5 } : undefined;
    if (length > 63 || offset + 1 + length > message.length) return undefined;
    labels.push(message.subarray(offset + 1, offset + 1 + length).toString('latin1'));
    offset += 1 + length;
  }
  return undefined;
}

/** Answers every query REFUSED (rcode 5), echoing its question, and records the name. */
function answerDns(socket, message, peer) {
  const asked = message.length >= 12 && !(message[2] & 0x80) ? question(message) : undefined;
  refuse((asked?.name ?? '?').slice(0, 253), 'dns_query', 'DNS');
  if (!asked) return;
  // The header and the question only: one question, no answers, authorities or additional records.
  const reply = Buffer.from(message.subarray(0, asked.end));
  reply[2] = 0x80 | (message[2] & 0x79); // QR, the query's opcode and RD
  reply[3] = 5;
  reply.writeUInt16BE(1, 4);
  reply.writeUInt16BE(0, 6);
  reply.writeUInt16BE(0, 8);
  reply.writeUInt16BE(0, 10);
  socket.send(reply, peer.port, peer.address);
}

/**
 * Parses a CONNECT target `host:port`: the host the way a URL does, so that numeric spellings
 * come out as IP literals; the port as written (a URL would drop a default port such as 80).
 */
function parseTarget(authority) {
  const match = /^(\[[^\]]+\]|[^:\[\]]+):(\d{1,5})$/.exec(String(authority));
  if (!match) return undefined;
  try {
    const url = new URL(`http://${match[1]}`);
    if (url.username || url.password || url.pathname !== '/' || url.search) return undefined;
    return { host: url.hostname, port: Number(match[2]) };
  } catch {
    return undefined;
  }
}

const server = http.createServer(async (req, res) => {
  let url;
  try {
    url = new URL(req.url);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'http:') {
    refuse(String(req.url).slice(0, 200), 'not_a_proxy_request', req.method);
    res
      .writeHead(400, { 'content-type': 'text/plain' })
      .end('harombe egress proxy: only absolute http:// URLs and CONNECT\n');
    return;
  }
  const port = url.port ? Number(url.port) : 80;
  const target = `${url.hostname}:${port}`;
  const verdict = await decide(url.hostname, port);
  if (verdict.reason) {
    refuse(target, verdict.reason, req.method);
    res
      .writeHead(403, { 'content-type': 'text/plain' })
      .end(`harombe egress proxy: ${target} refused (${verdict.reason})\n`);
    return;
  }
  log('egress_allowed', { target, method: req.method });
  const headers = { ...req.headers };
  for (const name of ['proxy-connection', 'proxy-authorization', 'connection', 'keep-alive']) delete headers[name];
  // The name that was checked is the name that is asked for: another site behind the same address stays out of reach.
  headers.host = url.host;
  const upstream = http.request(
    {
      host: verdict.address,
      port,
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers,
      setHost: false,
      timeout: IDLE_MS,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('timeout', () => upstream.destroy(new Error('idle')));
  upstream.on('error', (error) => {
    if (!res.headersSent)
      res.writeHead(502, { 'content-type': 'text/plain' }).end(`harombe egress proxy: ${target}: ${error.message}\n`);
    else res.destroy();
  });
  req.pipe(upstream);
});

server.on('connect', async (req, client, head) => {
  client.on('error', () => undefined);
  const parsed = parseTarget(req.url);
  const target = parsed ? `${parsed.host}:${parsed.port}` : String(req.url).slice(0, 200);
  const verdict = parsed ? await decide(parsed.host, parsed.port) : { reason: 'bad_target' };
  if (verdict.reason) {
    refuse(target, verdict.reason, 'CONNECT');
    client.end(
      `HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\nharombe egress proxy: ${target} refused (${verdict.reason})\n`,
    );
    return;
  }
  const upstream = net.connect(parsed.port, verdict.address, () => {
    log('egress_allowed', { target, method: 'CONNECT' });
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  for (const socket of [client, upstream]) socket.setTimeout(IDLE_MS, () => socket.destroy());
  upstream.on('error', (error) => {
    if (client.writable)
      client.end(`HTTP/1.1 502 Bad Gateway\r\n\r\nharombe egress proxy: ${target}: ${error.message}\n`);
  });
  client.on('close', () => upstream.destroy());
});

server.on('clientError', (_error, socket) => socket.destroy());

const dns = dgram.createSocket('udp4');
dns.on('message', (message, peer) => answerDns(dns, message, peer));
dns.on('error', (error) => process.stderr.write(`dns listener: ${error.message}\n`));

createInterface({ input: process.stdin }).on('line', onFlow);
// The flow events stopped: direct attempts would go unrecorded from now on. Stop (fail closed).
process.stdin.on('end', () => {
  process.stderr.write('egress proxy: the flow events ended; stopping\n');
  process.exit(1);
});

dns.bind(dnsPort, listenAddress, () => {
  server.listen(listenPort, listenAddress, () =>
    log('egress_proxy_ready', {
      listen_port: listenPort,
      dns_port: dnsPort,
      allowed_domains: patterns,
      allowed_ports: [...allowedPorts],
    }),
  );
});
process.on('SIGTERM', () => {
  flushSuppressed();
  process.exit(0);
});
