// The public typings are a reviewed artifact: index.d.ts and the generated binding.d.ts
// are snapshotted (a change to either fails here until the snapshot is updated with
// `npx ava __test__/typings.spec.ts --update-snapshots`, and the diff of
// __test__/typings.spec.ts.md shows it in review); internals stay out of them;
// the ErrorCode union is exactly what errorCodes() returns.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { errorCodes } from '../index.js'

const root = join(__dirname, '..')
const read = (f: string) => readFileSync(join(root, f), 'utf8')

test('index.d.ts and binding.d.ts match their snapshots', (t) => {
  t.snapshot(read('index.d.ts'), 'index.d.ts')
  t.snapshot(read('binding.d.ts'), 'binding.d.ts')
})

test('the ErrorCode union lists exactly the codes errorCodes() returns', (t) => {
  const union = /export type ErrorCode =([^;]*?)\n\n/s.exec(read('index.d.ts'))
  t.truthy(union, 'index.d.ts declares ErrorCode')
  const listed = [...union![1].matchAll(/'([A-Z0-9_]+)'/g)].map((m) => m[1])
  t.deepEqual([...listed].sort(), [...errorCodes()].sort())
})

test('the public typings name no internals', (t) => {
  const dts = read('binding.d.ts') + read('index.d.ts')
  t.notRegex(dts, /\bJs[A-Z]\w*/, 'no Js* aliases of the Rust struct names')
  t.notRegex(dts, /\bStagedVersion\b/, 'the staging handle stageVersion uses is internal')
  t.notRegex(dts, /^\s*(export declare function |get |static )?_\w+\(/m, 'no _-prefixed internals')
  t.regex(read('binding.d.ts'), /group\(path: string\): Group\n/, 'Version.group() returns Group')
})
