'use strict'
// The package entry: the napi-generated binding (binding.js), plus the one piece that
// needs JavaScript semantics — stageVersion awaits a user builder that may be async —
// and a uniform error contract: argument-conversion errors raised by the binding
// layer get code INVALID_ARGUMENT like the engine's own argument errors.

const binding = require('./binding.js')

const CONVERSION_STATUSES = new Set([
  'InvalidArg', 'ObjectExpected', 'StringExpected', 'NameExpected', 'FunctionExpected',
  'NumberExpected', 'BooleanExpected', 'ArrayExpected', 'GenericFailure', 'BigintExpected',
  'DateExpected', 'ArrayBufferExpected', 'DetachableArraybufferExpected',
])

function normalise(err) {
  if (err && typeof err === 'object' && (CONVERSION_STATUSES.has(err.code) || (err instanceof TypeError && err.code === undefined))) {
    err.code = 'INVALID_ARGUMENT'
  }
  return err
}

/** Throws INVALID_ARGUMENT for a Date that holds no time (new Date(NaN)). */
function checkDate(value, what) {
  if (value instanceof Date && Number.isNaN(value.getTime())) {
    throw codeError('INVALID_ARGUMENT', `${what} is an invalid Date`)
  }
}

/** `out`, with a rejected promise's error normalised too. */
function settle(out) {
  return out && typeof out.then === 'function' ? out.catch((e) => { throw normalise(e) }) : out
}

function guard(fn) {
  return function guarded(...args) {
    try {
      return settle(fn.apply(this, args))
    } catch (e) {
      throw normalise(e)
    }
  }
}

/**
 * `guard` for the Dataset methods that take a selection (see `packSelection`), as
 * argument `at`: `read(selection)`, `readSync(selection)`, `write(selection, data)`,
 * `readInto(target, selection)`, `readIntoSync(target, selection)`.
 */
function guardSelection(fn, at) {
  return function guarded(a, b) {
    try {
      return settle(at === 0 ? fn.call(this, packSelection(a), b) : fn.call(this, a, packSelection(b)))
    } catch (e) {
      throw normalise(e)
    }
  }
}

const SELECTION_AT = new Map([['read', 0], ['readSync', 0], ['write', 0], ['readInto', 1], ['readIntoSync', 1]])

function wrap(className, key, fn) {
  const at = className === 'Dataset' ? SELECTION_AT.get(key) : undefined
  return at === undefined ? guard(fn) : guardSelection(fn, at)
}

for (const name of ['VersionedFile', 'Version', 'Group', 'Dataset', 'StagedGroup', 'StagedVersion', 'Attributes']) {
  const cls = binding[name]
  for (const target of [cls.prototype, cls]) {
    for (const key of Object.getOwnPropertyNames(target)) {
      if (key === 'constructor' || key === 'prototype' || key === 'length' || key === 'name') continue
      const d = Object.getOwnPropertyDescriptor(target, key)
      if (typeof d.value === 'function') {
        d.value = wrap(name, key, d.value)
      }
      if (typeof d.get === 'function') d.get = guard(d.get)
      if (typeof d.set === 'function') d.set = guard(d.set)
      if (d.configurable) Object.defineProperty(target, key, d)
    }
  }
}

function codeError(code, message) {
  const e = new Error(message)
  e.code = code
  return e
}

/**
 * Stages a version: calls `builder(group)` (which may be async) with the new version's
 * root group, then commits. If the builder throws, nothing is committed and the error
 * is rethrown.
 */
binding.VersionedFile.prototype.stageVersion = async function stageVersion(name, builder, options) {
  if (typeof builder !== 'function') {
    throw codeError('INVALID_ARGUMENT', 'stageVersion(name, builder, options): builder must be a function receiving the version group')
  }
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw codeError('INVALID_ARGUMENT', 'stageVersion(name, builder, options): options must be an object such as { prevVersion, makeCurrent, timestamp }')
  }
  if (options) checkDate(options.timestamp, 'options.timestamp')
  const staged = this._beginStage(name, options)
  const id = staged.root._stageId
  try {
    await builder(staged.root)
    checkHeld(holds.get(id))
  } catch (err) {
    staged.abort()
    throw err
  } finally {
    holds.delete(id)
  }
  return staged.commit()
}

// Typed arrays given to createDataset are held without a copy and read at commit
// (README "Performance"): a buffer transferred or detached meanwhile must not be read.
const holds = new Map() // staged version id → [[view, byteLength], …]
const createDataset = binding.StagedGroup.prototype.createDataset
binding.StagedGroup.prototype.createDataset = function (path, options) {
  const out = createDataset.call(this, path, options)
  const data = options && typeof options === 'object' ? options.data : undefined
  if (ArrayBuffer.isView(data) && data.byteLength > 0) {
    const id = this._stageId
    let list = holds.get(id)
    if (!list) holds.set(id, (list = []))
    list.push([data, data.byteLength])
  }
  return out
}

function checkHeld(list) {
  for (const [view, byteLength] of list ?? []) {
    if (view.byteLength !== byteLength) {
      throw codeError('INVALID_ARGUMENT', `the typed array given to createDataset was detached or transferred (it had ${byteLength} bytes, it has ${view.byteLength}) before the version was committed: keep it until stageVersion settles, or pass a copy (data.slice())`)
    }
  }
}

// Index lists given as arrays of numbers cross into the binding as Float64Arrays: one
// copy in JavaScript instead of one N-API call per element. Anything else (strings,
// holes) is passed on as it is, for the binding to refuse.
function packNumbers(list) {
  const n = list.length
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const v = list[i]
    if (typeof v !== 'number') return list
    out[i] = v
  }
  return out
}

function packSelection(selection) {
  if (!Array.isArray(selection)) return selection
  let out = selection
  for (let i = 0; i < selection.length; i++) {
    const axis = selection[i]
    if (axis === null || typeof axis !== 'object' || Array.isArray(axis) || !Array.isArray(axis.indices)) continue
    const packed = packNumbers(axis.indices)
    if (packed === axis.indices) continue
    if (out === selection) out = selection.slice()
    out[i] = { ...axis, indices: packed }
  }
  return out
}

const versionAt = binding.VersionedFile.prototype.versionAt
binding.VersionedFile.prototype.versionAt = function (time, options) {
  checkDate(time, 'versionAt(time)')
  return versionAt.call(this, time, options)
}

// `using vf = VersionedFile.open(…)` closes the file at the end of the block.
binding.VersionedFile.prototype[Symbol.dispose] = function dispose() {
  if (!this.closed) this.close()
}

module.exports = binding
