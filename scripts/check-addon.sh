#!/usr/bin/env bash
# Checks a built Linux glibc addon is fit to publish: it links no shared libhdf5
# (ldd), and needs no glibc symbol newer than 2.17 (objdump -T).
# Usage: check-addon.sh [file.node]   (default: versioned-hdf5.linux-x64-gnu.node)
set -euo pipefail
addon="${1:-versioned-hdf5.linux-x64-gnu.node}"
floor=GLIBC_2.17
if ldd "$addon" | grep -i hdf5; then
  echo "FAIL: $addon links a shared libhdf5" >&2
  exit 1
fi
echo "ldd: no libhdf5 in $addon"
glibc=$(objdump -T "$addon" | grep -o 'GLIBC_[0-9.]*' | sort -V | tail -1)
if [ "$(printf '%s\n' "$glibc" "$floor" | sort -V | tail -1)" != "$floor" ]; then
  echo "FAIL: $addon needs $glibc; the published addon must need no glibc newer than ${floor#GLIBC_}" >&2
  objdump -T "$addon" | grep -F "$glibc" >&2
  exit 1
fi
echo "objdump: the newest glibc symbol $addon needs is $glibc (floor: $floor)"
