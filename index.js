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

/**
 * Watches a read-only handle for commits of other processes: an async iterable of
 * `VersionInfo`, one per new commit, in commit order. Each step refreshes the handle
 * (`refresh()`), so `versions` and lookups include the version yielded. Polls the
 * writer's commit counter every `intervalMs` (default 2 ms; one read of a small file
 * each time). Ends when `signal` aborts or the handle is closed.
 */
binding.VersionedFile.prototype.watch = function watch(options) {
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw codeError('INVALID_ARGUMENT', 'watch(options): options must be an object such as { signal, intervalMs }')
  }
  const { signal, intervalMs = 2 } = options ?? {}
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
  const pause = () =>
    new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, intervalMs)
      signal?.addEventListener('abort', done, { once: true })
    })
  const info = (name) => {
    const v = file.version(name)
    return { name: v.name, prevVersion: v.prevVersion, timestamp: v.timestamp, timestampMicros: v.timestampMicros }
  }
  return (async function* watching() {
    const queue = []
    for (;;) {
      if (signal?.aborted || file.closed) return
      if (queue.length > 0) {
        yield queue.shift()
        continue
      }
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
  })()
}

// `using vf = VersionedFile.open(…)` closes the file at the end of the block.
binding.VersionedFile.prototype[Symbol.dispose] = function dispose() {
  if (!this.closed) this.close()
}

module.exports = binding
