#!/bin/sh
# Runs every fuzz property with more iterations than CI (FUZZ_RUNS, default 2000).
#   bench/fuzz.sh [runs]
set -eu
cd "$(dirname "$0")/.."
FUZZ_RUNS="${1:-${FUZZ_RUNS:-2000}}" exec node --import tsx --test --test-concurrency=2 test/fuzz/*.test.ts
