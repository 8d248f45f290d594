#!/usr/bin/env bash
# The test suite on a Debian 12 machine: installs system packages and npm
# dependencies, starts nix-daemon, type-checks, builds, runs the tests.
#   scripts/test.sh                 every test
#   scripts/test.sh --quick         the unit and engine tier (the edit-test loop)
#   scripts/test.sh FILE...         these files
# Prints one line per test file and a final "N passed, N failed, N skipped"
# line; the full TAP stream goes to $NR_TEST_TAP (default .tmp/test-results.tap).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "npm ci: without a prebuilt binary for this platform, better-sqlite3 compiles from source (python3, make, g++); that takes minutes, its output follows" >&2
  npm ci --no-audit --no-fund --foreground-scripts
fi
shopt -s globstar nullglob
files=(test/**/*.test.ts)
if [ "${1:-}" = "--quick" ]; then
  # Unit-level tests and the engine: no daemons, registrations, action fetches or end-to-end runs;
  # no type-check either (npm run typecheck).
  shift
  files=()
  for f in test/{config,expressions,workflow,policy,observability,spool,engine,cli}/**/*.test.ts; do
    [ "$f" = test/config/register-cli.test.ts ] || files+=("$f")
  done
else
  npx tsc --noEmit -p .
fi
node scripts/check-deps.mjs
node scripts/build.mjs
if [ $# -gt 0 ]; then files=("$@"); fi
export NR_TEST_TAP="${NR_TEST_TAP:-.tmp/test-results.tap}"
export NR_TEST_FILE_COUNT=${#files[@]}
mkdir -p "$(dirname "$NR_TEST_TAP")"
exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 \
  --test-reporter=./scripts/test-reporter.mjs --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$NR_TEST_TAP" \
  "${files[@]}"
