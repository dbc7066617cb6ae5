#!/usr/bin/env bash
# Builds the native addon into ./versioned-hdf5.linux-x64-gnu.node and regenerates
# binding.js / binding.d.ts.
#   release (default): libhdf5 and zlib built from bundled source and linked
#                      statically, as published (target dir target/static).
#   debug:             links the system libhdf5 (Debian: libhdf5-dev), fast to rebuild.
# VH5_FEATURES=test-hooks adds the test-only hooks (fault injection, the commit floor);
# scripts/test.sh sets it, the published build does not.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-release}"
bash scripts/setup.sh
napi=(npx --no-install napi build --platform --manifest-path crates/node/Cargo.toml --output-dir . --js binding.js --dts binding.d.ts)
case "$mode" in
  release|static)
    export CMAKE="$PWD/.tools/bin/cmake" CARGO_TARGET_DIR="$PWD/target/static"
    "${napi[@]}" --release --features "static${VH5_FEATURES:+,$VH5_FEATURES}"
    ;;
  debug)
    "${napi[@]}" ${VH5_FEATURES:+--features "$VH5_FEATURES"}
    ;;
  *) echo "usage: build.sh [release|debug]" >&2; exit 2 ;;
esac
