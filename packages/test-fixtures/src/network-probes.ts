/**
 * Python helpers for probing a sandbox's network, to prefix a probe program with. Each answers a
 * verdict string rather than raising: tcp/tcp6 ('connected', 'timeout', 'error:<reason>'), get
 * through the configured proxy ('ok:<body>', 'http:<status>', 'error:<type>'), dns (a raw query
 * to Docker's resolver: 'answers:<count>'), resolve (the system resolver: 'resolved:<address>'),
 * tunnel (GET /hello.txt through a CONNECT tunnel to host:port), broadcast (one UDP datagram),
 * raw and ping (an ICMP echo over a raw or a ping socket: 'reply', 'timeout', 'error:<reason>').
 */
export const NETWORK_PROBES = `
import json, os, socket, urllib.parse, urllib.request, urllib.error
def tcp(host, port):
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, port)); return 'connected'
    except socket.timeout: return 'timeout'
    except OSError as e: return 'error:' + (e.strerror or str(e))
    finally: s.close()
def get(url, context=None):
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as r: return 'ok:' + r.read().decode().strip()
    except urllib.error.HTTPError as e: return 'http:' + str(e.code)
    except Exception as e: return 'error:' + type(e).__name__
def dns(name):
    q = os.urandom(2) + b'\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00' + b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\\x00\\x00\\x01\\x00\\x01'
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    try:
        s.sendto(q, ('127.0.0.11', 53)); r = s.recv(512)
        return 'answers:' + str(int.from_bytes(r[6:8], 'big'))
    except OSError as e: return 'error:' + type(e).__name__
def tunnel(host, port):
    import http.client
    proxy = urllib.parse.urlsplit(os.environ['HTTP_PROXY'])
    c = http.client.HTTPConnection(proxy.hostname, proxy.port, timeout=10)
    try:
        c.set_tunnel(host, port); c.request('GET', '/hello.txt'); return 'ok:' + c.getresponse().read().decode().strip()
    except OSError as e: return 'error:' + str(e)
    finally: c.close()
def broadcast(address, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1); s.sendto(b'leak', (address, port)); return 'sent'
    except OSError as e: return 'error:' + (e.strerror or str(e))
    finally: s.close()
def icmp(host, kind):
    try:
        s = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
    except OSError as e: return 'error:' + (e.strerror or str(e))
    try:
        s.settimeout(2); s.sendto(b'\\x08\\x00\\xf7\\xff\\x00\\x00\\x00\\x00', (host, 0)); s.recv(512); return 'reply'
    except socket.timeout: return 'timeout'
    except OSError as e: return 'error:' + (e.strerror or str(e))
    finally: s.close()
def raw(host): return icmp(host, socket.SOCK_RAW)
def ping(host): return icmp(host, socket.SOCK_DGRAM)
def tcp6(host, port):
    s = socket.socket(socket.AF_INET6); s.settimeout(3)
    try:
        s.connect((host, port, 0, 0)); return 'connected'
    except socket.timeout: return 'timeout'
    except OSError as e: return 'error:' + (e.strerror or str(e))
    finally: s.close()
def resolve(name):
    try: return 'resolved:' + socket.gethostbyname(name)
    except OSError as e: return 'error:' + type(e).__name__
`;
