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

// `using vf = VersionedFile.open(…)` closes the file at the end of the block.
binding.VersionedFile.prototype[Symbol.dispose] = function dispose() {
  if (!this.closed) this.close()
}

module.exports = binding
