#!/usr/bin/env bash
# Installs what building and testing need and the machine may lack, idempotently:
#   - a CMake >= 3.26 (libhdf5 2.x's build needs it) in .tools/, from PyPI;
#   - zig and cargo-zigbuild in .tools/ (PyPI wheels, pinned below): the release build
#     compiles and links with zig against glibc 2.17 (docs/design/010-npm-packages-and-glibc.md);
#   - Debian packages: hdf5-tools (h5ls/h5dump) and python3-h5py, the independent
#     reader the tests check files with (only with --test);
#   - .venv/ with Python versioned-hdf5 2.4.0 from PyPI (scripts/requirements-interop.txt),
#     the interop oracle (only with --test); rebuilt when the pins change;
#   - .venv26/ with Python versioned-hdf5 2.6.0 (scripts/requirements-interop-26.txt),
#     the second oracle, for what 2.6 does differently (only with --test);
#   - the npm dev dependencies, from package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

if [ ! -x .tools/bin/cmake ]; then
  echo "setup: installing cmake into .tools/"
  python3 -m venv .tools
  .tools/bin/pip install -q --disable-pip-version-check cmake==3.31.6
fi

# zig (PyPI `ziglang`) and cargo-zigbuild (its PyPI wheel is the crates.io release,
# prebuilt). Linked into .tools/zig-bin/, which build.sh puts on PATH (not .tools/bin,
# which also holds the venv's python).
ZIG_VERSION=0.15.2 CARGO_ZIGBUILD_VERSION=0.24.1
if [ "$(.tools/zig-bin/zig version 2>/dev/null)" != "$ZIG_VERSION" ] \
  || [ "$(.tools/zig-bin/cargo-zigbuild --version 2>/dev/null)" != "cargo-zigbuild $CARGO_ZIGBUILD_VERSION" ]; then
  echo "setup: installing zig $ZIG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION into .tools/"
  .tools/bin/pip install -q --disable-pip-version-check "ziglang==$ZIG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  mkdir -p .tools/zig-bin
  ln -sf "$(.tools/bin/python -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')" .tools/zig-bin/zig
  ln -sf ../bin/cargo-zigbuild .tools/zig-bin/cargo-zigbuild
fi

if [ "$want_test" = 1 ]; then
  if ! command -v h5ls >/dev/null || ! /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
    echo "setup: installing hdf5-tools and python3-h5py"
    SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq hdf5-tools python3-h5py >/dev/null
  fi
fi

if [ "$want_test" = 1 ]; then
  if [ ! -x .venv/bin/python ] || ! cmp -s scripts/requirements-interop.txt .venv/requirements-interop.txt; then
    echo "setup: creating .venv with Python versioned-hdf5 (scripts/requirements-interop.txt)"
    rm -rf .venv
    if ! python3 -m venv .venv || ! .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-interop.txt; then
      echo "setup: FAILED to create the interop venv (.venv): the interop tests need Python versioned-hdf5 from PyPI; check network access to pypi.org and python3 -m venv" >&2
      rm -rf .venv
      exit 1
    fi
    cp scripts/requirements-interop.txt .venv/requirements-interop.txt
  fi
fi

if [ "$want_test" = 1 ]; then
  if [ ! -x .venv26/bin/python ] || ! cmp -s scripts/requirements-interop-26.txt .venv26/requirements-interop-26.txt; then
    echo "setup: creating .venv26 with Python versioned-hdf5 2.6 (scripts/requirements-interop-26.txt)"
    rm -rf .venv26
    if ! python3 -m venv .venv26 || ! .venv26/bin/pip install -q --disable-pip-version-check -r scripts/requirements-interop-26.txt; then
      echo "setup: FAILED to create the second interop venv (.venv26): the interop tests need Python versioned-hdf5 2.6 from PyPI; check network access to pypi.org and python3 -m venv" >&2
      rm -rf .venv26
      exit 1
    fi
    cp scripts/requirements-interop-26.txt .venv26/requirements-interop-26.txt
  fi
fi

if [ ! -d node_modules/@napi-rs/cli ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install` keeps to package-lock.json; `npm ci` trips over the lockfile's
  # platform-specific optional packages of the napi CLI under npm 11.
  echo "setup: npm install"
  npm install --no-audit --no-fund --loglevel=error
fi
