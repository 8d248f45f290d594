#!/usr/bin/env bash
# Regenerates src/protocol/gen from proto/ with buf and protoc-gen-es.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf src/protocol/gen
PATH="$PWD/node_modules/.bin:$PATH" buf generate
