# Recipe settings for harombe/redis, sourced by deploy/images/build-image.sh (part of its hash).
# Redis for the job pipeline and for integration tests; infrastructure, so it runs under runc.

image=harombe/redis

# Runs on the host after the packages are installed; $1 is the image's root directory.
# The Debian package created the `redis` system user; the server runs as that user and owns
# only /data, where the append-only file lives.
customize() {
  mkdir -p "$1/data"
  chroot "$1" chown redis:redis /data
}

# `docker import --change` instructions. The command matches Dockerfile.registry.
changes=(
  'USER redis'
  'WORKDIR /data'
  'VOLUME /data'
  'EXPOSE 6379'
  'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  'CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--appendonly", "yes", "--appendfsync", "everysec", "--dir", "/data", "--maxmemory-policy", "noeviction"]'
)
