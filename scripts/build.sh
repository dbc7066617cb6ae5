#!/usr/bin/env bash
# Builds the native addon into ./versioned-hdf5.linux-x64-gnu.node and regenerates
# binding.js / binding.d.ts.
#   release (default): the published build. libhdf5 and zlib built from bundled source
#                      and linked statically; zig (through cargo-zigbuild, the napi
#                      CLI's `-x`) compiles the C code and links everything against
#                      glibc 2.17, so the addon loads on any glibc >= 2.17
#                      (docs/design/010-npm-packages-and-glibc.md). Target dir
#                      target/static.
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
    source scripts/zig-env.sh
    "${napi[@]}" --release --features "static${VH5_FEATURES:+,$VH5_FEATURES}" --target "$ZIG_TARGET" --cross-compile
    ;;
  debug)
    "${napi[@]}" ${VH5_FEATURES:+--features "$VH5_FEATURES"}
    ;;
  *) echo "usage: build.sh [release|debug]" >&2; exit 2 ;;
esac
