# PID 1 of an egress proxy container, run as root with NET_ADMIN, NET_RAW, SETUID and SETGID only.
# It makes the proxy's network namespace the sandbox's only next hop, then runs the proxy as
# nobody with no capabilities. The sandbox manager runs it as `sh -c <this> harombe-egress-proxy
# <proxy program>`.
#
# The sandbox's default route points at its network's gateway address, which nothing on the host
# holds (the bridge has no IPv4). The proxy takes that address, so every packet the sandbox sends
# off its /29 arrives here, and here alone:
#   - TCP to the proxy's port is the proxy;
#   - DNS (UDP 53) goes to the proxy's DNS listener, which records the name and refuses;
#   - every other TCP and UDP packet is redirected to port 9, where nothing listens: refused at once.
# Forwarding is off (sysctl, set by the manager, and the FORWARD policy), so nothing passes through.
# conntrack reports each new flow; the proxy reads them on stdin and logs the direct attempts.
#
# Environment: HAROMBE_PROXY_ADDRESS, HAROMBE_GATEWAY, HAROMBE_EGRESS_GATEWAY, HAROMBE_PROXY_PORT,
# HAROMBE_DNS_PORT.
set -eu
iface=$(ip -o -4 addr show | awk -v want="$HAROMBE_PROXY_ADDRESS/" 'index($4, want) == 1 { print $2 }')
if [ -z "$iface" ]; then
  echo "egress proxy: no interface holds $HAROMBE_PROXY_ADDRESS" >&2
  exit 1
fi
ip addr add "$HAROMBE_GATEWAY/32" dev "$iface"
# Out through the egress network, whatever Docker chose: never back towards the sandbox.
ip route replace default via "$HAROMBE_EGRESS_GATEWAY"
nat() { iptables -w -t nat -A PREROUTING -i "$iface" "$@"; }
nat -p tcp -d "$HAROMBE_PROXY_ADDRESS" --dport "$HAROMBE_PROXY_PORT" -j RETURN
nat -p udp --dport 53 -j REDIRECT --to-ports "$HAROMBE_DNS_PORT"
nat -p tcp -j REDIRECT --to-ports 9
nat -p udp -j REDIRECT --to-ports 9
iptables -w -P FORWARD DROP
# Without flow events direct attempts would go unrecorded: refuse to start rather than run blind.
conntrack -L >/dev/null 2>&1 || { echo "egress proxy: conntrack cannot read this namespace's flows" >&2; exit 1; }
conntrack -E -e NEW -b 4194304 |
  exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --no-new-privs node --input-type=module -e "$1"
