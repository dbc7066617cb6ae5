// The published packages: what `npm pack` puts in the main tarball (a snapshot of its
// file list, and its size), and that the main package and npm/<platform>/ agree on
// the platform packages (the napi-rs layout `npm run package` and the release
// workflow rely on). The clean-install test (scripts/clean-install-test.sh) installs
// and runs the packed tarballs themselves.
import test from 'ava'
import { parseTriple } from '@napi-rs/cli'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(__dirname, '..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))

interface PackEntry { path: string; size: number }
interface PackResult { name: string; version: string; size: number; unpackedSize: number; files: PackEntry[] }

const packed: PackResult = JSON.parse(
  execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' }),
)[0]

test('the main tarball holds the JS entries, the typings, README and package.json: nothing else', (t) => {
  const files = packed.files.map((f) => f.path).sort()
  t.snapshot(files)
  for (const f of files) {
    t.false(/\.(node|rs|ts\.map|h5)$/.test(f) || f.startsWith('__test__/') || f.startsWith('crates/') || f.startsWith('npm/'), f)
  }
})

test('the main tarball stays under 200 KiB', (t) => {
  t.true(packed.size < 200 * 1024, `packed size ${packed.size} bytes`)
  t.log(`packed ${packed.size} bytes, unpacked ${packed.unpackedSize} bytes`)
})

test('optionalDependencies name every napi target’s platform package, at the package’s version', (t) => {
  const platforms = (pkg.napi.targets as string[]).map((triple) => parseTriple(triple).platformArchABI)
  const expected = Object.fromEntries(platforms.map((p) => [`${pkg.name}-${p}`, pkg.version]))
  t.deepEqual(pkg.optionalDependencies, expected)
  for (const platform of platforms) {
    const file = join(ROOT, 'npm', platform, 'package.json')
    t.true(existsSync(file), `${file} (napi create-npm-dirs makes it)`)
    const sub = JSON.parse(readFileSync(file, 'utf8'))
    t.is(sub.name, `${pkg.name}-${platform}`)
    t.is(sub.version, pkg.version, `${sub.name}: napi version keeps it at the main package's version`)
    t.deepEqual(sub.files, [`${pkg.napi.binaryName}.${platform}.node`])
  }
})

test('the exports map gives import and require their own entry and typings', (t) => {
  t.deepEqual(pkg.exports['.'], {
    import: { types: './index.d.mts', default: './index.mjs' },
    require: { types: './index.d.ts', default: './index.js' },
  })
  for (const f of ['index.mjs', 'index.d.mts', 'index.js', 'index.d.ts']) t.true(pkg.files.includes(f), f)
})
