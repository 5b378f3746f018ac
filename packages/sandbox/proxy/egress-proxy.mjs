// The egress proxy of one network-enabled sandbox: the sandbox's only way out. Plain Node, no
// dependencies, one file: the sandbox manager hands it to a harombe/egress-proxy container.
//
// Allows plain HTTP (absolute-form requests) and HTTPS tunnels (CONNECT) to host names on the
// sandbox's allowlist (exact names and `*.example.com` wildcards) on the allowed ports; refuses
// IP literals, other ports, other names, and names resolving to loopback, link-local (cloud
// metadata), unspecified or multicast addresses or to this container's gateways (the host).
// It resolves names itself: the sandbox has no DNS. Every decision is one JSON line on stdout,
// which the manager follows; refusals carry `event: "egress_refused"` and a running count.
//
// Configuration: the environment variable HAROMBE_EGRESS_CONFIG, JSON:
//   { "sandbox_id": string, "allowed_domains": string[],
//     "allowed_ports"?: number[] (default [80, 443]), "listen_port"?: number (default 3128) }

import { readFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import net from 'node:net';

const config = JSON.parse(process.env.HAROMBE_EGRESS_CONFIG ?? '{}');
const sandboxId = String(config.sandbox_id ?? 'unknown');
const patterns = (config.allowed_domains ?? []).map((d) => String(d).toLowerCase().replace(/\.$/, ''));
const allowedPorts = new Set(config.allowed_ports ?? [80, 443]);
const listenPort = config.listen_port ?? 3128;
/** Idle connections are closed after this long (a tunnel nobody uses holds a socket). */
const IDLE_MS = 5 * 60_000;

let refusedCount = 0;

function log(event, fields) {
  process.stdout.write(`${JSON.stringify({ event, sandbox_id: sandboxId, at: new Date().toISOString(), ...fields })}\n`);
}

/** Gateways of this container's routes: the host, seen from its networks. */
function gateways() {
  try {
    return readFileSync('/proc/net/route', 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/)[2])
      .filter((hex) => hex && hex !== '00000000')
      .map((hex) => hex.match(/../g).reverse().map((b) => parseInt(b, 16)).join('.'));
  } catch {
    return [];
  }
}
const GATEWAYS = new Set(gateways());

function hostAllowed(host) {
  return patterns.some((p) => (p.startsWith('*.') ? host.endsWith(p.slice(1)) : host === p));
}

/** Addresses no allowed name may lead to, whatever its DNS says (rebinding included). */
function forbiddenAddress(address) {
  const a = address.toLowerCase().replace(/^::ffff:/, '');
  if (net.isIPv4(a)) {
    const [x, y] = a.split('.').map(Number);
    return x === 0 || x === 127 || (x === 169 && y === 254) || x >= 224 || GATEWAYS.has(a);
  }
  return a === '::' || a === '::1' || /^fe[89ab]/.test(a) || a.startsWith('ff');
}

/** Checks a target; returns the address to connect to, or a refusal reason. */
async function decide(rawHost, port) {
  const host = rawHost.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (net.isIP(host)) return { reason: 'ip_literal' };
  if (!allowedPorts.has(port)) return { reason: 'port_not_allowed' };
  if (!hostAllowed(host)) return { reason: 'domain_not_allowed' };
  let addresses;
  try {
    addresses = await lookup(host, { all: true });
  } catch {
    return { reason: 'unresolvable' };
  }
  const usable = addresses.find((entry) => !forbiddenAddress(entry.address));
  return usable ? { address: usable.address } : { reason: 'forbidden_address' };
}

function refuse(target, reason, method) {
  refusedCount += 1;
  log('egress_refused', { target, reason, method, refused_total: refusedCount });
}

/** Parses `host:port` the way a URL does, so numeric host spellings come out as IP literals. */
function parseTarget(authority, defaultPort) {
  try {
    const url = new URL(`http://${authority}`);
    if (url.username || url.password || url.pathname !== '/' || url.search) return undefined;
    return { host: url.hostname, port: url.port ? Number(url.port) : defaultPort };
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
    res.writeHead(400, { 'content-type': 'text/plain' }).end('harombe egress proxy: only absolute http:// URLs and CONNECT\n');
    return;
  }
  const port = url.port ? Number(url.port) : 80;
  const target = `${url.hostname}:${port}`;
  const verdict = await decide(url.hostname, port);
  if (verdict.reason) {
    refuse(target, verdict.reason, req.method);
    res.writeHead(403, { 'content-type': 'text/plain' }).end(`harombe egress proxy: ${target} refused (${verdict.reason})\n`);
    return;
  }
  log('egress_allowed', { target, method: req.method });
  const headers = { ...req.headers };
  for (const name of ['proxy-connection', 'proxy-authorization', 'connection', 'keep-alive']) delete headers[name];
  const upstream = http.request(
    { host: verdict.address, port, method: req.method, path: `${url.pathname}${url.search}`, headers, setHost: false, timeout: IDLE_MS },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('timeout', () => upstream.destroy(new Error('idle')));
  upstream.on('error', (error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`harombe egress proxy: ${target}: ${error.message}\n`);
    else res.destroy();
  });
  req.pipe(upstream);
});

server.on('connect', async (req, client, head) => {
  client.on('error', () => undefined);
  const parsed = parseTarget(req.url, 443);
  const target = parsed ? `${parsed.host}:${parsed.port}` : String(req.url).slice(0, 200);
  const verdict = parsed ? await decide(parsed.host, parsed.port) : { reason: 'bad_target' };
  if (verdict.reason) {
    refuse(target, verdict.reason, 'CONNECT');
    client.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\nharombe egress proxy: ${target} refused (${verdict.reason})\n`);
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
    if (client.writable) client.end(`HTTP/1.1 502 Bad Gateway\r\n\r\nharombe egress proxy: ${target}: ${error.message}\n`);
  });
  client.on('close', () => upstream.destroy());
});

server.on('clientError', (_error, socket) => socket.destroy());
server.listen(listenPort, '0.0.0.0', () => log('egress_proxy_ready', { listen_port: listenPort, allowed_domains: patterns, allowed_ports: [...allowedPorts] }));
process.on('SIGTERM', () => process.exit(0));
