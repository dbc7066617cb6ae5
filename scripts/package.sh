#!/usr/bin/env bash
# `npm run package`: leaves in dist/ the tarballs `npm publish` would upload, made the
# napi-rs way (docs/design/010-npm-packages-and-glibc.md):
#   dist/versioned-hdf5-<version>.tgz                the main package: JS entries and typings,
#                                                    optionalDependencies on every platform package
#   dist/versioned-hdf5-linux-x64-gnu-<version>.tgz  the addon built here (glibc 2.17, static libhdf5)
# The platform packages of the targets this machine cannot build are left to the
# release workflow (.github/workflows/release.yml), which runs the same napi steps on
# the artifacts of every target.
set -euo pipefail
cd "$(dirname "$0")/.."
napi=(npx --no-install napi)
local_config=scripts/napi.local.json   # the napi config narrowed to the targets built here

bash scripts/build.sh release

# The platform package directories: npm/<platform>/ for every target in package.json.
"${napi[@]}" create-npm-dirs
# What the release workflow does with the artifacts it downloads: napi artifacts moves
# each <binary>.<platform>.node into npm/<platform>/.
rm -rf target/artifacts && mkdir -p target/artifacts
cp versioned-hdf5.linux-x64-gnu.node target/artifacts/
"${napi[@]}" artifacts -c "$local_config" --output-dir target/artifacts --npm-dir npm
# Checks the platform packages the way publishing does (names, files, the addon in place),
# without publishing anything.
"${napi[@]}" pre-publish -c "$local_config" --dry-run --skip-optional-publish --no-gh-release

rm -rf dist && mkdir -p dist
npm pack --silent --pack-destination dist >/dev/null
for dir in npm/*/; do
  if compgen -G "$dir*.node" >/dev/null; then npm pack --silent --pack-destination dist "./$dir" >/dev/null; fi
done
ls -l dist/
