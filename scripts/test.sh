#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds and packs the published addon
# (static libhdf5, glibc 2.17), checks it links no libhdf5 and needs no glibc newer
# than 2.17, then runs the Rust tests, the clean-install test of the packed tarballs
# and the JS tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# The release build's environment (zig, glibc 2.17): clippy and the Rust tests build
# for the same target, so they share its libhdf5 build.
source scripts/zig-env.sh

echo "== build and pack the published packages (static libhdf5, glibc 2.17, no test hooks)"
bash scripts/package.sh
bash scripts/check-addon.sh versioned-hdf5.linux-x64-gnu.node
# The generated loader and typings are committed (the typings spec snapshots them):
# a build that regenerates them differently means a change to the binding whose
# generated files were not committed with it.
if ! git diff --quiet -- binding.js binding.d.ts; then
  echo "generated binding.js / binding.d.ts differ from what is committed (commit them with the binding change):" >&2
  git diff --stat -- binding.js binding.d.ts >&2
  [ "${CI:-}" = true ] && exit 1
fi

echo "== clean install (the tarballs in dist/, node and npm only)"
bash scripts/clean-install-test.sh

echo "== build for the tests (the same, with the test hooks: fault injection, panics, the commit floor)"
VH5_FEATURES=test-hooks bash scripts/build.sh release
bash scripts/check-addon.sh versioned-hdf5.linux-x64-gnu.node

echo "== lint"
cargo fmt --all -- --check
cargo-zigbuild clippy --release --features static,test-hooks --target "$ZIG_TARGET" -p versioned-hdf5-core -p versioned-hdf5-node --all-targets -- -D warnings
# The typings: tests and examples type-check against index.d.ts / binding.d.ts.
npx --no-install tsc -p __test__/tsconfig.json --noEmit
# The TS/JS linter (pinned Biome, biome.json); the typings snapshot runs with the JS tests.
npx --no-install biome lint

echo "== rust tests"
cargo-zigbuild test --release --features static,test-hooks --target "$ZIG_TARGET" -p versioned-hdf5-core

echo "== js tests"
npx --no-install ava
