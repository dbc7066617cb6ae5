// Concurrency: file locking between processes, many reads in flight with commits on one
// open file, and the library inside worker_threads.
//
// Tests are serial: hdf5OpenObjects() is process-wide (worker threads included), and a
// test compares it before and after.
import test from 'ava'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Worker } from 'node:worker_threads'

import { hdf5OpenObjects, VersionedFile } from '../index.js'
import { py, tmpFile } from './helpers.js'

const LIB = join(__dirname, '..', 'index.js')

const X = Float64Array.from({ length: 100 }, (_, i) => i)
const withRun = (base: Float64Array, start: number, stop: number, v: number) => Float64Array.from(base, (x, i) => (i >= start && i < stop ? v : x))

async function small(tag: string): Promise<string> {
  const p = tmpFile(tag)
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: X, chunks: [10] }))
  vf.close()
  return p
}

/** What `fn` gives: `ok` / its value, or `error <CODE>`. */
async function got(fn: () => unknown): Promise<unknown> {
  try {
    const v = await fn()
    return ArrayBuffer.isView(v) ? `data ${Array.from(v as unknown as ArrayLike<number>).join(',')}` : v === undefined ? 'ok' : v
  } catch (e: any) {
    return `error ${e?.code}`
  }
}
const data = (x: ArrayLike<number>) => `data ${Array.from(x).join(',')}`
/** A read's numbers as a plain array. */
const nums = (x: unknown): number[] => Array.from(x as ArrayLike<number>)

function objectsBaseline(t: any): (() => void) & { count: number } {
  const before = hdf5OpenObjects()
  return Object.assign(() => t.is(hdf5OpenObjects(), before, 'every HDF5 object opened by the test is closed again'), { count: before })
}

function open(t: any, path: string, mode: string): VersionedFile {
  const vf = VersionedFile.open(path, { mode })
  t.teardown(() => {
    if (!vf.closed) vf.close()
  })
  return vf
}

// ---------------------------------------------------------------------------------
// Another process holding the file

const HOLDER = `
const { VersionedFile } = require(${JSON.stringify(LIB)})
const { createInterface } = require('node:readline')
const [path, mode] = process.argv.slice(1)
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n')
let f
try {
  f = VersionedFile.open(path, { mode })
  say({ ok: 'open' })
} catch (e) {
  say({ error: e.code, message: e.message })
  process.exit(0)
}
let chain = Promise.resolve()
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line)
  chain = chain.then(async () => {
    try {
      if (cmd.op === 'commit') {
        await f.stageVersion(cmd.name, (g) => g.dataset('x').write([[cmd.start, cmd.stop]], cmd.value))
        say({ ok: 'committed' })
      } else if (cmd.op === 'read') {
        say({ ok: Array.from(await f.version(cmd.name).dataset('x').read()) })
      } else if (cmd.op === 'close') {
        f.close()
        say({ ok: 'closed' })
        process.exit(0)
      }
    } catch (e) {
      say({ error: e.code, message: e.message })
    }
  })
})`

/** Another process with the file open in `mode`, taking commands over stdin. */
class Holder {
  private replies: string[] = []
  private waiting: Array<(s: string) => void> = []
  readonly child: ChildProcess
  constructor(path: string, mode: string) {
    this.child = spawn(process.execPath, ['-e', HOLDER, path, mode], { stdio: ['pipe', 'pipe', 'inherit'] })
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      const w = this.waiting.shift()
      if (w) w(l)
      else this.replies.push(l)
    })
  }
  next(): Promise<any> {
    const r = this.replies.shift()
    if (r !== undefined) return Promise.resolve(JSON.parse(r))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the holder process did not answer within 30 s')), 30_000)
      this.waiting.push((s) => {
        clearTimeout(timer)
        resolve(JSON.parse(s))
      })
    })
  }
  send(cmd: object): Promise<any> {
    this.child.stdin!.write(JSON.stringify(cmd) + '\n')
    return this.next()
  }
  kill() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
  }
  exited(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve()
    return new Promise((resolve) => this.child.once('exit', () => resolve()))
  }
}

function holder(t: any, path: string, mode: string): Holder {
  const h = new Holder(path, mode)
  t.teardown(() => h.kill())
  return h
}

/** Opens `path` in another process in each mode and returns each code (or 'opened'). */
function tryOpenElsewhere(path: string, modes: string[]): Promise<Record<string, string>> {
  const code = `
const { VersionedFile } = require(${JSON.stringify(LIB)})
const [path, ...modes] = process.argv.slice(1)
const out = {}
for (const mode of modes) {
  try { VersionedFile.open(path, { mode }).close(); out[mode] = 'opened' } catch (e) { out[mode] = 'error ' + e.code }
}
process.stdout.write(JSON.stringify(out))`
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['-e', code, path, ...modes], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    c.stdout.on('data', (d) => (out += d))
    c.on('close', (status) => (status === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited with ${status}: ${out}`))))
  })
}

test.serial('another process holds the file for writing: opening it here for writing (a, r+) is FILE_LOCKED, read-only (r) opens; nothing changes, and the holder keeps working', async (t) => {
  const done = objectsBaseline(t)
  const p = await small('locked')
  const h = holder(t, p, 'a')
  t.deepEqual(await h.next(), { ok: 'open' })
  const bytes = readFileSync(p)
  const codes: Record<string, unknown> = {}
  for (const mode of ['a', 'r+', 'r']) {
    codes[mode] = await got(() => VersionedFile.open(p, { mode }).close())
  }
  t.deepEqual(codes, { a: 'error FILE_LOCKED', 'r+': 'error FILE_LOCKED', r: 'ok' })
  t.true(readFileSync(p).equals(bytes), 'the refused opens (and the reader) did not touch the file')
  t.deepEqual(await h.send({ op: 'commit', name: 'c2', start: 0, stop: 10, value: 42 }), { ok: 'committed' }, 'the holder still commits')
  t.deepEqual(await h.send({ op: 'read', name: 'c2' }), { ok: Array.from(withRun(X, 0, 10, 42)) })
  t.deepEqual(await h.send({ op: 'close' }), { ok: 'closed' })
  await h.exited()
  // Released: the file opens for writing here and holds what the other process wrote.
  const vf = open(t, p, 'a')
  t.deepEqual(vf.versions, ['v1', 'c2'])
  t.is(await got(() => vf.version('c2').dataset('x').read()), data(withRun(X, 0, 10, 42)))
  await vf.stageVersion('m3', (g) => g.dataset('x').write([[90, 100]], 5))
  t.true((await vf.verify()).ok)
  vf.close()
  done()
})

test.serial("mode 'w' while another process holds the file is FILE_LOCKED and must not truncate it under the holder", async (t) => {
  const done = objectsBaseline(t)
  const p = await small('locked-w')
  const h = holder(t, p, 'a')
  t.deepEqual(await h.next(), { ok: 'open' })
  const bytes = readFileSync(p)
  const w = await got(() => VersionedFile.open(p, { mode: 'w' }).close())
  const after = readFileSync(p)
  const commit = await h.send({ op: 'commit', name: 'c2', start: 0, stop: 10, value: 42 })
  const read = await h.send({ op: 'read', name: 'v1' })
  t.deepEqual({
    "open 'w'": w,
    'file size after the refused open': after.length,
    'file unchanged': after.equals(bytes),
    'the holder commits afterwards': commit,
    "the holder reads v1 afterwards": read.ok ? data(read.ok) : read,
  }, {
    "open 'w'": 'error FILE_LOCKED',
    'file size after the refused open': bytes.length,
    'file unchanged': true,
    'the holder commits afterwards': { ok: 'committed' },
    "the holder reads v1 afterwards": data(X),
  })
  done()
})

test.serial('this process holds the file for writing: another process gets FILE_LOCKED for a and r+, opens it with r, and nothing changes', async (t) => {
  const done = objectsBaseline(t)
  const p = await small('locked-here')
  const vf = open(t, p, 'a')
  await vf.stageVersion('v2', (g) => g.dataset('x').write([[0, 10]], 1))
  t.deepEqual(await tryOpenElsewhere(p, ['a', 'r+', 'r']), { a: 'error FILE_LOCKED', 'r+': 'error FILE_LOCKED', r: 'opened' })
  await vf.stageVersion('v3', (g) => g.dataset('x').write([[10, 20]], 2))
  t.is(await got(() => vf.version('v3').dataset('x').read()), data(withRun(withRun(X, 0, 10, 1), 10, 20, 2)))
  vf.close()
  t.deepEqual(await tryOpenElsewhere(p, ['a']), { a: 'opened' }, 'closed: the other process gets it')
  done()
})

test.serial('a writer process that dies without closing leaves no lock behind: the file opens for writing, and its committed versions read', async (t) => {
  const done = objectsBaseline(t)
  const p = await small('dead-holder')
  const h = holder(t, p, 'a')
  t.deepEqual(await h.next(), { ok: 'open' })
  t.deepEqual(await h.send({ op: 'commit', name: 'c2', start: 20, stop: 30, value: 8 }), { ok: 'committed' })
  h.kill()
  await h.exited()
  const vf = open(t, p, 'a')
  t.deepEqual(vf.versions, ['v1', 'c2'])
  t.is(await got(() => vf.version('c2').dataset('x').read()), data(withRun(X, 20, 30, 8)))
  const rep = await vf.verify()
  t.true(rep.ok, JSON.stringify(rep.problems))
  vf.close()
  done()
})

// ---------------------------------------------------------------------------------
// Many reads in flight, with commits, on one open file

type Sel = Array<number | null | [number | null, number | null] | [number | null, number | null, number] | { indices: number[] }>

/** Coordinates a selection picks along each axis, numpy-style (orthogonal, in order). */
function coords(sel: Sel, shape: number[]): number[][] {
  return shape.map((n, ax) => {
    const s = sel[ax] ?? null
    const norm = (i: number) => (i < 0 ? i + n : i)
    if (s === null) return Array.from({ length: n }, (_, i) => i)
    if (typeof s === 'number') return [norm(s)]
    if (Array.isArray(s)) {
      const start = s[0] === null ? 0 : Math.min(norm(s[0]), n)
      const stop = s[1] === null ? n : Math.min(norm(s[1]), n)
      const step = s[2] ?? 1
      const out: number[] = []
      for (let i = start; i < stop; i += step) out.push(i)
      return out
    }
    return s.indices.map(norm)
  })
}

function pick<T>(flat: T[], shape: number[], sel: Sel): T[] {
  const cs = coords(sel, shape)
  const out: T[] = []
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1))
  const rec = (ax: number, off: number) => {
    if (ax === shape.length) {
      out.push(flat[off])
      return
    }
    for (const c of cs[ax]) rec(ax + 1, off + c * strides[ax])
  }
  rec(0, 0)
  return out
}

interface Model {
  grid: number[] // [40, 30]
  ids: bigint[] // [500] (grows)
  names: string[] // [60]
}
const GRID = [40, 30]
const clone = (m: Model): Model => ({ grid: [...m.grid], ids: [...m.ids], names: [...m.names] })

function rng(seed: number) {
  let s = seed >>> 0
  return (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    return Math.floor((s / 2 ** 32) * n)
  }
}

function randomSel(r: (n: number) => number, shape: number[]): Sel {
  // README: at most one index list per selection
  let lists = 0
  return shape.map((n) => {
    switch (r(lists ? 5 : 6)) {
      case 0:
        return null
      case 1:
        return r(2) ? r(n) : -1 - r(n)
      case 2: {
        const a = r(n)
        return [a, a + 1 + r(n - a)] as [number, number]
      }
      case 3: {
        const a = r(n)
        return [a, a + 1 + r(n - a), 1 + r(5)] as [number, number, number]
      }
      case 4:
        return [r(2) ? null : r(n), null] as [number | null, null]
      default:
        lists += 1
        return { indices: Array.from({ length: 1 + r(5) }, () => (r(3) ? r(n) : -1 - r(n))) }
    }
  })
}

/** Applies version k's writes (1 ≤ k) to a model and to a staged group (if given). */
function writesOf(k: number, m: Model, g?: any) {
  // grid[5k:5k+6, k:k+10] = 1000k + running index
  const gv = Float64Array.from({ length: 60 }, (_, i) => 1000 * k + i)
  for (let i = 0; i < 6; i++) for (let j = 0; j < 10; j++) m.grid[(5 * k + i) * 30 + (k + j)] = gv[i * 10 + j]
  // ids[50k:50k+70] = -(1000k + i)
  const iv = BigInt64Array.from({ length: 70 }, (_, i) => -BigInt(1000 * k + i))
  for (let i = 0; i < 70; i++) m.ids[50 * k + i] = iv[i]
  // names[7k:7k+5] = 'v<k>-<i>'
  const nv = Array.from({ length: 5 }, (_, i) => `v${k}-${i}`)
  for (let i = 0; i < 5; i++) m.names[7 * k + i] = nv[i]
  if (g) {
    g.dataset('grid').write([[5 * k, 5 * k + 6], [k, k + 10]], gv)
    g.dataset('ids').write([[50 * k, 50 * k + 70]], iv)
    g.dataset('names').write([[7 * k, 7 * k + 5]], nv)
  }
  if (k === 4) {
    // ids grows by 30 elements that read as the fill value, 0
    for (let i = 0; i < 30; i++) m.ids.push(0n)
    g?.dataset('ids').resize([530])
  }
}

const norm = (x: unknown): unknown[] => Array.from(x as ArrayLike<unknown>, (v) => (typeof v === 'bigint' ? `${v}n` : v))

test.serial('hundreds of concurrent read() promises over several versions, interleaved with commits, readSync and verify(), all return the right data', async (t) => {
  t.timeout(120_000)
  const done = objectsBaseline(t)
  const p = tmpFile('many-reads')
  const vf = open(t, p, 'w')
  const models = new Map<string, Model>()
  const m0: Model = {
    grid: Array.from({ length: 1200 }, (_, i) => i),
    ids: Array.from({ length: 500 }, (_, i) => BigInt(i * 3)),
    names: Array.from({ length: 60 }, (_, i) => `n${i}`),
  }
  await vf.stageVersion('v0', (g) => {
    g.createDataset('grid', { data: Float64Array.from(m0.grid), shape: GRID, chunks: [8, 7] })
    g.createDataset('ids', { data: BigInt64Array.from(m0.ids), chunks: [32] })
    g.createDataset('names', { data: m0.names as any, chunks: [16] })
  })
  models.set('v0', m0)
  for (let k = 1; k <= 4; k++) {
    const m = clone(models.get(`v${k - 1}`)!)
    await vf.stageVersion(`v${k}`, (g) => writesOf(k, m, g))
    models.set(`v${k}`, m)
  }

  const r = rng(2024)
  const shapeOf = (m: Model, ds: string) => (ds === 'grid' ? GRID : ds === 'ids' ? [m.ids.length] : [m.names.length])
  const flatOf = (m: Model, ds: string): unknown[] => (ds === 'grid' ? m.grid : ds === 'ids' ? m.ids : m.names)
  type Check = { what: string; promise: Promise<unknown>; expected: unknown[] }
  const checks: Check[] = []
  const syncMismatches: string[] = []
  const launch = (version: string) => {
    const m = models.get(version)!
    const ds = ['grid', 'ids', 'names'][r(3)]
    const shape = shapeOf(m, ds)
    const sel = randomSel(r, shape)
    const expected = norm(pick(flatOf(m, ds), shape, sel))
    checks.push({ what: `${version}:${ds} ${JSON.stringify(sel)}`, promise: vf.version(version).dataset(ds).read(sel as any), expected })
  }
  const committed = () => [...models.keys()]

  // v5 (from v4) and v6 (from v2, a branch) are staged while reads are in flight; their
  // builders await, read what they stage, and yield to the event loop between writes.
  let v5: Promise<unknown> | undefined
  let v6: Promise<unknown> | undefined
  const stagedMismatches: string[] = []
  for (let i = 0; i < 600; i++) {
    const names = committed()
    launch(names[r(names.length)])
    if (i % 50 === 25) {
      // readSync in between, checked at once
      const v = names[r(names.length)]
      const m = models.get(v)!
      const sel: Sel = [[r(40), 40], null]
      const got = norm(vf.version(v).dataset('grid').readSync(sel as any))
      const exp = norm(pick(m.grid, GRID, sel))
      if (JSON.stringify(got) !== JSON.stringify(exp)) syncMismatches.push(`${v}:grid ${JSON.stringify(sel)}`)
    }
    if (i === 100) {
      const m5 = clone(models.get('v4')!)
      v5 = vf.stageVersion('v5', async (g) => {
        await new Promise((res) => setTimeout(res, 5))
        writesOf(5, m5, g)
        await new Promise((res) => setImmediate(res))
        const staged = norm(await g.dataset('ids').read([[250, 330]]))
        if (JSON.stringify(staged) !== JSON.stringify(norm(m5.ids.slice(250, 330)))) stagedMismatches.push('v5 staged ids[250:330]')
        g.dataset('grid').write([0, 0], -1)
        m5.grid[0] = -1
      }, { prevVersion: 'v4' }).then((info) => {
        models.set('v5', m5)
        for (let j = 0; j < 50; j++) launch('v5')
        return info
      })
    }
    if (i === 200) {
      const m6 = clone(models.get('v2')!)
      v6 = vf.stageVersion('v6', async (g) => {
        await new Promise((res) => setTimeout(res, 1))
        writesOf(6, m6, g)
      }, { prevVersion: 'v2' }).then((info) => {
        models.set('v6', m6)
        for (let j = 0; j < 50; j++) launch('v6')
        return info
      })
    }
    if (i === 300) checks.push({ what: 'verify().ok', promise: vf.verify().then((rep) => rep.ok), expected: [] })
    if (i % 100 === 0) await new Promise((res) => setImmediate(res)) // let some settle meanwhile
  }
  const infos = await Promise.all([v5, v6])
  t.deepEqual(infos.map((x: any) => [x.name, x.prevVersion]), [['v5', 'v4'], ['v6', 'v2']])
  const results = await Promise.allSettled(checks.map((c) => c.promise))
  const mismatches: string[] = []
  results.forEach((res, i) => {
    const c = checks[i]
    if (c.what === 'verify().ok') {
      if (res.status !== 'fulfilled' || res.value !== true) mismatches.push(`verify() during the reads: ${res.status === 'fulfilled' ? res.value : res.reason}`)
      return
    }
    if (res.status === 'rejected') mismatches.push(`${c.what}: rejected ${(res.reason as any)?.code} ${(res.reason as any)?.message}`)
    else if (JSON.stringify(norm(res.value)) !== JSON.stringify(c.expected)) mismatches.push(`${c.what}: got ${JSON.stringify(norm(res.value)).slice(0, 200)} expected ${JSON.stringify(c.expected).slice(0, 200)}`)
  })
  t.log(`${checks.length} reads in flight (plus ${Math.floor(600 / 50)} readSync), 2 commits interleaved`)
  t.true(checks.length >= 700)
  t.deepEqual({ mismatches: mismatches.slice(0, 10), count: mismatches.length, syncMismatches, stagedMismatches }, { mismatches: [], count: 0, syncMismatches: [], stagedMismatches: [] })
  // Every version still reads whole and right after the storm.
  for (const [v, m] of models) {
    t.deepEqual(norm(await vf.version(v).dataset('grid').read()), norm(m.grid), `${v}:grid`)
    t.deepEqual(norm(await vf.version(v).dataset('ids').read()), norm(m.ids), `${v}:ids`)
    t.deepEqual(norm(await vf.version(v).dataset('names').read()), norm(m.names), `${v}:names`)
  }
  vf.close()
  done()
})

test.serial('two writable handles on one file in one process must not corrupt each other: the second open is FILE_LOCKED, or every version reads what was written', async (t) => {
  const done = objectsBaseline(t)
  const p = await small('two-handles')
  const a = open(t, p, 'a')
  await a.stageVersion('a1', (g) => g.dataset('x').write([[0, 10]], 1), { prevVersion: 'v1' })
  const second = await got(() => open(t, p, 'a'))
  if (typeof second === 'string') {
    t.is(second, 'error FILE_LOCKED')
  } else {
    const b = second as VersionedFile
    // Interleaved commits, each handle's data group state loaded before the other writes.
    await b.stageVersion('b1', (g) => g.dataset('x').write([[0, 10]], 2), { prevVersion: 'v1' })
    await a.stageVersion('a2', (g) => g.dataset('x').write([[10, 20]], 3), { prevVersion: 'v1' })
    await b.stageVersion('b2', (g) => g.dataset('x').write([[20, 30]], 4), { prevVersion: 'v1' })
    await a.stageVersion('a3', (g) => g.dataset('x').write([[30, 40]], 5), { prevVersion: 'v1' })
    b.close()
  }
  a.close()
  const vf = open(t, p, 'r')
  const expected: Record<string, string> = typeof second === 'string'
    ? { v1: data(X), a1: data(withRun(X, 0, 10, 1)) }
    : {
        v1: data(X),
        a1: data(withRun(X, 0, 10, 1)),
        b1: data(withRun(X, 0, 10, 2)),
        a2: data(withRun(X, 10, 20, 3)),
        b2: data(withRun(X, 20, 30, 4)),
        a3: data(withRun(X, 30, 40, 5)),
      }
  const actual: Record<string, unknown> = {}
  for (const v of vf.versions) actual[v] = await got(() => vf.version(v).dataset('x').read())
  t.deepEqual(actual, expected, `second open: ${typeof second === 'string' ? second : 'allowed'}`)
  const rep = await vf.verify()
  t.true(rep.ok, JSON.stringify(rep.problems))
  vf.close()
  done()
})

// ---------------------------------------------------------------------------------
// worker_threads

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const { VersionedFile, hdf5OpenObjects } = require(workerData.lib)
const { task, path } = workerData
const val = (seed, k, i) => seed * 100000 + k * 1000 + i
;(async () => {
  if (task === 'write-read') {
    // create, several commits, read every version back
    const { seed, versions } = workerData
    const vf = VersionedFile.open(path, { mode: 'w' })
    await vf.stageVersion('k0', (g) => {
      g.createDataset('x', { data: Float64Array.from({ length: 300 }, (_, i) => val(seed, 0, i)), chunks: [16] })
      g.createDataset('grp/s', { data: ['a', 'b', 'c'], chunks: [2] })
      g.attrs.set('seed', seed)
    })
    for (let k = 1; k < versions; k++) {
      await vf.stageVersion('k' + k, async (g) => {
        const d = g.dataset('x')
        d.write([[k * 7, k * 7 + 20]], Float64Array.from({ length: 20 }, (_, i) => val(seed, k, i)))
        await new Promise((r) => setImmediate(r))
        g.dataset('grp/s').write([k % 3], 'w' + k)
      })
    }
    const all = await Promise.all(vf.versions.map(async (v) => ({ x: Array.from(await vf.version(v).dataset('x').read()), s: await vf.version(v).dataset('grp/s').read(), seed: vf.version(v).attrs.get('seed') ?? null })))
    const reads = {}
    vf.versions.forEach((v, i) => { reads[v] = all[i] })
    const report = await vf.verify()
    vf.close()
    parentPort.postMessage({ versions: Object.keys(reads), reads, ok: report.ok })
  } else if (task === 'read') {
    const vf = VersionedFile.open(path, { mode: 'r' })
    const reads = {}
    for (let round = 0; round < (workerData.rounds || 1); round++) {
      const all = await Promise.all(vf.versions.map(async (v) => Array.from(await vf.version(v).dataset('x').read())))
      vf.versions.forEach((v, i) => { reads[v] = all[i] })
    }
    vf.close()
    parentPort.postMessage({ reads })
  } else if (task === 'open-and-commit') {
    // open for writing (the main thread may hold the file) and commit once
    let vf
    try { vf = VersionedFile.open(path, { mode: 'a' }) } catch (e) { parentPort.postMessage({ open: 'error ' + e.code }); return }
    await vf.stageVersion(workerData.name, (g) => g.dataset('x').write([[workerData.start, workerData.stop]], workerData.value), { prevVersion: 'v1' })
    vf.close()
    parentPort.postMessage({ open: 'opened' })
  } else if (task === 'leave-open') {
    const vf = VersionedFile.open(path, { mode: 'a' })
    await vf.stageVersion('w', (g) => g.dataset('x').write([[0, 10]], 77))
    await vf.version('w').dataset('x').read()
    parentPort.postMessage({ objects: hdf5OpenObjects() })
    // exits without close()
  } else if (task === 'busy') {
    const vf = VersionedFile.open(path, { mode: 'w' })
    await vf.stageVersion('b0', (g) => void g.createDataset('x', { data: Float64Array.from({ length: 200000 }, (_, i) => i), chunks: [1000] }))
    parentPort.postMessage('ready')
    for (let i = 1; ; i++) {
      const ps = []
      for (let k = 0; k < 10; k++) ps.push(vf.version('b0').dataset('x').read())
      ps.push(vf.stageVersion('b' + i, (g) => g.dataset('x').write([[0, 100000]], i)))
      await Promise.all(ps)
    }
  }
})().catch((e) => parentPort.postMessage({ error: e.code, message: e.message, stack: e.stack }))
`

function runWorker<T = any>(workerData: Record<string, unknown>): Promise<T> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { lib: LIB, ...workerData } })
    let result: any
    w.once('message', (m) => {
      result = m
    })
    w.once('error', reject)
    w.once('exit', (code) => {
      if (result === undefined) reject(new Error(`worker exited with ${code} without a result`))
      else if (result.error) reject(Object.assign(new Error(`${result.error}: ${result.message}\n${result.stack}`), { code: result.error }))
      else resolve(result)
    })
  })
}

/** What the 'write-read' worker task must read back for `seed`. */
function expectedWriteRead(seed: number, versions: number) {
  const val = (k: number, i: number) => seed * 100000 + k * 1000 + i
  const reads: Record<string, { x: number[]; s: string[]; seed: number | null }> = {}
  let x = Array.from({ length: 300 }, (_, i) => val(0, i))
  let s = ['a', 'b', 'c']
  reads.k0 = { x, s, seed }
  for (let k = 1; k < versions; k++) {
    x = [...x]
    for (let i = 0; i < 20; i++) x[k * 7 + i] = val(k, i)
    s = [...s]
    s[k % 3] = `w${k}`
    reads[`k${k}`] = { x, s, seed: null } // version attributes are not inherited
  }
  return reads
}

test.serial('inside a Worker: open, stage, commit and read; the main thread then reads the same data', async (t) => {
  const done = objectsBaseline(t)
  const p = tmpFile('worker')
  const res = await runWorker({ task: 'write-read', path: p, seed: 3, versions: 6 })
  const exp = expectedWriteRead(3, 6)
  t.deepEqual(res.versions.sort(), Object.keys(exp).sort())
  t.deepEqual(res.reads, exp)
  t.true(res.ok)
  const vf = open(t, p, 'r')
  for (const [v, e] of Object.entries(exp)) {
    t.deepEqual(nums(await vf.version(v).dataset('x').read()), e.x, v)
    t.deepEqual(await vf.version(v).dataset('grp/s').read(), e.s, v)
  }
  vf.close()
  // h5py agrees (an independent reader of what the worker wrote)
  t.deepEqual(py<number[]>(`import h5py, sys, json; f = h5py.File(sys.argv[1], 'r'); print(json.dumps(f['_version_data/versions/k5/x'][:].tolist()))`, p), exp.k5.x)
  done()
})

test.serial('two Workers at the same time, each with its own file, while the main thread works on a third', async (t) => {
  const done = objectsBaseline(t)
  const [p1, p2, p3] = [tmpFile('w1'), tmpFile('w2'), tmpFile('w3')]
  const main = (async () => {
    const vf = VersionedFile.open(p3, { mode: 'w' })
    await vf.stageVersion('m0', (g) => void g.createDataset('x', { data: X, chunks: [10] }))
    for (let k = 1; k <= 10; k++) await vf.stageVersion(`m${k}`, (g) => g.dataset('x').write([k], -k))
    const last = nums(await vf.version('m10').dataset('x').read())
    vf.close()
    return last
  })()
  const [r1, r2, last] = await Promise.all([
    runWorker({ task: 'write-read', path: p1, seed: 1, versions: 12 }),
    runWorker({ task: 'write-read', path: p2, seed: 2, versions: 12 }),
    main,
  ])
  t.deepEqual(r1.reads, expectedWriteRead(1, 12))
  t.deepEqual(r2.reads, expectedWriteRead(2, 12))
  t.true(r1.ok && r2.ok)
  t.deepEqual(last, Array.from(X, (v, i) => (i >= 1 && i <= 10 ? -i : v)))
  for (const [p, seed] of [[p1, 1], [p2, 2]] as const) {
    const vf = open(t, p, 'r')
    t.deepEqual(nums(await vf.version('k11').dataset('x').read()), expectedWriteRead(seed, 12).k11.x)
    t.true((await vf.verify()).ok)
    vf.close()
  }
  done()
})

test.serial('a Worker reads a file the main thread wrote, also while the main thread reads it at the same time', async (t) => {
  const done = objectsBaseline(t)
  const p = tmpFile('shared-read')
  const expected: Record<string, number[]> = {}
  const vf = VersionedFile.open(p, { mode: 'w' })
  let cur = X
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: X, chunks: [10] }))
  expected.v1 = Array.from(cur)
  for (let k = 2; k <= 8; k++) {
    cur = withRun(cur, k * 9, k * 9 + 12, k)
    const w = cur
    await vf.stageVersion(`v${k}`, (g) => g.dataset('x').write([[k * 9, k * 9 + 12]], k))
    expected[`v${k}`] = Array.from(w)
  }
  vf.close()
  // The worker alone
  t.deepEqual((await runWorker({ task: 'read', path: p })).reads, expected)
  // The worker and the main thread, both read-only, at the same time
  const mine = open(t, p, 'r')
  const mainReads = (async () => {
    const out: Record<string, number[]> = {}
    for (let round = 0; round < 20; round++) {
      await Promise.all(mine.versions.map(async (v) => {
        out[v] = nums(await mine.version(v).dataset('x').read())
      }))
    }
    return out
  })()
  const [w, m] = await Promise.all([runWorker({ task: 'read', path: p, rounds: 20 }), mainReads])
  t.deepEqual(w.reads, expected)
  t.deepEqual(m, expected)
  mine.close()
  done()
})

test.serial('the main thread holds the file for writing: a Worker opening it for writing is FILE_LOCKED, or the two writers do not corrupt each other', async (t) => {
  const done = objectsBaseline(t)
  const p = await small('worker-vs-main')
  const vf = open(t, p, 'a')
  await vf.stageVersion('m1', (g) => g.dataset('x').write([[0, 10]], 1), { prevVersion: 'v1' }) // loads this handle's storage state
  const res = await runWorker({ task: 'open-and-commit', path: p, name: 'w1', start: 10, stop: 20, value: 2 })
  t.true(res.open === 'opened' || res.open === 'error FILE_LOCKED', res.open)
  await vf.stageVersion('m2', (g) => g.dataset('x').write([[20, 30]], 3), { prevVersion: 'v1' })
  vf.close()
  const r = open(t, p, 'r')
  const expected: Record<string, string> = {
    v1: data(X),
    m1: data(withRun(X, 0, 10, 1)),
    m2: data(withRun(X, 20, 30, 3)),
  }
  if (res.open === 'opened') expected.w1 = data(withRun(X, 10, 20, 2))
  const actual: Record<string, unknown> = {}
  for (const v of r.versions) actual[v] = await got(() => r.version(v).dataset('x').read())
  t.deepEqual(actual, expected, `the worker's open: ${res.open}`)
  r.close()
  done()
})

test.serial('a Worker that exits without close() releases its HDF5 objects and its lock: the main thread opens the file for writing', async (t) => {
  const done = objectsBaseline(t)
  const p = await small('worker-leaves')
  const res = await runWorker({ task: 'leave-open', path: p })
  t.true(res.objects > 0, 'the worker had the file open')
  await new Promise((r) => setTimeout(r, 100))
  t.is(hdf5OpenObjects(), done.count, "the worker's objects were released when it exited")
  const vf = open(t, p, 'a')
  t.is(await got(() => vf.version('w').dataset('x').read()), data(withRun(X, 0, 10, 77)))
  await vf.stageVersion('after', (g) => g.dataset('x').write([99], 1))
  vf.close()
  done()
})

test.serial('terminating a Worker in the middle of reads and commits: the process lives, no HDF5 object stays open, and the file holds only whole versions', async (t) => {
  t.timeout(120_000)
  const done = objectsBaseline(t)
  for (let round = 0; round < 4; round++) {
    const p = tmpFile('terminated')
    const w = new Worker(WORKER, { eval: true, workerData: { lib: LIB, task: 'busy', path: p } })
    const errors: unknown[] = []
    w.on('error', (e) => errors.push(e))
    await new Promise((resolve) => w.once('message', resolve))
    await new Promise((r) => setTimeout(r, 30 + round * 40))
    await w.terminate()
    await new Promise((r) => setTimeout(r, 50))
    t.deepEqual(errors, [], `round ${round}: the worker raised no error`)
    t.is(hdf5OpenObjects(), done.count, `round ${round}: nothing left open`)
    const vf = open(t, p, 'a')
    const rep = await vf.verify()
    t.true(rep.ok, `round ${round}: ${JSON.stringify(rep.problems)}`)
    const names = vf.versions
    t.true(names.length >= 1 && names[0] === 'b0', `round ${round}: ${names}`)
    for (const v of names) {
      const i = v === 'b0' ? 0 : Number(v.slice(1))
      const head = nums(await vf.version(v).dataset('x').read([[0, 3]]))
      t.deepEqual(head, i === 0 ? [0, 1, 2] : [i, i, i], `round ${round}: ${v}`)
    }
    await vf.stageVersion('after', (g) => g.dataset('x').write([0], -1))
    vf.close()
  }
  done()
})
