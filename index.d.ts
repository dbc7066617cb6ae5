// Types of the package entry: the napi-generated declarations (binding.d.ts) plus
// stageVersion, which index.js adds in JavaScript, and the error codes.
import type { StagedGroup, StageOptions, VersionInfo } from './binding'

export * from './binding'

/** Stable codes carried by every error this library throws (`err.code`). */
export type ErrorCode =
  | 'VERSION_NOT_FOUND' | 'VERSION_EXISTS' | 'NO_VERSION_AT_TIME' | 'INVALID_ARGUMENT'
  | 'SHAPE_MISMATCH' | 'OUT_OF_BOUNDS' | 'DTYPE_MISMATCH' | 'UNSUPPORTED_DTYPE' | 'NOT_FOUND'
  | 'ALREADY_EXISTS' | 'INCOMPATIBLE_DATASET' | 'READ_ONLY' | 'FILE_CLOSED' | 'FILE_LOCKED'
  | 'NOT_VERSIONED_FILE' | 'UNSUPPORTED_FORMAT' | 'CORRUPT_FILE' | 'FILE_NOT_FOUND'
  | 'FILE_EXISTS' | 'NO_SPACE' | 'IO_ERROR' | 'PERMISSION_DENIED' | 'HDF5_ERROR'
  | 'INTERNAL_ERROR'

/** Every error code this library throws. */
export declare function errorCodes(): ErrorCode[]

/** An error thrown by this library. */
export interface VersionedHdf5Error extends Error {
  code: ErrorCode
}

declare module './binding' {
  interface VersionedFile {
    /**
     * Closes the file unless it is closed already, so that
     * `using vf = VersionedFile.open(path)` closes it at the end of the block
     * (TypeScript: `lib` with `esnext.disposable`, or `@types/node`).
     */
    [Symbol.dispose](): void
    /**
     * Stages version `name` over `options.prevVersion` (default: the current version):
     * calls `builder` with the version's root group, then commits off the event loop.
     * If the builder throws (or rejects), nothing is committed, the name stays free,
     * and the error is rethrown. What it returns is awaited and otherwise ignored.
     */
    stageVersion(
      name: string,
      builder: (group: StagedGroup) => unknown,
      options?: StageOptions,
    ): Promise<VersionInfo>
    /**
     * A read-only handle's view of commits by other processes: one `VersionInfo` per
     * new commit, in commit order, each taken in with `refresh()` before it is yielded.
     * Polls every `intervalMs` (default 2 ms). Ends when `signal` aborts or the handle
     * closes. `INVALID_ARGUMENT` on a writable handle.
     */
    watch(options?: WatchOptions): AsyncIterableIterator<VersionInfo>
  }
}

/** Options of `VersionedFile.watch`. */
export interface WatchOptions {
  /** Ends the iteration when aborted (an `AbortSignal`, as `AbortController` gives). */
  signal?: WatchSignal
  /** How often the writer's commit counter is read, in milliseconds (default 2). */
  intervalMs?: number
}

/** What `watch()` uses of an `AbortSignal` (declared here so that the typings need no DOM or Node types). */
export interface WatchSignal {
  readonly aborted: boolean
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}
