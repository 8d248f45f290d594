#!/usr/bin/env bash
# Installs and starts what the test suite needs on a Debian 12 machine (root):
# git, nix (multi-user, offline), bubblewrap, tar/zstd for @actions/cache,
# acl (setfacl: runner-written files stay writable for per-job uids), gcc (the
# hostile suite builds an LD_PRELOAD probe and a symlink racer), xz-utils and
# curl (../shared/peers/gitea.sh: the real Gitea of test/e2e-gitea), python3 and
# perl (notify-socket and NixOS-unit tests), g++ and make (npm ci builds
# better-sqlite3 from source where no prebuilt binary fits).
# Idempotent: safe to run on a machine that already has everything.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in git nix-bin nix-setup-systemd bubblewrap busybox-static util-linux zstd tar procps acl openssl gcc g++ make libc6-dev xz-utils curl python3 perl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
# Another apt/dpkg run (unattended-upgrades on a fresh machine) holds the dpkg lock for a while:
# wait for it (DPkg::Lock::Timeout, and a retry loop for the lists lock) instead of failing at once.
apt_get() {
  local i err
  for i in $(seq 60); do
    if err=$(apt-get -o DPkg::Lock::Timeout=300 "$@" 2>&1 >/dev/null); then return 0; fi
    if ! grep -qiE 'could not get lock|unable to acquire|another process' <<<"$err"; then echo "$err" >&2; return 1; fi
    echo "setup-host: apt-get $1: waiting for another apt/dpkg run to release its lock ($i/60)" >&2
    sleep 5
  done
  echo "$err" >&2
  return 1
}
if [ "$(id -u)" = 0 ] && [ ${#need[@]} -gt 0 ]; then
  echo "setup-host: installing ${need[*]}" >&2
  apt_get update -qq
  apt_get install -y -qq "${need[@]}"
fi
if [ "$(id -u)" = 0 ] && [ -d /etc/nix ]; then
  # Offline nix: no substituters (else seconds of DNS retries per call); sandbox with a static /bin/sh.
  cat > /etc/nix/nix.conf <<'CONF'
sandbox = true
sandbox-paths = /bin/sh=/bin/busybox
substituters =
experimental-features = nix-command flakes
CONF
  if command -v nix-daemon >/dev/null; then
    if ! [ -S /nix/var/nix/daemon-socket/socket ] || ! nix store ping --store daemon >/dev/null 2>&1; then
      (nix-daemon >/var/log/nix-daemon.log 2>&1 &)
      for _ in $(seq 50); do [ -S /nix/var/nix/daemon-socket/socket ] && break; sleep 0.1; done
    fi
  fi
fi
# Podman, its Docker-compatible API socket and the local test image (container executor tests).
bash "$(dirname "$0")/setup-podman.sh"
