# Recipe settings for harombe/egress-proxy, sourced by deploy/images/build-image.sh (part of its hash).
# The runtime for the egress proxy of network-enabled sandboxes: only Node. The proxy's program
# (packages/sandbox/proxy/egress-proxy.mjs) is handed to each proxy container when the sandbox
# manager starts it, so a change to the program needs no image rebuild. Infrastructure: runc.

image=harombe/egress-proxy

# `docker import --change` instructions. The command matches Dockerfile.registry.
changes=(
  'USER 65534:65534'
  'WORKDIR /'
  'EXPOSE 3128'
  'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  'CMD ["node", "--version"]'
)
