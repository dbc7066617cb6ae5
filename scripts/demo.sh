#!/usr/bin/env bash
# Builds the addon if needed, then runs examples/demo.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f versioned-hdf5.linux-x64-gnu.node ] || bash scripts/build.sh release
npx --no-install tsx examples/demo.ts "$@"
