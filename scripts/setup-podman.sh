#!/usr/bin/env bash
# Podman for the container executor's tests (root only): runc as the runtime
# (crun refuses the hybrid cgroup layout of the CI machines), ulimits the
# runtime may set without CAP_SYS_RESOURCE, the Docker-compatible API on
# /run/podman/podman.sock, and a local test image (no registry is reachable):
# busybox-static, dash as sh (as in Debian's images), bash, node, GNU tar and
# zstd (@actions/cache), python3 (its standard library), perl and git copied
# from the host with their libraries.
# docker-registry (distribution 2.x) and htpasswd for the registry pull tests,
# which start their own registry (its packaged service is not started).
# Idempotent; the image is kept in podman's storage between runs.
set -euo pipefail
[ "$(id -u)" = 0 ] || exit 0
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in podman runc uidmap busybox-static curl docker-registry apache2-utils openssl tar zstd python3 perl-base dash git; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
if command -v systemctl >/dev/null && systemctl is-active -q docker-registry 2>/dev/null; then
  systemctl disable -q --now docker-registry || true
fi
mkdir -p /etc/containers
conf='[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"'
if [ "$(cat /etc/containers/containers.conf 2>/dev/null)" != "$conf" ]; then
  printf '%s\n' "$conf" >/etc/containers/containers.conf
fi
sock=/run/podman/podman.sock
if ! curl -sf --max-time 5 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
  mkdir -p /run/podman
  (setsid podman system service --time=0 "unix://$sock" >/var/log/podman-service.log 2>&1 &)
  for _ in $(seq 100); do curl -sf --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
image=localhost/native-runner-test:4
if ! podman image exists "$image"; then
  d=$(mktemp -d)
  # Merged /usr as in Debian's images: `command -v bash` is /usr/bin/bash, as on the host.
  mkdir -p "$d/usr/bin" "$d/usr/sbin" "$d/usr/lib" "$d/usr/lib64" "$d/tmp" "$d/etc" "$d/root"
  for l in bin sbin lib lib64; do ln -s "usr/$l" "$d/$l"; done
  chmod 1777 "$d/tmp"
  node=$(readlink -f "$(command -v node)")
  py=$(readlink -f /usr/bin/python3)
  cp /bin/bash /bin/tar /bin/dash "$d/bin/"
  ln -s dash "$d/bin/sh"
  cp "$node" "$d/usr/bin/node"
  cp /usr/bin/zstd /usr/bin/perl "$d/usr/bin/"
  ln -s zstd "$d/usr/bin/zstdmt"
  ln -s zstd "$d/usr/bin/unzstd"
  cp "$py" "$d/usr/bin/"
  ln -s "$(basename "$py")" "$d/usr/bin/python3"
  ln -s "$(basename "$py")" "$d/usr/bin/python"
  tar -C /usr/lib --exclude=test --exclude=__pycache__ --exclude=idlelib --exclude=tkinter --exclude=ensurepip \
    -c "$(basename "$py")" | tar -C "$d/usr/lib" -x
  mkdir -p "$d/usr/lib/x86_64-linux-gnu"
  cp -a /usr/lib/x86_64-linux-gnu/perl-base "$d/usr/lib/x86_64-linux-gnu/"
  # git (actions/checkout), with its helpers (git-remote-http) and templates.
  cp /usr/bin/git "$d/usr/bin/"
  mkdir -p "$d/usr/share"
  cp -a /usr/lib/git-core "$d/usr/lib/"
  cp -a /usr/share/git-core "$d/usr/share/"
  cp /bin/busybox "$d/bin/busybox"
  for a in $(/bin/busybox --list); do [ -e "$d/bin/$a" ] || ln -s busybox "$d/bin/$a"; done
  for bin in /bin/bash /bin/dash /bin/tar "$node" /usr/bin/zstd /usr/bin/perl "$py" /usr/bin/git /usr/lib/git-core/git-remote-http; do
    for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
      mkdir -p "$d$(dirname "$lib")"
      cp -L "$lib" "$d$lib"
    done
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$d/etc/passwd"
  printf 'root:x:0:\n' >"$d/etc/group"
  tar -C "$d" -c . | podman import -q --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$image" >/dev/null
  rm -rf "$d"
fi
# A service image: the same root filesystem serving HTTP (built locally, FROM the image above).
svc=localhost/native-runner-svc:2
if ! podman image exists "$svc"; then
  d=$(mktemp -d)
  printf 'FROM %s\nRUN mkdir -p /www && echo service-ok > /www/index.html\nCMD ["httpd", "-f", "-vv", "-p", "80", "-h", "/www"]\n' "$image" >"$d/Containerfile"
  podman build -q --network none -t "$svc" "$d" >/dev/null
  rm -rf "$d"
fi
