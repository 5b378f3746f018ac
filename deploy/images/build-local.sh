#!/usr/bin/env bash
# Builds harombe/sandbox-<language> without a registry: debootstrap a Debian rootfs with the
# language's packages, add the sandbox user and /workspace, and import it into Docker.
# Rebuilds only when the recipe (the package list and this script) changed.
set -euo pipefail

lang=${1:?usage: build-local.sh python|javascript|shell}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
packages_file="$here/$lang/packages"
[ -r "$packages_file" ] || { echo "no recipe for language '$lang' ($packages_file)" >&2; exit 1; }
image="harombe/sandbox-$lang"
recipe=$(cat "$packages_file" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)

current=$(docker image inspect "$image" --format '{{index .Config.Labels "org.harombe.recipe"}}' 2>/dev/null || true)
if [ "$current" = "$recipe" ]; then
  echo "    ok: $image is up to date (recipe $recipe)"
  exit 0
fi

echo "    building $image (recipe $recipe): $(tr '\n' ' ' <"$packages_file")"
root=$(mktemp -d /var/tmp/harombe-rootfs-XXXXXX)
cleanup() {
  umount "$root/proc" 2>/dev/null || true
  rm -rf "$root"
}
trap cleanup EXIT
log="/var/tmp/harombe-build-$lang.log"
# debootstrap resolves dependencies only roughly (npm's tree defeats it), so it lays down the
# minimal base and apt, inside the new root, installs the language's packages.
if ! debootstrap --variant=minbase bookworm "$root" >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "debootstrap failed for $image; full log: $log" >&2
  exit 1
fi
mount -t proc proc "$root/proc"
# shellcheck disable=SC2046
if ! chroot "$root" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(tr '\n' ' ' <"$packages_file")" >>"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "installing packages failed for $image; full log: $log" >&2
  exit 1
fi
umount "$root/proc"

# The sandbox user owns nothing but its workspace; uid 1000 is fixed so limits can name it.
echo 'sandbox:x:1000:1000:sandbox:/workspace:/bin/bash' >>"$root/etc/passwd"
echo 'sandbox:x:1000:' >>"$root/etc/group"
mkdir -p "$root/workspace"
chown 1000:1000 "$root/workspace"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc "$root"/usr/share/man

tar -C "$root" -c . | docker import \
  --change 'USER 1000:1000' \
  --change 'WORKDIR /workspace' \
  --change 'ENV HOME=/workspace LANG=C.UTF-8 PYTHONUNBUFFERED=1 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["sleep", "infinity"]' \
  --change "LABEL org.harombe.recipe=$recipe org.harombe.language=$lang" \
  - "$image:latest" >/dev/null
echo "    ok: built $image"
