#!/usr/bin/env bash
# Builds a service image (not a sandbox) without a registry: debootstrap a Debian rootfs, install
# the recipe's packages with apt inside it, customise it and import it into Docker.
# A recipe is a directory deploy/images/<name>/ holding
#   packages   Debian packages, one a line;
#   image.sh   sourced settings: `image` (the tag), `changes` (docker import --change lines)
#              and optionally a `customize <rootfs>` function run after the install.
# Rebuilds only when the recipe (both files and this script) changed.
#
# The sandbox images keep their own builder, build-local.sh: its recipe hash covers that
# script's text, so folding it into this one would rebuild every sandbox image (minutes for
# node) for no change in their content. Move them here the next time their recipe changes.
set -euo pipefail

name=${1:?usage: build-image.sh <recipe>, e.g. redis}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
packages_file="$here/$name/packages"
settings_file="$here/$name/image.sh"
[ -r "$packages_file" ] && [ -r "$settings_file" ] ||
  { echo "no recipe '$name' (need $packages_file and $settings_file)" >&2; exit 1; }
image='' changes=()
# shellcheck source=/dev/null
source "$settings_file"
[ -n "$image" ] || { echo "$settings_file does not set image=" >&2; exit 1; }
recipe=$(cat "$packages_file" "$settings_file" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)

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
log="/var/tmp/harombe-build-$name.log"
if ! debootstrap --variant=minbase bookworm "$root" >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "debootstrap failed for $image; full log: $log" >&2
  exit 1
fi
mount -t proc proc "$root/proc"
# Daemon packages (redis-server) start their service from postinst; in a chroot that would be a
# live server on the host's network holding the rootfs busy. policy-rc.d forbids it.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
if ! chroot "$root" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(tr '\n' ' ' <"$packages_file")" >>"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "installing packages failed for $image; full log: $log" >&2
  exit 1
fi
umount "$root/proc"
rm -f "$root/usr/sbin/policy-rc.d"

if declare -F customize >/dev/null; then
  customize "$root"
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc "$root"/usr/share/man

import_args=()
for change in "${changes[@]}"; do
  import_args+=(--change "$change")
done
tar -C "$root" -c . | docker import "${import_args[@]}" \
  --change "LABEL org.harombe.recipe=$recipe org.harombe.image=$name" \
  - "$image:latest" >/dev/null
echo "    ok: built $image"
