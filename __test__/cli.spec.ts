// The vh5 command line (bin/vh5.js), run as a real child process on files written here
// and by Python versioned-hdf5 2.4.0 and 2.6.0: text and --json output, exit codes and
// error codes, npy read back by NumPy, csv, progress bars under a pseudo-terminal
// (util-linux `script`) and none when piped. About 60 vh5 processes, ~15 s on two cores.
import test from 'ava'
import { execFile, execFileSync } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { VersionedFile } from '../index.js'
import { PYTHON, py, tmpFile, VENV26_PYTHON, VENV_PYTHON, vpyWith } from './helpers.js'

const VH5 = join(__dirname, '..', 'bin', 'vh5.js')
const run = promisify(execFile)

interface Result { code: number; stdout: string; stderr: string }

/** Runs `vh5 args…` as a child process (stdin closed); never throws. */
async function vh5(args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const r = await run(process.execPath, [VH5, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string }
    if (typeof err.code !== 'number') throw e
    return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
  }
}

/** Runs vh5 under a pseudo-terminal (`script`), stdin fed `input`; returns what the terminal showed. */
async function vh5Tty(args: string[], env: Record<string, string> = {}, input = ''): Promise<Result> {
  const quoted = [process.execPath, VH5, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
  return new Promise((resolve) => {
    const child = execFile('script', ['-qfec', quoted, '/dev/null'], { encoding: 'utf8', env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0
      resolve({ code, stdout, stderr })
    })
    child.stdin?.end(input)
  })
}

// NumPy's dtype and shape of an .npy file, and each element as Python prints it.
const npyLoad = `import json, sys
import numpy as np
def canon(x):
    if isinstance(x, bytes): return x.decode()
    if isinstance(x, (bool, np.bool_)): return str(bool(x))
    if isinstance(x, (float, np.floating)): return repr(float(x))
    if isinstance(x, (int, np.integer)): return str(int(x))
    if isinstance(x, tuple): return [canon(y) for y in x]
    return str(x)
out = []
for path in sys.argv[1:]:
    a = np.load(path)
    out.append({'dtype': str(a.dtype), 'shape': list(a.shape), 'flat': [canon(x) for x in a.reshape(-1).tolist()]})
print(json.dumps(out))`

interface Npy { dtype: string; shape: number[]; flat: any[] }

/** What NumPy reads from .npy files (one Python process for all of them). */
function numpyLoad(...paths: string[]): Npy[] {
  return vpyWith(VENV26_PYTHON, npyLoad, ...paths)
}

// A history written here: a branch, µs timestamps, every dtype the npy writer handles.
const ours = tmpFile('cli-ours')
const big = tmpFile('cli-big')
const BIG_N = 300_000
const WORDS = 20_000

test.before(async () => {
  const vf = VersionedFile.open(ours, { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    g.createDataset('f64', { data: new Float64Array([1.5, -2, Number.NaN, 1e300, -0]), chunks: [2] })
    g.createDataset('cube', { data: new Float32Array(24).map((_, i) => i / 4), shape: [2, 3, 4], chunks: [1, 2, 2], compression: 'gzip', compressionLevel: 5, shuffle: true })
    g.createDataset('m', { data: new BigInt64Array([1n, -2n, 3n, 9007199254740993n, 5n, 6n]), shape: [2, 3], chunks: [2, 2], fillValue: -7n })
    g.createDataset('u64', { data: new BigUint64Array([0n, 18446744073709551615n]), chunks: [2] })
    g.createDataset('half', { data: [0.5, -1.25, 65504, 6.103515625e-5], dtype: 'float16', chunks: [4] })
    g.createDataset('flags', { data: new Uint8Array([1, 0, 1]), dtype: 'bool', chunks: [2] })
    g.createDataset('i8', { data: new Int8Array([-128, 0, 127]), chunks: [3] })
    g.createDataset('s', { data: ['x', 'Grüße, "quoted"', ''], chunks: [2] })
    g.createDataset('fixed', { data: ['ab', 'hello'], dtype: 'S5', chunks: [2] })
    const meta = g.createGroup('meta')
    meta.attrs.set('source', 'feed-a')
    meta.createDataset('n', { data: new Int32Array([7]), chunks: [1] }).attrs.set('unit', 'ms')
    g.attrs.set('run', 3)
  }, { timestamp: '2024-05-01T09:30:00.000001Z' })
  await vf.stageVersion('v2', (g) => g.dataset('f64').write([[0, 1]], 42), { timestamp: '2024-05-01T09:31:00.000002Z' })
  await vf.stageVersion('b1', (g) => g.dataset('m').write([0, 0], 100n), { prevVersion: 'v1', makeCurrent: false, timestamp: '2024-05-01T09:32:00.000003Z' })
  await vf.stageVersion('v3', (g) => g.dataset('i8').write([1], 1), { prevVersion: 'v2', timestamp: '2024-05-01T09:33:00.000004Z' })
  vf.close()
  const b = VersionedFile.open(big, { mode: 'w' })
  await b.stageVersion('v1', (g) => {
    g.createDataset('x', { data: new Float64Array(BIG_N).map((_, i) => i * 0.25), chunks: [16384] })
    g.createDataset('words', { data: Array.from({ length: WORDS }, (_, i) => `w${i},${'é'.repeat(i % 5)}`), chunks: [1000] })
  })
  b.close()
})

test('log: newest first with parent and µs timestamps; --json, --limit, --since/--until, --graph', async (t) => {
  const r = await vh5(['log', ours])
  t.is(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  t.deepEqual(lines.map((l) => l.split(/\s+/)[0]), ['v3', 'b1', 'v2', 'v1'])
  t.is(lines[0], `v3    2024-05-01T09:33:00.000004Z  ${Date.UTC(2024, 4, 1, 9, 33) * 1000 + 4}  parent v2  (current)`)
  t.regex(lines[3], /parent -$/)
  const j = JSON.parse((await vh5(['log', ours, '--json'])).stdout)
  t.deepEqual(j.map((e: any) => [e.name, e.prevVersion, e.timestamp, e.current]), [
    ['v3', 'v2', '2024-05-01T09:33:00.000004Z', true],
    ['b1', 'v1', '2024-05-01T09:32:00.000003Z', false],
    ['v2', 'v1', '2024-05-01T09:31:00.000002Z', false],
    ['v1', '__first_version__', '2024-05-01T09:30:00.000001Z', false],
  ])
  t.is(j[3].timestampMicros, Date.UTC(2024, 4, 1, 9, 30) * 1000 + 1)
  const lim = JSON.parse((await vh5(['log', ours, '--json', '--limit', '2'])).stdout)
  t.deepEqual(lim.map((e: any) => e.name), ['v3', 'b1'])
  // --since is inclusive to the microsecond; --until takes integer microseconds too.
  const win = JSON.parse((await vh5(['log', ours, '--json', '--since', '2024-05-01T09:31:00.000002Z', '--until', String(Date.UTC(2024, 4, 1, 9, 32) * 1000 + 2)])).stdout)
  t.deepEqual(win.map((e: any) => e.name), ['v2'])
  const off = JSON.parse((await vh5(['log', ours, '--json', '--since', '2024-05-01T11:32:00.000003+02:00'])).stdout)
  t.deepEqual(off.map((e: any) => e.name), ['v3', 'b1'])
  const g = await vh5(['log', ours, '--graph'])
  t.deepEqual(g.stdout.trimEnd().split('\n').map((l) => l.replace(/ +2024-.*$/, '')), ['*   v3', '| * b1', '* | v2', '|/', '*   v1'])
  const gj = JSON.parse((await vh5(['log', ours, '--graph', '--json'])).stdout)
  t.deepEqual(gj.map((e: any) => e.graph), ['*', '| *', '* |', '*'])
})

test('ls: the tree with shape, dtype, chunks, filters, fill and attributes; --version and --at; --json', async (t) => {
  const r = await vh5(['ls', ours, '--json'])
  t.is(r.code, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  t.is(j.version, 'v3')
  t.deepEqual(j.attrs, {}) // a version's attributes are its own, not inherited
  const byPath = Object.fromEntries(j.items.map((i: any) => [i.path, i]))
  t.deepEqual(Object.keys(byPath), ['cube', 'f64', 'fixed', 'flags', 'half', 'i8', 'm', 'meta', 'meta/n', 's', 'u64'])
  // Stored size: the path's chunks on disk (shared by its versions), as storageStats says.
  const st = VersionedFile.open(ours, { mode: 'r' })
  const storage = Object.fromEntries(st.storageStatsSync({ live: false }).datasets.map((d) => [d.path, d]))
  st.close()
  t.deepEqual(byPath.cube, { path: 'cube', type: 'dataset', shape: [2, 3, 4], dtype: 'float32', chunks: [1, 2, 2], filters: ['shuffle', 'gzip(5)'], fillValue: 0, logicalBytes: 96, storedBytes: storage.cube.storedBytes, storage: storage.cube, attrs: {} })
  t.is(storage.cube.storedChunks, 8)
  t.deepEqual([byPath.f64.storedBytes, byPath.f64.storage.storedChunks], [4 * 16, 4]) // 3 chunks of 2 float64, one more in v2
  t.is(byPath.s.storedBytes, null, 'strings: their bytes lie in the heap')
  t.is(byPath.m.fillValue, -7)
  t.deepEqual(byPath.meta, { path: 'meta', type: 'group', attrs: { source: 'feed-a' } })
  t.deepEqual(byPath['meta/n'].attrs, { unit: 'ms' })
  t.is(byPath.s.logicalBytes, null)
  const text = (await vh5(['ls', ours])).stdout
  t.regex(text, /^version v3 {2}2024-05-01T09:33:00\.000004Z$/m)
  t.regex((await vh5(['ls', ours, '--version', 'v1'])).stdout, /^version v1 {2}2024-05-01T09:30:00\.000001Z {2}run=3$/m)
  t.regex(text, new RegExp(`^cube {2}float32 {2}\\(2, 3, 4\\) {2}chunks \\(1, 2, 2\\) {2}fill 0 {2}filters shuffle,gzip\\(5\\) {2}96 bytes {2}stored ${storage.cube.storedBytes} bytes in 8 chunks$`, 'm'))
  t.regex(text, /^s {2}string .* stored 2 chunks \(strings in the heap\)$/m)
  t.regex(text, /^meta\/ {2}source="feed-a"$/m)
  t.regex(text, /^ {2}n {2}int32 {2}\(1,\) .* unit="ms"$/m)
  t.is(JSON.parse((await vh5(['ls', ours, '--version', 'b1', '--json'])).stdout).version, 'b1')
  t.is(JSON.parse((await vh5(['ls', ours, '--version', '-1', '--json'])).stdout).version, 'v2')
  t.is(JSON.parse((await vh5(['ls', ours, '--at', '2024-05-01T09:31:59Z', '--json'])).stdout).version, 'v2')
})

test('cat: json (nested, exact int64, NaN as null), csv (1-D, 2-D, quoting), --select, --version, -o', async (t) => {
  t.is((await vh5(['cat', ours, 'f64'])).stdout, '[42,\n -2,\n null,\n 1e+300,\n -0.0]\n')
  t.is((await vh5(['cat', ours, 'f64', '--version', 'v1', '--format', 'csv'])).stdout, '1.5\n-2\nNaN\n1e+300\n-0\n')
  t.deepEqual(JSON.parse((await vh5(['cat', ours, 'cube', '--select', '1,::2,1:3'])).stdout), [[3.25, 3.5], [5.25, 5.5]])
  // Integers beyond 2^53 are written digit for digit (Python's json reads them exactly).
  t.is((await vh5(['cat', ours, 'm', '--format', 'csv'])).stdout, '1,-2,3\n9007199254740993,5,6\n')
  t.regex((await vh5(['cat', ours, 'm', '--version', 'b1'])).stdout, /^\[\[100, -2, 3\],\n \[9007199254740993, 5, 6\]\]\n$/)
  t.is((await vh5(['cat', ours, 'm', '--select', '-1,0'])).stdout, '9007199254740993\n')
  t.is((await vh5(['cat', ours, 'flags', '--format', 'csv'])).stdout, 'true\nfalse\ntrue\n')
  t.is((await vh5(['cat', ours, 's', '--format', 'csv'])).stdout, 'x\n"Grüße, ""quoted"""\n\n')
  t.deepEqual(JSON.parse((await vh5(['cat', ours, 's'])).stdout), ['x', 'Grüße, "quoted"', ''])
  const out = tmpFile('cli-out').replace(/\.h5$/, '.csv')
  const r = await vh5(['cat', ours, 'u64', '--format', 'csv', '-o', out])
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, '')
  t.is(readFileSync(out, 'utf8'), '0\n18446744073709551615\n')
})

test('cat --format npy: every dtype and shape as NumPy reads it', async (t) => {
  const f = (xs: number[]) => xs.map((x) => (Number.isInteger(x) ? `${x}.0` : String(x)))
  const cube = Array.from({ length: 24 }, (_, i) => i / 4)
  // [path, options, NumPy's dtype, shape, each element as Python prints it]
  const cases: Array<[string, string[], string, number[], string[]]> = [
    ['f64', ['--version', 'v1'], 'float64', [5], ['1.5', '-2.0', 'nan', '1e+300', '-0.0']],
    ['cube', [], 'float32', [2, 3, 4], f(cube)],
    ['cube', ['--select', ':,1'], 'float32', [2, 4], f([1, 1.25, 1.5, 1.75, 4, 4.25, 4.5, 4.75])],
    ['m', [], 'int64', [2, 3], ['1', '-2', '3', '9007199254740993', '5', '6']],
    ['u64', [], 'uint64', [2], ['0', '18446744073709551615']],
    ['half', [], 'float16', [4], ['0.5', '-1.25', '65504.0', '6.103515625e-05']],
    ['flags', [], 'bool', [3], ['True', 'False', 'True']],
    ['i8', [], 'int8', [3], ['-128', '1', '127']],
    ['s', [], '<U15', [3], ['x', 'Grüße, "quoted"', '']],
    ['fixed', [], '|S5', [2], ['ab', 'hello']],
    ['m', ['--select', '1,2'], 'int64', [], ['6']],
  ]
  const outs = cases.map(() => tmpFile('cli-npy').replace(/\.h5$/, '.npy'))
  const runs = await Promise.all(cases.map(([path, extra], i) => vh5(['cat', ours, path, ...extra, '--format', 'npy', '-o', outs[i]])))
  for (const r of runs) t.is(r.code, 0, r.stderr)
  const got = numpyLoad(...outs)
  cases.forEach(([path, extra, dtype, shape, flat], i) => t.deepEqual(got[i], { dtype, shape, flat }, `${path} ${extra.join(' ')}`))
})

test('cat of a large dataset streams block by block: npy and csv exact; a progress bar only on a terminal', async (t) => {
  const env = { VH5_BLOCK_BYTES: String(64 << 10) } // 37 blocks of 8192 rows
  const out = tmpFile('cli-big').replace(/\.h5$/, '.npy')
  const piped = await vh5(['cat', big, 'x', '--format', 'npy', '-o', out], env)
  t.is(piped.code, 0, piped.stderr)
  t.is(piped.stderr, '', 'no progress output when stderr is not a terminal')
  t.is(statSync(out).size, 128 + BIG_N * 8)
  const check = vpyWith<{ ok: boolean; n: number }>(VENV26_PYTHON, `import json, sys
import numpy as np
a = np.load(sys.argv[1])
print(json.dumps({'ok': bool((a == np.arange(${BIG_N}) * 0.25).all()), 'n': int(a.size)}))`, out)
  t.deepEqual(check, { ok: true, n: BIG_N })
  // A range of rows (through readBlocks, as the whole dataset), and a strided one.
  const part = tmpFile('cli-big-part').replace(/\.h5$/, '.npy')
  t.is((await vh5(['cat', big, 'x', '--format', 'npy', '--select', '1000:250001', '-o', part], env)).code, 0)
  const strided = tmpFile('cli-big-strided').replace(/\.h5$/, '.npy')
  t.is((await vh5(['cat', big, 'x', '--format', 'npy', '--select', '7::3', '-o', strided], env)).code, 0)
  t.deepEqual(vpyWith(VENV26_PYTHON, `import json, sys
import numpy as np
x = np.arange(${BIG_N}) * 0.25
print(json.dumps([bool(np.array_equal(np.load(sys.argv[1]), x[1000:250001])), bool(np.array_equal(np.load(sys.argv[2]), x[7::3]))]))`, part, strided), [true, true])
  // Strings: 157 blocks of csv text, quoted where they hold a comma.
  const words = await vh5(['cat', big, 'words', '--format', 'csv'], env)
  t.is(words.code, 0, words.stderr)
  t.is(words.stdout, Array.from({ length: WORDS }, (_, i) => `"w${i},${'é'.repeat(i % 5)}"`).join('\n') + '\n')
  const csv = await vh5(['cat', big, 'x', '--format', 'csv', '--select', '100000:100010'], env)
  t.is(csv.stdout, Array.from({ length: 10 }, (_, i) => String((100000 + i) * 0.25)).join('\n') + '\n')
  const all = await vh5(['cat', big, 'x', '--format', 'csv'], env)
  const lines = all.stdout.trimEnd().split('\n')
  t.is(lines.length, BIG_N)
  t.is(lines[BIG_N - 1], String((BIG_N - 1) * 0.25))
  t.is(all.stderr, '')
  const tty = await vh5Tty(['cat', big, 'x', '--format', 'npy', '-o', out], env)
  t.is(tty.code, 0, tty.stdout)
  t.regex(tty.stdout, /cat \[[█░]+\] 100% \| 300000\/300000 rows/)
  t.is(statSync(out).size, 128 + BIG_N * 8)
})

test('verify: exit 0 on a sound file, 1 with each problem and its location; progress only on a terminal', async (t) => {
  const ok = await vh5(['verify', ours])
  t.is(ok.code, 0, ok.stderr)
  t.regex(ok.stdout, /^ok: 4 versions, \d+ version datasets, \d+ chunks checked\n$/)
  t.is(ok.stderr, '')
  const rep = JSON.parse((await vh5(['verify', ours, '--json'])).stdout)
  t.true(rep.ok)
  // The bar counts verify's steps: each version, then each chunk it reads.
  const tty = await vh5Tty(['verify', ours])
  t.is(tty.code, 0)
  const steps = rep.versions + rep.chunks
  t.regex(tty.stdout, new RegExp(`verify \\[[█░]+\\] 100% \\| ${steps}/${steps} steps`))
  t.regex(tty.stdout, /ok: 4 versions/)
  const bad = tmpFile('cli-bad')
  const vf = VersionedFile.open(bad, { mode: 'w' })
  await vf.stageVersion('v1', (g) => g.createDataset('x', { data: new Float64Array(25).map((_, i) => i), chunks: [10] }))
  vf.close()
  py(`import h5py, sys, json
f = h5py.File(sys.argv[1], 'r+')
f['_version_data/x/raw_data'][12] = -1.0
print(json.dumps(0))`, bad)
  const r = await vh5(['verify', bad])
  t.is(r.code, 1)
  t.regex(r.stdout, /^problem: \/_version_data\/x slot at row 10 \(.*mapped by v1:x.*\): stored chunk does not match/m)
  t.regex(r.stdout, /^1 problem\(s\): 1 versions/m)
  const j = await vh5(['verify', bad, '--json'])
  t.is(j.code, 1)
  const badRep = JSON.parse(j.stdout)
  t.false(badRep.ok)
  t.true(badRep.problems.every((p: any) => typeof p.location === 'string' && p.location.length > 0))
})

test('info: format generation, version and dataset counts, file size against live bytes and what compact reclaims', async (t) => {
  const f = tmpFile('cli-info')
  writeFileSync(f, readFileSync(ours))
  const r = await vh5(['info', f, '--json'])
  t.is(r.code, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  t.is(j.dataVersion, 4)
  t.deepEqual([j.versions, j.currentVersion, j.datasetPaths, j.currentDatasets], [4, 'v3', 10, 10])
  t.is(j.fileBytes, statSync(f).size)
  t.is(j.first, '2024-05-01T09:30:00.000001Z')
  const vf = VersionedFile.open(f, { mode: 'r' })
  const s = vf.storageStatsSync()
  vf.close()
  t.deepEqual(
    [j.storedBytes, j.storedChunks, j.liveBytes, j.metadataBytes, j.objectBytes, j.reclaimableBytes, j.reclaimableShare],
    [s.storedBytes, s.datasets.reduce((n, d) => n + d.storedChunks, 0), s.liveBytes, s.metadataBytes, s.objectBytes, s.reclaimableBytes, s.reclaimableBytes! / s.fileBytes],
  )
  const text = (await vh5(['info', f])).stdout
  t.regex(text, /^format {10}data_version 4$/m)
  t.regex(text, /^versions {8}4 \(current v3\)$/m)
  t.regex(text, new RegExp(`^file size {7}${j.fileBytes} bytes \\(\\d+\\.\\d [KMG]iB\\)$`, 'm'))
  t.regex(text, new RegExp(`^chunk data {6}${j.storedBytes} bytes stored in ${j.storedChunks} chunks, ${j.liveBytes} bytes live`, 'm'))
  t.regex(text, new RegExp(`^reclaimable {5}${j.reclaimableBytes} bytes \\(${(100 * j.reclaimableShare).toFixed(1)}% of the file\\): at most what compact would give back$`, 'm'))
  // After deleting versions the freed space shows as reclaimable, and compact gives back about that.
  t.is((await vh5(['delete', f, 'v1', 'v2', 'b1', '--yes'])).code, 0)
  const del = JSON.parse((await vh5(['info', f, '--json'])).stdout)
  t.true(del.reclaimableBytes > j.reclaimableBytes + 10000, `${del.reclaimableBytes}`)
  const c = JSON.parse((await vh5(['compact', f, '--yes', '--json'])).stdout)
  const after = JSON.parse((await vh5(['info', f, '--json'])).stdout)
  t.true(Math.abs(c.bytesBefore - c.bytesAfter - del.reclaimableBytes) < 16 << 10, `${c.bytesBefore - c.bytesAfter} vs ${del.reclaimableBytes}`)
  t.true(after.reclaimableBytes < 16 << 10)
})

for (const [label, python] of [['2.4.0', VENV_PYTHON], ['2.6.0', VENV26_PYTHON]] as const) {
  test(`files Python versioned-hdf5 ${label} wrote: log, ls, cat (npy and csv against Python's reads), verify, info`, async (t) => {
    const f = tmpFile(`cli-py${label}`)
    vpyWith(python, join(__dirname, 'py', 'cli_history.py'), f)
    const log = JSON.parse((await vh5(['log', f, '--json'])).stdout)
    t.deepEqual(log.map((e: any) => [e.name, e.prevVersion, e.timestamp, e.current]), [
      ['v3', 'v1', '2024-05-01T09:32:00.000003Z', false],
      ['v2', 'v1', '2024-05-01T09:31:00.000002Z', true],
      ['v1', '__first_version__', '2024-05-01T09:30:00.000001Z', false],
    ])
    t.deepEqual(JSON.parse((await vh5(['log', f, '--json', '--graph'])).stdout).map((e: any) => e.graph), ['*', '| *', '*'])
    const ls = JSON.parse((await vh5(['ls', f, '--version', 'v3', '--json'])).stdout)
    const grid = ls.items.find((i: any) => i.path === 'grid')
    t.deepEqual([grid.dtype, grid.shape, grid.chunks, grid.filters, grid.fillValue], ['int64', [3, 4], [2, 2], ['gzip(3)'], -1])
    t.deepEqual(ls.items.find((i: any) => i.path === 'meta').attrs, { source: 'feed-a' })
    // npy of each version's datasets equals what Python versioned-hdf5 reads.
    const outs: Record<string, string> = {}
    for (const v of ['v1', 'v2', 'v3']) {
      for (const p of ['prices', 'grid', 'names']) {
        const out = tmpFile(`cli-py-${v}-${p}`).replace(/\.h5$/, '.npy')
        const r = await vh5(['cat', f, p, '--version', v, '--format', 'npy', '-o', out])
        t.is(r.code, 0, r.stderr)
        outs[`${v}/${p}`] = out
      }
    }
    const same = vpyWith<Record<string, boolean>>(python, `import json, sys
import h5py, numpy as np
from versioned_hdf5 import VersionedHDF5File
outs = json.loads(sys.argv[2])
res = {}
with h5py.File(sys.argv[1], 'r') as f:
    vf = VersionedHDF5File(f)
    for key, out in outs.items():
        v, p = key.split('/')
        want = vf[v][p][()]
        got = np.load(out)
        if want.dtype == object:
            want = np.array([x.decode() if isinstance(x, bytes) else x for x in want.tolist()])
        res[key] = bool(got.shape == want.shape and (got == want).all())
print(json.dumps(res))`, f, JSON.stringify(outs))
    t.deepEqual(Object.values(same), Array(9).fill(true), JSON.stringify(same))
    t.is((await vh5(['cat', f, 'prices', '--format', 'csv', '--select', ':4'])).stdout, '0.5\n100\n200\n3.5\n')
    t.is((await vh5(['cat', f, 'names', '--format', 'csv'])).stdout, 'a\nbéta\n"c,d"\n')
    t.is((await vh5(['cat', f, 'grid', '--at', '2024-05-01T09:32:00.000003Z', '--select', '0'])).stdout, '[99,\n -4,\n -3,\n -2]\n')
    t.is((await vh5(['verify', f])).code, 0)
    const info = JSON.parse((await vh5(['info', f, '--json'])).stdout)
    t.deepEqual([info.dataVersion, info.versions, info.datasetPaths], [4, 3, 3])
    // Python's three paths: 5 + 2 + 4 chunks, every one mapped.
    t.deepEqual([info.storedChunks, info.liveBytes], [11, info.storedBytes])
    t.true(info.objectBytes > info.storedBytes && info.objectBytes <= info.fileBytes)
  })
}

test('compound datasets (written with h5py as Python lays them out): json, csv, npy', async (t) => {
  const p = tmpFile('cli-compound')
  execFileSync(PYTHON, [join(__dirname, 'py', 'make_compound.py'), p])
  const j = JSON.parse((await vh5(['cat', p, 'rec'])).stdout)
  t.deepEqual(j, [
    { a: 1, b: 0.5, s: 'ab', h: 1.5 },
    { a: -2, b: 2.25, s: 'hello', h: -0.25 },
    { a: 3, b: -1, s: '', h: 65504 },
  ])
  t.is((await vh5(['cat', p, 'rec', '--format', 'csv'])).stdout, 'a,b,s,h\n1,0.5,ab,1.5\n-2,2.25,hello,-0.25\n3,-1,,65504\n')
  const out = tmpFile('cli-compound').replace(/\.h5$/, '.npy')
  t.is((await vh5(['cat', p, 'rec', '--format', 'npy', '-o', out])).code, 0)
  const [got] = numpyLoad(out)
  t.deepEqual(got, {
    dtype: "[('a', '<i4'), ('b', '<f8'), ('s', 'S5'), ('h', '<f2')]",
    shape: [3],
    flat: [['1', '0.5', 'ab', '1.5'], ['-2', '2.25', 'hello', '-0.25'], ['3', '-1.0', '', '65504.0']],
  })
})

test('errors: vh5: CODE: message on stderr, status 1 for data and file errors', async (t) => {
  const cases: Array<[string[], string]> = [
    [['log', '/nonexistent/x.h5'], 'FILE_NOT_FOUND'],
    [['cat', ours, 'nope'], 'NOT_FOUND'],
    [['cat', ours, 'meta'], 'INVALID_ARGUMENT'],
    [['ls', ours, '--version', 'v9'], 'VERSION_NOT_FOUND'],
    [['ls', ours, '--at', '2020-01-01'], 'NO_VERSION_AT_TIME'],
    [['cat', ours, 'f64', '--select', '9'], 'OUT_OF_BOUNDS'],
  ]
  const plain = tmpFile('cli-plain')
  writeFileSync(plain, 'not hdf5\n')
  cases.push([['info', plain], 'NOT_VERSIONED_FILE'])
  for (const [args, code] of cases) {
    const r = await vh5(args)
    t.is(r.code, 1, `${args.join(' ')}: ${r.stderr}`)
    t.regex(r.stderr, new RegExp(`^vh5: ${code}: \\S`), args.join(' '))
    t.is(r.stdout, '')
  }
  // A failed -o leaves no partial file.
  const out = tmpFile('cli-partial').replace(/\.h5$/, '.json')
  const r = await vh5(['cat', ours, 'f64', '--select', '99', '-o', out])
  t.is(r.code, 1)
  t.throws(() => statSync(out))
})

test('usage errors: status 2 with usage; --help for every command; unknown command or option', async (t) => {
  for (const args of [['frob'], ['log', ours, '--bogus'], ['cat', ours], ['log', ours, '--limit', 'x'], ['cat', ours, 'f64', '--select', '1:2:0'], ['cat', ours, 'cube', '--format', 'csv'], ['cat', ours, 'f64', '--format', 'xml'], ['ls', ours, '--version', 'v1', '--at', '2024-05-01T09:30:00Z'], ['log', ours, '--since', '2024-05-01T09:30'], []]) {
    const r = await vh5(args)
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    t.regex(r.stderr, args.length ? /^vh5: USAGE: / : /^Usage: vh5 /, args.join(' '))
    t.is(r.stdout, '')
  }
  t.regex((await vh5(['frob'])).stderr, /unknown command 'frob'[\s\S]*Usage: vh5 \[options\] \[command\]/)
  t.regex((await vh5(['log', ours, '--bogus'])).stderr, /unknown option '--bogus'[\s\S]*Usage: vh5 log/)
  const top = await vh5(['--help'])
  t.is(top.code, 0)
  for (const c of ['log', 'ls', 'cat', 'diff', 'verify', 'info', 'delete', 'compact']) {
    t.regex(top.stdout, new RegExp(`^  ${c} `, 'm'))
    const h = await vh5([c, '--help'])
    t.is(h.code, 0, c)
    t.regex(h.stdout, new RegExp(`^Usage: vh5 ${c} \\[options\\]`), c)
    t.regex(h.stdout, /--json/, c)
  }
  t.is((await vh5(['--version'])).stdout.trim(), JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version)
})

// diff, delete and compact call VersionedFile.diff / deleteVersions / compact.
const proto = VersionedFile.prototype as unknown as Record<string, unknown>
const has = { diff: typeof proto.diff === 'function', deleteVersions: typeof proto.deleteVersions === 'function', compact: typeof proto.compact === 'function' }

test('diff, delete and compact say UNSUPPORTED (status 1) where this build lacks the method', async (t) => {
  const cmds: Array<[keyof typeof has, string[]]> = [
    ['diff', ['diff', ours, 'v1', 'v2']],
    ['deleteVersions', ['delete', ours, 'v1', '--yes']],
    ['compact', ['compact', ours, '--yes']],
  ]
  const absent = cmds.filter(([m]) => !has[m])
  if (!absent.length) {
    t.pass('every history method is present: covered by the tests below')
    return
  }
  const before = readFileSync(ours)
  for (const [m, args] of absent) {
    const r = await vh5(args)
    t.is(r.code, 1, args[0])
    t.regex(r.stderr, new RegExp(`^vh5: UNSUPPORTED: 'vh5 ${args[0]}' needs VersionedFile\\.${m}\\(\\)`))
  }
  t.true(readFileSync(ours).equals(before), 'the file is unchanged')
})

;(has.diff ? test : test.skip)('diff: changed datasets with their regions, text and --json (needs VersionedFile.diff)', async (t) => {
  const r = await vh5(['diff', ours, 'v1', 'v2', '--json'])
  t.is(r.code, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  const f64 = j.find((c: any) => c.path === 'f64')
  t.is(f64.status, 'changed')
  t.deepEqual(f64.regions.map((r: any) => r.box), [[[0, 2]]])
  t.is(j.filter((c: any) => c.status === 'changed').length, 1)
  const text = await vh5(['diff', ours, 'v1', 'v2'])
  t.regex(text.stdout, /^changed +f64 {2}regions 0:2/m)
})

;(has.deleteVersions ? test : test.skip)('delete: removes versions, asks on a terminal, refuses without one unless --yes (needs VersionedFile.deleteVersions)', async (t) => {
  const f = tmpFile('cli-delete')
  writeFileSync(f, readFileSync(ours))
  const refused = await vh5(['delete', f, 'b1'])
  t.is(refused.code, 2)
  t.regex(refused.stderr, /^vh5: USAGE: not on a terminal: pass --yes/)
  const no = await vh5Tty(['delete', f, 'b1'], {}, 'n\n')
  t.is(no.code, 1)
  t.regex(no.stdout, /Delete 1 version\(s\) \(b1\)/)
  t.regex(no.stdout, /vh5: CANCELLED: /)
  t.true(JSON.parse((await vh5(['log', f, '--json'])).stdout).some((e: any) => e.name === 'b1'))
  // On a terminal the bar counts deleteVersions' steps; piped, nothing is drawn.
  const tty = await vh5Tty(['delete', f, 'b1', '--yes'])
  t.is(tty.code, 0, tty.stdout)
  t.regex(tty.stdout, /delete \[[█░]+\] 100% \| (\d+)\/\1 steps/)
  t.regex(tty.stdout, /deleted 1 version\(s\); 3 left, current v3/)
  const r = await vh5(['delete', f, 'v2', '--yes', '--json'])
  t.is(r.code, 0, r.stderr)
  t.is(r.stderr, '')
  t.deepEqual(JSON.parse((await vh5(['log', f, '--json'])).stdout).map((e: any) => [e.name, e.prevVersion]), [['v3', 'v1'], ['v1', '__first_version__']])
  t.is((await vh5(['verify', f])).code, 0)
  t.is((await vh5(['cat', f, 'f64', '--format', 'csv'])).stdout, '42\n-2\nNaN\n1e+300\n-0\n')
  t.is((await vh5(['delete', f, 'nope', '--yes'])).code, 1)
})

;(has.compact ? test : test.skip)('compact: rewrites the file, data unchanged, not larger (needs VersionedFile.compact)', async (t) => {
  const f = tmpFile('cli-compact')
  writeFileSync(f, readFileSync(ours))
  const before = statSync(f).size
  const r = await vh5(['compact', f, '--yes', '--json'])
  t.is(r.code, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  t.is(j.bytesBefore, before)
  t.true(j.bytesAfter <= before)
  t.is((await vh5(['verify', f])).code, 0)
  t.is((await vh5(['cat', f, 'm', '--version', 'b1', '--format', 'csv'])).stdout, '100,-2,3\n9007199254740993,5,6\n')
})
