# Recipe settings for harombe/egress-proxy, sourced by deploy/images/build-image.sh (part of its hash).
# The runtime for the egress proxy of network-enabled sandboxes: Node for the proxy, iproute2,
# iptables and conntrack for its init (which takes the sandbox network's gateway address and
# redirects and records whatever else the sandbox sends). Both programs
# (packages/sandbox/proxy/egress-proxy-init.sh and egress-proxy.mjs) are handed to each proxy
# container when the sandbox manager starts it, so a change to them needs no image rebuild.
# Infrastructure: runc.

image=harombe/egress-proxy

# `docker import --change` instructions. The command matches Dockerfile.registry.
changes=(
  'USER 65534:65534'
  'WORKDIR /'
  'EXPOSE 3128'
  'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  'CMD ["node", "--version"]'
)
