'use strict'
// The package entry: the napi-generated binding (binding.js) plus the one piece that
// needs JavaScript semantics, stageVersion, which awaits a builder that may be async.
// Everything else (error codes, argument checks, the check of typed arrays
// createDataset holds) lives in the binding.

const binding = require('./binding.js')

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
  const root = this._beginStage(name, options)
  try {
    await builder(root)
  } catch (err) {
    root._abort()
    throw err
  }
  return root._commit()
}

// Appending and streaming (README "Streams larger than memory"): the binding's
// `_append` takes one piece and resolves once it is in (after chunks were written
// ahead of the commit when the staged version is past its memory budget); these add
// what needs JavaScript: async iterables, a stream.Writable, block-wise reads.

function isAsyncIterable(x) {
  return x !== null && typeof x === 'object' && typeof x[Symbol.asyncIterator] === 'function'
}

function axisOf(options, method) {
  if (options === undefined || options === null) return undefined
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw codeError('INVALID_ARGUMENT', `${method}(…, options): options must be an object such as { axis: 0 }`)
  }
  return options.axis
}

binding.Dataset.prototype.append = async function append(data, options) {
  const axis = axisOf(options, 'append')
  if (isAsyncIterable(data)) {
    for await (const piece of data) await this._append(piece, axis)
    return
  }
  return this._append(data, axis)
}

binding.Dataset.prototype.writable = function writable(options) {
  const axis = axisOf(options, 'writable')
  const { Writable } = require('node:stream')
  const ds = this
  return new Writable({
    objectMode: true,
    // Backpressure: one piece waits while the one before is taken in.
    highWaterMark: options?.highWaterMark || 1,
    write(piece, _encoding, done) {
      // Bytes from a byte stream are elements of the dataset's dtype.
      const raw = Buffer.isBuffer(piece)
      ds._append(piece, axis, raw).then(() => done(), done)
    },
  })
}

function blockBounds(ds, options, method) {
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw codeError('INVALID_ARGUMENT', `${method}(options): options must be an object such as { rows: 65536 }`)
  }
  const o = options || {}
  const total = ds.shape[0]
  const rows = o.rows === undefined ? ds.chunks[0] : o.rows
  if (!Number.isSafeInteger(rows) || rows < 1) {
    throw codeError('INVALID_ARGUMENT', `${method}: rows must be a whole number of at least 1, got ${rows}`)
  }
  const start = o.start === undefined ? 0 : o.start
  const stop = o.stop === undefined ? total : Math.min(o.stop, total)
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(stop) || stop < 0) {
    throw codeError('INVALID_ARGUMENT', `${method}: start and stop must be whole numbers of at least 0`)
  }
  return { rows, start, stop }
}

// The array kind `read` returns per numeric dtype: blocks are read into arrays made
// here (readInto), whose memory the JS engine counts, so that the garbage collector
// frees blocks the caller dropped even in a tight synchronous loop.
const BLOCK_ARRAYS = {
  float64: Float64Array, float32: Float32Array, int8: Int8Array, int16: Int16Array, int32: Int32Array,
  int64: BigInt64Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array,
  bool: Uint8Array,
}

function blockReader(ds) {
  const Kind = BLOCK_ARRAYS[ds.dtype]
  const plane = ds.shape.slice(1).reduce((a, b) => a * b, 1)
  if (!Kind) return { read: (a, b) => ds.read([[a, b]]), readSync: (a, b) => ds.readSync([[a, b]]) }
  return {
    read: (a, b) => {
      const out = new Kind((b - a) * plane)
      return ds.readInto(out, [[a, b]]).then(() => out)
    },
    readSync: (a, b) => {
      const out = new Kind((b - a) * plane)
      ds.readIntoSync(out, [[a, b]])
      return out
    },
  }
}

binding.Dataset.prototype.readBlocks = async function* readBlocks(options) {
  const { rows, start, stop } = blockBounds(this, options, 'readBlocks')
  const r = blockReader(this)
  // One block is read ahead while the caller handles the one before.
  let next = start < stop ? r.read(start, Math.min(start + rows, stop)) : null
  for (let at = start; at < stop; at += rows) {
    const block = await next
    const after = at + rows
    next = after < stop ? r.read(after, Math.min(after + rows, stop)) : null
    yield block
  }
}

binding.Dataset.prototype.readBlocksSync = function* readBlocksSync(options) {
  const { rows, start, stop } = blockBounds(this, options, 'readBlocksSync')
  const r = blockReader(this)
  for (let at = start; at < stop; at += rows) yield r.readSync(at, Math.min(at + rows, stop))
}

/**
 * Watches a read-only handle for commits of other processes: an async iterable of
 * `VersionInfo`, one per new commit, in commit order. Each step refreshes the handle
 * (`refresh()`), so `versions` and lookups include the version yielded. It wakes when
 * the writer's commits file (`<file>.vh5-commits`, which every commit point updates)
 * changes, through `fs.watch` (inotify: no work while nothing is committed), and also
 * polls every `intervalMs` (default 100 ms) for file systems that give no change
 * events. Ends when `signal` aborts or the handle is closed.
 */
binding.VersionedFile.prototype.watch = function watch(options) {
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw codeError('INVALID_ARGUMENT', 'watch(options): options must be an object such as { signal, intervalMs }')
  }
  const { signal, intervalMs = 100 } = options ?? {}
  if (signal !== undefined && (signal === null || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')) {
    throw codeError('INVALID_ARGUMENT', 'watch(options): signal must be an AbortSignal')
  }
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs < 0) {
    throw codeError('INVALID_ARGUMENT', 'watch(options): intervalMs must be a number of milliseconds, 0 or more')
  }
  if (this.closed) throw codeError('FILE_CLOSED', 'the file is closed: open it again with VersionedFile.open')
  if (this.writable) {
    throw codeError('INVALID_ARGUMENT', "watch() is for read-only handles: a writable handle is the file's only writer and knows its own commits; open the file with { mode: 'r' } to watch it")
  }
  const file = this
  const commitsPath = `${file.path}.vh5-commits`
  const fs = require('node:fs')
  // Change events of the commits file wake the loop; `changed` keeps one that came
  // while it was busy, so none is lost between a refresh and the next wait. A commit
  // changes the file several times (its write phase starts, then ends): the events
  // of the next `SETTLE_MS` are taken as one, so a reader refreshes at most once per
  // `SETTLE_MS`, after the commit point, rather than once per event and inside the
  // write phase.
  const SETTLE_MS = 3
  let watcher = null
  let changed = false
  let wake = null
  let settling = null
  const onChange = () => {
    if (settling) return
    // No more events until the next refresh: a busy writer would otherwise wake
    // every reader several times per commit. The loop watches again before it
    // refreshes, so a commit after that refresh started still wakes it.
    watcher?.close()
    watcher = null
    settling = setTimeout(() => {
      settling = null
      changed = true
      if (wake) wake()
    }, SETTLE_MS)
  }
  const startWatching = () => {
    if (watcher) return
    try {
      watcher = fs.watch(commitsPath, { persistent: false }, onChange)
      watcher.on('error', () => {
        watcher?.close()
        watcher = null
      })
    } catch {
      // No commits file yet (no writer has opened the file), or no change events
      // here: the poll covers it, and the next wait tries again.
      watcher = null
    }
  }
  const pause = () =>
    new Promise((resolve) => {
      if (changed) {
        changed = false
        resolve()
        return
      }
      const done = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        wake = null
        changed = false
        resolve()
      }
      wake = done
      const timer = setTimeout(done, intervalMs)
      signal?.addEventListener('abort', done, { once: true })
    })
  const info = (name) => {
    const v = file.version(name)
    return { name: v.name, prevVersion: v.prevVersion, timestamp: v.timestamp, timestampMicros: v.timestampMicros }
  }
  return (async function* watching() {
    const queue = []
    try {
      for (;;) {
        if (signal?.aborted || file.closed) return
        if (queue.length > 0) {
          yield queue.shift()
          continue
        }
        startWatching()
        let names
        try {
          names = file.refresh()
        } catch (e) {
          if (e?.code === 'FILE_CLOSED') return
          throw e
        }
        for (const n of names) queue.push(info(n))
        if (names.length === 0) await pause()
      }
    } finally {
      watcher?.close()
      clearTimeout(settling)
    }
  })()
}

// `using vf = VersionedFile.open(…)` closes the file at the end of the block.
binding.VersionedFile.prototype[Symbol.dispose] = function dispose() {
  if (!this.closed) this.close()
}

module.exports = binding
