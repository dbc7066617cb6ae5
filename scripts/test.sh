#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds the published (static) addon,
# checks it carries no libhdf5 dependency, then runs the Rust and the JS tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export CMAKE="$PWD/.tools/bin/cmake" CARGO_TARGET_DIR="$PWD/target/static"

echo "== build (static libhdf5)"
VH5_FEATURES=test-hooks bash scripts/build.sh release
if ldd versioned-hdf5.linux-x64-gnu.node | grep -i hdf5; then
  echo "FAIL: the addon links a shared libhdf5" >&2
  exit 1
fi
echo "ldd: no libhdf5 in versioned-hdf5.linux-x64-gnu.node"

echo "== lint"
cargo fmt --all -- --check
cargo clippy --release --features static,test-hooks -p versioned-hdf5-core -p versioned-hdf5-node --all-targets -- -D warnings
# The typings: tests and examples type-check against index.d.ts / binding.d.ts.
npx --no-install tsc -p __test__/tsconfig.json --noEmit
# The TS/JS linter (pinned Biome, biome.json); the typings snapshot runs with the JS tests.
npx --no-install biome lint

echo "== rust tests"
cargo test --release --features static,test-hooks -p versioned-hdf5-core

echo "== js tests"
npx --no-install ava
