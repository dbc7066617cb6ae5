// Types of the package entry: the napi-generated declarations (binding.d.ts) plus
// what index.js adds in JavaScript (stageVersion, Dataset's append, writable and
// readBlocks), and the error codes.
import type { NumericArray, ReadResult, StagedGroup, StageOptions, VersionInfo } from './binding'

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

declare global {
  namespace NodeJS {
    /**
     * Node's writable stream (what `stream.pipeline` writes to): the full interface
     * when `@types/node` is installed, which this declaration merges with; the
     * package's typings need no `@types/node` otherwise.
     */
    interface WritableStream {}
  }
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
     * Wakes when the writer's commits file changes (`fs.watch`, no work while nothing
     * is committed) and polls every `intervalMs` (default 100 ms) besides. Ends when
     * `signal` aborts or the handle closes. `INVALID_ARGUMENT` on a writable handle.
     */
    watch(options?: WatchOptions): AsyncIterableIterator<VersionInfo>
  }

  interface Dataset {
    /**
     * Appends rows to a staged dataset, new or inherited (a dataset may be created
     * empty, `shape: [0, …]`, to be appended to): whole hyperplanes along
     * `options.axis` (default 0; negative counts from the end), C order, of the
     * dataset's dtype, as `write` takes them (strings as `string[]`). An async
     * iterable of such pieces is appended piece by piece. Resolves once the data is
     * in: at once, or, when the staged version is past its memory budget
     * (`stageVersion`'s `memoryBudget`), after chunks were written to the file ahead
     * of the commit. Awaiting it is the backpressure. A committed dataset rejects
     * with `READ_ONLY`; data that is not whole hyperplanes with `SHAPE_MISMATCH`.
     */
    append(data: AppendData | AsyncIterable<AppendData>, options?: AppendOptions): Promise<void>
    /**
     * A `stream.Writable` (object mode) that appends each piece written to it, as
     * `append` does: typed arrays or `string[]` of whole rows, or `Buffer`s holding
     * whole rows of elements in the dataset's layout (little-endian). It takes the next
     * piece once the one before is in, so `await pipeline(source, ds.writable())`
     * inside a builder ingests a stream in bounded memory.
     */
    writable(options?: WritableOptions): NodeJS.WritableStream
    /**
     * Reads the dataset block by block along axis 0: `options.rows` rows at a time
     * (default: the chunk rows), from `start` (default 0) to `stop` (default: all).
     * Memory stays bounded by about two blocks (one is read ahead) plus the file's
     * read cache, whatever the size of the dataset. Works on committed and staged
     * datasets.
     */
    readBlocks<T extends ReadResult = ReadResult>(options?: ReadBlocksOptions): AsyncGenerator<T, void, undefined>
    /** Synchronous twin of `readBlocks`. */
    readBlocksSync<T extends ReadResult = ReadResult>(options?: ReadBlocksOptions): Generator<T, void, undefined>
  }
}

/** One piece of rows for `Dataset.append`. */
export type AppendData = ArrayLike<number | bigint | boolean> | string[] | NumericArray

/** Options of `Dataset.append`. */
export interface AppendOptions {
  /** The axis to append along (default 0; negative counts from the end). */
  axis?: number
}

/** Options of `Dataset.writable`. */
export interface WritableOptions extends AppendOptions {
  /** Pieces the stream buffers before it signals backpressure (default 1). */
  highWaterMark?: number
}

/** Options of `Dataset.readBlocks` and `readBlocksSync`. */
export interface ReadBlocksOptions {
  /** Rows per block along axis 0 (default: the dataset's chunk rows). */
  rows?: number
  /** First row (default 0). */
  start?: number
  /** End row, exclusive (default: the dataset's length). */
  stop?: number
}

/** Options of `VersionedFile.watch`. */
export interface WatchOptions {
  /** Ends the iteration when aborted (an `AbortSignal`, as `AbortController` gives). */
  signal?: WatchSignal
  /** How often the writer's commit counter is read besides change events, in milliseconds (default 100). */
  intervalMs?: number
}

/** What `watch()` uses of an `AbortSignal` (declared here so that the typings need no DOM or Node types). */
export interface WatchSignal {
  readonly aborted: boolean
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}
