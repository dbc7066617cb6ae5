// The package entries: the ES module entry exports exactly what the CommonJS one does
// (its name list is written out, since Node cannot read the names of index.js), and
// VersionedFile is disposable.
import test from 'ava'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import { VersionedFile } from '../index.js'
import { tmpFile } from './helpers.js'

const ROOT = join(__dirname, '..')

test('index.mjs exports every public name index.js exports, the same objects, and the module as default', async (t) => {
  const cjs = createRequire(__filename)(join(ROOT, 'index.js'))
  const esm = await import(pathToFileURL(join(ROOT, 'index.mjs')).href)
  const open = Object.keys(cjs).filter((k) => !k.startsWith('_'))
  t.deepEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), open.sort())
  for (const k of open) t.is(esm[k], cjs[k], k)
  t.is(esm.default, cjs)
})

test('VersionedFile[Symbol.dispose] closes the file, and again is a no-op', (t) => {
  const vf = VersionedFile.open(tmpFile('dispose'), { mode: 'w' })
  vf[Symbol.dispose]()
  t.true(vf.closed)
  t.notThrows(() => vf[Symbol.dispose]())
  const e = t.throws(() => vf.history())
  t.is((e as NodeJS.ErrnoException).code, 'FILE_CLOSED')
})

test('`using` closes the file at the end of the block, also when the block throws', (t) => {
  const path = tmpFile('using')
  let kept: VersionedFile | undefined
  {
    using vf = VersionedFile.open(path, { mode: 'w' })
    kept = vf
    t.false(vf.closed)
  }
  t.true(kept.closed)
  t.throws(() => {
    using vf = VersionedFile.open(path, { mode: 'r' })
    kept = vf
    throw new Error('inside')
  }, { message: 'inside' })
  t.true(kept.closed)
})
