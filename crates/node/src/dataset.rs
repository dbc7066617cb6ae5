//! `Dataset`: a dataset of a committed version (read-only) or of a version being
//! staged (writable). Bulk reads run on the libuv thread pool.

use napi::bindgen_prelude::*;
use napi::{Env, Task, UnknownRef};

use crate::attributes::JsAttributes;
use crate::convert::{
    data_input, dims, direct_kind, invalid, js_err, output, scalar, selection_arg, ArrayBufferSink,
    DataInput, DataOutput, OrJs, Scalar, SelectionArg, TargetSink,
};

/// A read's result: converted from the engine's buffer, or a typed array the engine
/// filled in place (`JsDataset::read_at_once`).
type ReadOutput = Either<DataOutput, Unknown<'static>>;

#[derive(Clone)]
pub(crate) enum Source {
    Committed {
        file: vh5::VersionedFile,
        version: String,
    },
    Staged {
        stage: vh5::StagedVersion,
    },
}

/// An n-dimensional dataset. Data crosses as typed arrays in C order
/// (`BigInt64Array`/`BigUint64Array` for 64-bit integers, `Uint8Array` of 0/1 for bool).
#[napi(js_name = "Dataset")]
pub struct JsDataset {
    pub(crate) source: Source,
    pub(crate) path: String,
    pub(crate) meta: vh5::DatasetMeta,
}

impl JsDataset {
    pub(crate) fn committed(
        file: vh5::VersionedFile,
        version: String,
        path: String,
        meta: vh5::DatasetMeta,
    ) -> Self {
        JsDataset {
            source: Source::Committed { file, version },
            path,
            meta,
        }
    }

    /// A committed dataset's selection read straight into a new JS typed array, when
    /// the engine can answer at once from its read cache (see `read`) and the stored
    /// bytes are the array's elements; `None` otherwise.
    fn read_at_once(&self, env: &Env, sel: &[vh5::AxisSel]) -> Option<Result<Unknown<'static>>> {
        let Source::Committed { file, version } = &self.source else {
            return None;
        };
        let kind = direct_kind(&self.meta.dtype)?;
        let mut sink = ArrayBufferSink::new(env);
        let res = file.read_cached_into(version, &self.path, sel, AT_ONCE_MAX_BYTES, &mut sink)?;
        Some(match res {
            Ok(_) => sink.typed_array(kind, self.meta.dtype.size()),
            Err(e) => Err(js_err(env, e)),
        })
    }

    /// The off-thread read of `sel`.
    fn read_task(&self, sel: vh5::Result<Vec<vh5::AxisSel>>) -> ReadTask {
        ReadTask {
            source: self.source.clone(),
            path: self.path.clone(),
            dtype: self.meta.dtype.clone(),
            sel,
        }
    }

    fn current_meta(&self) -> vh5::Result<vh5::DatasetMeta> {
        match &self.source {
            Source::Committed { .. } => Ok(self.meta.clone()),
            Source::Staged { stage } => match stage.node(&self.path)? {
                vh5::StagedNode::Dataset(m) => Ok(m),
                vh5::StagedNode::Group => Err(vh5::Error::new(
                    vh5::ErrorKind::NotFound,
                    format!("'{}' is now a group", self.path),
                )),
            },
        }
    }
}

fn read_now(source: &Source, path: &str, sel: &[vh5::AxisSel]) -> vh5::Result<vh5::ReadData> {
    Ok(match source {
        Source::Committed { file, version } => file.read_data(version, path, sel)?.0,
        Source::Staged { stage } => stage.read_data(path, sel)?.0,
    })
}

/// Reads a selection into `sink`: from the read cache when it holds every chunk,
/// else through [`read_now`].
fn read_into_now(
    source: &Source,
    path: &str,
    sel: &[vh5::AxisSel],
    sink: &mut TargetSink,
) -> vh5::Result<()> {
    if let Source::Committed { file, version } = source {
        if let Some(res) = file.read_cached_into(version, path, sel, usize::MAX, sink) {
            return res.map(drop);
        }
    }
    fill_target(read_now(source, path, sel)?, sink)
}

/// Copies a whole read result into `sink`.
fn fill_target(data: vh5::ReadData, sink: &mut TargetSink) -> vh5::Result<()> {
    match data {
        vh5::ReadData::Raw(bytes) => sink.fill(bytes.as_bytes()),
        vh5::ReadData::Strings(_) => Err(vh5::Error::new(
            vh5::ErrorKind::DtypeMismatch,
            "a string dataset does not read into a typed array: use read()",
        )),
    }
}

/// A promise settled at once with `res` (an engine error rejects it, with its code).
fn settled<'env, T: ToNapiValue>(
    env: &'env Env,
    res: vh5::Result<T>,
) -> Result<PromiseRaw<'env, T>> {
    match res {
        Ok(v) => PromiseRaw::resolve(env, v),
        Err(e) => PromiseRaw::reject(env, js_err(env, e)),
    }
}

/// Largest result `read` may produce on the event loop (from the read cache alone):
/// bounds how long it holds the loop (a copy of 1 MiB: tens of microseconds).
const AT_ONCE_MAX_BYTES: usize = 1 << 20;

/// Reads a selection off the event loop.
pub struct ReadTask {
    source: Source,
    path: String,
    dtype: vh5::Dtype,
    sel: std::result::Result<Vec<vh5::AxisSel>, vh5::Error>,
}

impl Task for ReadTask {
    type Output = std::result::Result<vh5::ReadData, vh5::Error>;
    type JsValue = DataOutput;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(match &self.sel {
            Ok(sel) => read_now(&self.source, &self.path, sel),
            Err(e) => Err(e.clone()),
        })
    }

    fn resolve(&mut self, env: Env, result: Self::Output) -> Result<Self::JsValue> {
        match result {
            Ok(values) => Ok(output(values, &self.dtype)),
            Err(e) => Err(js_err(&env, e)),
        }
    }
}

/// Reads a selection off the event loop, then copies it into the caller's typed array
/// (held by a reference meanwhile) back on the JS thread.
pub struct ReadIntoTask {
    read: ReadTask,
    target: Option<UnknownRef>,
}

impl Task for ReadIntoTask {
    type Output = std::result::Result<vh5::ReadData, vh5::Error>;
    type JsValue = f64;

    fn compute(&mut self) -> Result<Self::Output> {
        self.read.compute()
    }

    fn resolve(&mut self, env: Env, result: Self::Output) -> Result<f64> {
        let data = result.js(&env)?;
        let Some(target) = &self.target else {
            return Err(napi::Error::from_reason("readInto: the target is gone"));
        };
        let target = target.get_value(&env)?;
        // The array may have been detached or shrunk (a resizable buffer) meanwhile:
        // the sink checks it again.
        let mut sink = TargetSink::new(&env, target.raw(), &self.read.dtype).js(&env)?;
        fill_target(data, &mut sink).js(&env)?;
        Ok(sink.written() as f64)
    }

    fn finally(mut self, env: Env) -> Result<()> {
        match self.target.take() {
            Some(t) => t.unref(&env),
            None => Ok(()),
        }
    }
}

#[napi]
impl JsDataset {
    /// Path of the dataset inside its version.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// Shape (one entry per axis).
    #[napi(getter)]
    pub fn shape(&self, env: &Env) -> Result<Vec<f64>> {
        Ok(self
            .current_meta()
            .js(env)?
            .shape
            .iter()
            .map(|&d| d as f64)
            .collect())
    }

    /// Number of axes.
    #[napi(getter)]
    pub fn ndim(&self) -> u32 {
        self.meta.shape.len() as u32
    }

    /// Number of elements (the product of the shape).
    #[napi(getter)]
    pub fn size(&self, env: &Env) -> Result<f64> {
        let m = self.current_meta().js(env)?;
        Ok(m.shape.iter().map(|&d| d as f64).product())
    }

    /// Element type: `'float64'`, `'int32'`, `'bool'`, `'float16'`, `'string'`
    /// (variable-length UTF-8), `'ascii'`, `'S20'` (fixed-length bytes),
    /// `'utf8[20]'`, or `'compound{a:int32,b:float64}'`.
    #[napi(getter)]
    pub fn dtype(&self) -> String {
        self.meta.dtype.name()
    }

    /// Chunk shape.
    #[napi(getter)]
    pub fn chunks(&self) -> Vec<f64> {
        self.meta.chunks.iter().map(|&d| d as f64).collect()
    }

    /// Fill value: what unwritten elements read as (`null` for compound datasets).
    #[napi(getter, ts_return_type = "number | bigint | boolean | string | null")]
    pub fn fill_value(&self) -> Option<Scalar> {
        scalar(&self.meta.fill, &self.meta.dtype)
    }

    /// gzip level when the compression is gzip, else `null`.
    #[napi(getter)]
    pub fn compression_level(&self) -> Option<u32> {
        match self.meta.filters.compression {
            vh5::Compression::Gzip(l) => Some(l),
            _ => None,
        }
    }

    /// Whether the stored chunks use the shuffle filter.
    #[napi(getter)]
    pub fn shuffle(&self) -> bool {
        self.meta.filters.shuffle
    }

    /// Whether the stored chunks carry Fletcher-32 checksums.
    #[napi(getter)]
    pub fn fletcher32(&self) -> bool {
        self.meta.filters.fletcher32
    }

    /// Compression of the stored chunks: `'gzip'`, `'lzf'`, or `null`.
    #[napi(getter)]
    pub fn compression(&self) -> Option<String> {
        match self.meta.filters.compression {
            vh5::Compression::None => None,
            vh5::Compression::Gzip(_) => Some("gzip".into()),
            vh5::Compression::Lzf => Some("lzf".into()),
            vh5::Compression::Other(id) => Some(format!("filter-{id}")),
        }
    }

    /// The dataset's attributes (writable only while staging).
    #[napi(getter)]
    pub fn attrs(&self) -> JsAttributes {
        match &self.source {
            Source::Committed { file, version } => {
                JsAttributes::committed(file.clone(), version.clone(), self.path.clone())
            }
            Source::Staged { stage } => JsAttributes::staged(stage.clone(), self.path.clone()),
        }
    }

    /// Reads the whole dataset or a selection: one entry per axis, each an index, `null`
    /// (whole axis), `[start, stop]`, `[start, stop, step]` or `{ start, stop, step }`.
    /// Runs off the event loop, except when the answer is at hand: a committed
    /// dataset read before, a result of at most 1 MiB whose chunks are all in the
    /// file's read cache, and the file not busy with another call. Then the promise is
    /// settled at once (no thread hop), as fast as `readSync`. In TypeScript, name the
    /// array kind the dataset's dtype gives: `await ds.read<Float64Array>()`.
    #[napi(
        ts_args_type = "selection?: Array<number | null | [number | null, number | null] | [number | null, number | null, number | null] | SliceSpec>",
        ts_generic_types = "T extends Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[] | Record<string, Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[]> = Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[] | Record<string, Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[]>",
        ts_return_type = "Promise<T>"
    )]
    pub fn read<'env>(
        &self,
        env: &'env Env,
        selection_: SelectionArg,
    ) -> Result<Either<AsyncTask<ReadTask>, PromiseRaw<'env, ReadOutput>>> {
        let sel = selection_arg(env, selection_)?;
        if let Ok(s) = &sel {
            if let Some(res) = self.read_at_once(env, s) {
                return Ok(Either::B(match res {
                    Ok(v) => PromiseRaw::resolve(env, Either::B(v))?,
                    Err(e) => PromiseRaw::reject(env, e)?,
                }));
            }
        }
        if let (Source::Committed { file, version }, Ok(s)) = (&self.source, &sel) {
            if let Some(res) = file.read_cached(version, &self.path, s, AT_ONCE_MAX_BYTES) {
                let res = res.map(|(data, _)| Either::A(output(data, &self.meta.dtype)));
                return Ok(Either::B(settled(env, res)?));
            }
        }
        Ok(Either::A(AsyncTask::new(self.read_task(sel))))
    }

    /// Synchronous twin of `read`.
    #[napi(
        ts_args_type = "selection?: Array<number | null | [number | null, number | null] | [number | null, number | null, number | null] | SliceSpec>",
        ts_generic_types = "T extends Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[] | Record<string, Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[]> = Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[] | Record<string, Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[]>",
        ts_return_type = "T"
    )]
    pub fn read_sync(&self, env: &Env, selection_: SelectionArg) -> Result<ReadOutput> {
        let sel = selection_arg(env, selection_)?.js(env)?;
        if let Some(res) = self.read_at_once(env, &sel) {
            return res.map(Either::B);
        }
        Ok(Either::A(output(
            read_now(&self.source, &self.path, &sel).js(env)?,
            &self.meta.dtype,
        )))
    }

    /// Reads a selection (same forms as `read`) into `target`, a typed array of the
    /// kind `read` returns for this dataset (`Float64Array` for float64, `Uint8Array`
    /// for bool, ...) holding at least the selection's element count; fills its first
    /// elements in C order and resolves to their number. Reusing one array for
    /// repeated reads saves allocating a result each time. Like `read`, it settles at
    /// once when the answer is in the read cache; otherwise it reads off the event
    /// loop and copies into `target` when done (keep `target` attached meanwhile).
    /// String, compound and float16 datasets are refused with `DTYPE_MISMATCH`: use
    /// `read`. A wrong target and an out-of-bounds selection reject the promise.
    #[napi(
        ts_args_type = "target: Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array, selection?: Array<number | null | [number | null, number | null] | [number | null, number | null, number | null] | SliceSpec>",
        ts_return_type = "Promise<number>"
    )]
    pub fn read_into<'env>(
        &self,
        env: &'env Env,
        target: Unknown<'env>,
        selection_: SelectionArg,
    ) -> Result<Either<AsyncTask<ReadIntoTask>, PromiseRaw<'env, f64>>> {
        let sel = selection_arg(env, selection_)?;
        let sink = TargetSink::new(env, target.raw(), &self.meta.dtype);
        let (sel, mut sink) = match (sel, sink) {
            (Ok(sel), Ok(sink)) => (sel, sink),
            (Err(e), _) | (_, Err(e)) => return Ok(Either::B(settled(env, Err(e))?)),
        };
        if let Source::Committed { file, version } = &self.source {
            if let Some(res) =
                file.read_cached_into(version, &self.path, &sel, AT_ONCE_MAX_BYTES, &mut sink)
            {
                let res = res.map(|_| sink.written() as f64);
                return Ok(Either::B(settled(env, res)?));
            }
        }
        Ok(Either::A(AsyncTask::new(ReadIntoTask {
            read: self.read_task(Ok(sel)),
            // Keeps the array alive until the task's `finally`.
            target: Some(target.create_ref()?),
        })))
    }

    /// Synchronous twin of `readInto`: returns the number of elements written.
    #[napi(
        ts_args_type = "target: Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array, selection?: Array<number | null | [number | null, number | null] | [number | null, number | null, number | null] | SliceSpec>"
    )]
    pub fn read_into_sync(
        &self,
        env: &Env,
        target: Unknown,
        selection_: SelectionArg,
    ) -> Result<f64> {
        let sel = selection_arg(env, selection_)?.js(env)?;
        let mut sink = TargetSink::new(env, target.raw(), &self.meta.dtype).js(env)?;
        read_into_now(&self.source, &self.path, &sel, &mut sink).js(env)?;
        Ok(sink.written() as f64)
    }

    /// Writes `data` into a selection (same forms as `read`); a single value is
    /// broadcast. Only while staging; a committed dataset throws `READ_ONLY`.
    #[napi(
        ts_args_type = "selection: Array<number | null | [number | null, number | null] | [number | null, number | null, number | null] | SliceSpec> | null | undefined, data: number | bigint | boolean | string | ArrayLike<number | bigint | boolean> | string[] | Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array"
    )]
    pub fn write(&self, env: &Env, selection_: SelectionArg, data: DataInput) -> Result<()> {
        let sel = selection_arg(env, selection_)?;
        match &self.source {
            Source::Committed { .. } => Err(js_err(env, self.read_only())),
            Source::Staged { stage } => {
                let sel = sel.js(env)?;
                let (data, _) = data_input(data, Some(&self.meta.dtype)).js(env)?;
                match data.bytes() {
                    Some(bytes) => stage.write_raw(&self.path, &sel, bytes),
                    None => stage.write(&self.path, &sel, &data.into_values()),
                }
                .js(env)
            }
        }
    }

    /// Changes the shape while staging, as h5py's `resize`: `resize([rows, cols])`,
    /// `resize(n)` for 1-D, or `resize(n, { axis })` for one axis (negative counts
    /// from the end). Existing elements keep their coordinates; new ones read as the
    /// fill value. A committed dataset throws `READ_ONLY`.
    #[napi(ts_args_type = "size: number | number[], options?: ResizeOptions")]
    pub fn resize(
        &mut self,
        env: &Env,
        size: Either<f64, Vec<f64>>,
        options: Option<ResizeOptions>,
    ) -> Result<()> {
        let Source::Staged { stage } = &self.source else {
            return Err(js_err(env, self.read_only()));
        };
        let current = self.current_meta().js(env)?.shape;
        let shape = new_shape(&current, size, options.and_then(|o| o.axis)).js(env)?;
        self.meta = stage.resize(&self.path, &shape).js(env)?;
        Ok(())
    }
}

/// Options of `Dataset.resize`.
#[napi(object)]
pub struct ResizeOptions {
    /// Resize only this axis (negative counts from the end); `size` is then a number.
    pub axis: Option<f64>,
}

fn new_shape(
    current: &[u64],
    size: Either<f64, Vec<f64>>,
    axis: Option<f64>,
) -> vh5::Result<Vec<u64>> {
    let rank = current.len() as i64;
    match (size, axis) {
        (Either::A(n), Some(ax)) => {
            if !ax.is_finite() || ax.fract() != 0.0 {
                return Err(invalid(format!("axis must be a whole number, got {ax}")));
            }
            let a = ax as i64;
            let idx = if a < 0 { a + rank } else { a };
            if !(0..rank).contains(&idx) {
                return Err(vh5::Error::new(
                    vh5::ErrorKind::OutOfBounds,
                    format!("axis {a} is out of bounds for a dataset of {rank} axes"),
                ));
            }
            let mut s = current.to_vec();
            s[idx as usize] = dims(&[n], "size")?[0];
            Ok(s)
        }
        (Either::B(_), Some(_)) => Err(invalid("size must be a single number when axis is given")),
        (Either::A(n), None) => dims(&[n], "size"),
        (Either::B(v), None) => dims(&v, "shape"),
    }
}

impl JsDataset {
    fn read_only(&self) -> vh5::Error {
        let version = match &self.source {
            Source::Committed { version, .. } => version.clone(),
            Source::Staged { stage } => stage.name(),
        };
        vh5::Error::new(
            vh5::ErrorKind::ReadOnly,
            format!("version '{version}' is committed and immutable: stage a new version to change '{}'", self.path),
        )
    }
}
