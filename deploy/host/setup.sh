#!/usr/bin/env bash
# Turns a fresh Debian 12 machine into a Harombe Fleet host: Docker engine, gVisor (runsc),
# redis-server, the two runsc runtimes, the sandbox images and the Redis image. Idempotent:
# every step checks first and does nothing when its work is already done, so it is safe to call
# before every run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
log_dir=/var/log/harombe
daemon_json=/etc/docker/daemon.json
backports_list=/etc/apt/sources.list.d/harombe-backports.sources

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
fail() {
  printf '\033[31msetup failed: %s\033[0m\n' "$1" >&2
  [ $# -gt 1 ] && printf '    fix: %s\n' "$2" >&2
  exit 1
}

require_root() {
  [ "$(id -u)" = 0 ] || fail "this script installs system packages and configures Docker, so it must run as root" \
    "run it again with sudo: sudo bash deploy/host/setup.sh"
  case "$(uname -m)" in
    x86_64 | aarch64) ;;
    *) fail "gVisor runs only on x86_64 and aarch64, this machine is $(uname -m)" ;;
  esac
  [ -r /etc/debian_version ] || fail "this script supports Debian 12 (bookworm) hosts only" \
    "on other systems install Docker and gVisor by hand, then run: bash deploy/host/setup.sh images"
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    step "refreshing Debian package lists"
    apt-get update -qq || fail "cannot reach Debian's package archive (apt-get update failed)" \
      "check /etc/apt/sources.list.d and the machine's network or proxy settings"
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
    fail "apt-get install $* failed" "run it by hand to see apt's message"
}

# bookworm's own runsc (2022-12-19) fails every statx inside the sandbox on Linux 6.x kernels
# ("ls: Invalid argument"); the bookworm-backports build works.
runsc_is_usable() {
  command -v runsc >/dev/null 2>&1 || return 1
  local version
  version=$(dpkg-query -W -f='${Version}' runsc 2>/dev/null || echo unknown)
  case "$version" in 0.0~2022*) return 1 ;; esac
}

add_backports_source() {
  [ -f "$backports_list" ] && return 0
  local src=/etc/apt/sources.list.d/debian.sources uris keyring
  [ -r "$src" ] || fail "cannot find $src to derive a bookworm-backports source from" \
    "add a bookworm-backports source by hand, then run this script again"
  # The first stanza is the main archive; reuse its mirror and keyring rather than naming one.
  uris=$(awk '/^URIs:/ {print $2; exit}' "$src")
  keyring=$(awk '/^Signed-By:/ {print $2; exit}' "$src")
  [ -n "$uris" ] || fail "no URIs line in $src"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
    "$uris" "${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}" >"$backports_list"
  apt_updated=0
}

install_packages() {
  step "checking Docker engine, gVisor, redis-server and debootstrap"
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  if [ ${#missing[@]} -gt 0 ]; then
    step "installing ${missing[*]}"
    apt_install "${missing[@]}" ca-certificates iptables
  fi
  ok "docker engine $(dockerd --version | awk '{print $3}' | tr -d ,), $(redis-server --version | awk '{print $3}')"
  if ! runsc_is_usable; then
    step "installing gVisor runsc from bookworm-backports"
    add_backports_source
    apt_install -t bookworm-backports runsc
    runsc_is_usable || fail "runsc from bookworm-backports is not usable on this machine"
  fi
  ok "runsc $(dpkg-query -W -f='${Version}' runsc)"
}

# Prometheus's binaries: promtool checks deploy/prometheus in the tests, and the observability
# test runs a real Prometheus against a test fleet. The fleet's own Prometheus runs from
# docker-compose.yml, so the package's service is not left running. A compose client checks
# docker-compose.yml in the tests and runs it on hosts that use it.
install_observability_tools() {
  step "checking Prometheus (prometheus, promtool) and a Docker Compose client"
  local missing=()
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  if [ ${#missing[@]} -gt 0 ]; then
    step "installing ${missing[*]}"
    apt_install "${missing[@]}"
    if [[ " ${missing[*]} " == *" prometheus "* ]] && pidof systemd >/dev/null 2>&1 && command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
  fi
  ok "$(prometheus --version 2>&1 | awk 'NR == 1 {print "prometheus", $3}'), $( (docker compose version 2>/dev/null || docker-compose version 2>/dev/null) | awk 'NR == 1')"
}

docker_answers() { docker info >/dev/null 2>&1; }

wait_for_docker() {
  local i
  for i in $(seq 1 60); do
    docker_answers && return 0
    sleep 1
  done
  fail "the Docker daemon did not answer within 60 s" "see $log_dir/dockerd.log"
}

start_docker() {
  step "checking the Docker daemon"
  if docker_answers; then
    ok "running"
    return 0
  fi
  mkdir -p "$log_dir"
  if pidof systemd >/dev/null 2>&1 && command -v systemctl >/dev/null 2>&1; then
    systemctl start docker || true
  fi
  if ! docker_answers && ! pidof dockerd >/dev/null 2>&1; then
    step "starting dockerd (no init system manages it here)"
    nohup setsid dockerd >>"$log_dir/dockerd.log" 2>&1 </dev/null &
  fi
  wait_for_docker
  ok "running"
}

# Both runtimes are known to dockerd, with the arguments configure_runtimes gives them.
runtimes_registered() {
  docker info --format '{{json .Runtimes}}' 2>/dev/null | node -e '
    const runtimes = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
    const ok = ["runsc", "runsc-net"].every((name) => (runtimes[name]?.runtimeArgs ?? []).includes("--platform=ptrace"));
    process.exit(ok ? 0 : 1);'
}

configure_runtimes() {
  step "registering runsc runtimes in $daemon_json"
  local runsc_path changed
  runsc_path=$(command -v runsc)
  mkdir -p "$(dirname "$daemon_json")"
  # gVisor's own netstack refuses to start in this setup, so the network runtime uses the
  # container's network namespace (--network=host) and the default one has none at all.
  # The ptrace platform: this runsc's default platform (systrap) wakes every 400 µs in every
  # sandbox, about 3 % of a core each while idle; ptrace sleeps, and starts sandboxes as fast.
  changed=$(node - "$daemon_json" "$runsc_path" <<'EOF'
const fs = require('node:fs');
const [file, runsc] = process.argv.slice(2);
let config = {};
try { config = JSON.parse(fs.readFileSync(file, 'utf8')); } catch (e) { if (e.code !== 'ENOENT') throw e; }
const wanted = {
  runsc: { path: runsc, runtimeArgs: ['--network=none', '--platform=ptrace'] },
  'runsc-net': { path: runsc, runtimeArgs: ['--network=host', '--platform=ptrace'] },
};
const before = JSON.stringify(config.runtimes ?? {});
config.runtimes = { ...(config.runtimes ?? {}), ...wanted };
if (JSON.stringify(config.runtimes) === before) { console.log('no'); process.exit(0); }
fs.writeFileSync(file, JSON.stringify(config, null, 2) + '\n');
console.log('yes');
EOF
  )
  if [ "$changed" = yes ]; then
    local pid
    pid=$(pidof dockerd || true)
    [ -n "$pid" ] || fail "dockerd is not running, cannot reload its configuration"
    kill -HUP $pid
    for _ in $(seq 1 30); do
      runtimes_registered && break
      sleep 1
    done
  fi
  runtimes_registered ||
    fail "Docker did not pick up the runsc runtimes" "check $daemon_json and restart dockerd"
  ok "runtimes runsc (no network) and runsc-net (container network namespace), ptrace platform"
}

build_images() {
  step "building sandbox images"
  # One image per language: each recipe whose Dockerfile.registry names its language (a language
  # of core's LANGUAGE_CATALOGUE, the recipe directory's name) becomes harombe/sandbox-<language>.
  local recipe lang
  for recipe in "$repo"/deploy/images/*/Dockerfile.registry; do
    lang=$(sed -n 's/^LABEL org\.harombe\.language=//p' "$recipe")
    [ -n "$lang" ] || continue
    bash "$repo/deploy/images/build-local.sh" "$lang"
  done
  # Redis for the job pipeline and the integration tests: a service image, run under runc.
  step "building service images"
  bash "$repo/deploy/images/build-image.sh" redis
  # The egress proxy of network-enabled sandboxes (the manager hands it its program): runc.
  bash "$repo/deploy/images/build-image.sh" egress-proxy
  # A rebuilt image leaves its predecessor untagged: remove those of ours, nothing else.
  local pruned
  pruned=$(docker image prune -f --filter "label=org.harombe.recipe" 2>/dev/null | sed -n 's/^Total reclaimed space: //p')
  ok "old image versions pruned (${pruned:-0B} reclaimed)"
}

prove_runtimes() {
  step "proving each runtime with a container"
  local out
  out=$(docker run --rm --runtime=runsc --network=none harombe/sandbox-shell sh -c 'ls / >/dev/null && echo gvisor-ok' 2>&1) ||
    fail "a runsc container did not run: $out" \
      "this kernel may lack what gVisor needs (ptrace or seccomp); see $log_dir/dockerd.log and dmesg"
  [ "$out" = gvisor-ok ] || fail "runsc container printed '$out' instead of gvisor-ok"
  ok "runsc"
  out=$(docker run --rm --runtime=runsc-net harombe/sandbox-shell sh -c 'echo gvisor-net-ok' 2>&1) ||
    fail "a runsc-net container did not run: $out" "see $log_dir/dockerd.log"
  ok "runsc-net"
}

# On the ptrace platform every process inside a sandbox is about 11 host tasks, so a few fork
# bombs held at max_processes would use up a small pid space (32,768 on some hosts).
raise_pid_limit() {
  step "checking the host's pid space"
  local wanted=4194304 current
  current=$(cat /proc/sys/kernel/pid_max)
  if [ "$current" -lt "$wanted" ]; then
    if echo "$wanted" >/proc/sys/kernel/pid_max 2>/dev/null; then
      ok "kernel.pid_max raised from $current to $wanted"
    else
      printf '    warning: kernel.pid_max is %s and cannot be raised here; set it to %s on the host\n' "$current" "$wanted"
    fi
  else
    ok "kernel.pid_max $current"
  fi
}

main() {
  require_root
  case "${1:-all}" in
    all)
      install_packages
      install_observability_tools
      start_docker
      raise_pid_limit
      configure_runtimes
      build_images
      prove_runtimes
      ;;
    images) build_images ;;
    docker) start_docker ;;
    *) fail "unknown step '$1'" "use one of: all, docker, images" ;;
  esac
  step "host ready"
}

main "$@"
