#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs system packages
# and npm dependencies, starts nix-daemon, type-checks, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx tsc --noEmit -p .
node scripts/build.mjs
shopt -s globstar nullglob
files=(test/**/*.test.ts)
if [ $# -gt 0 ]; then files=("$@"); fi
exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
