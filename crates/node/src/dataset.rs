//! `Dataset`: a dataset of a committed version (read-only) or of a version being
//! staged (writable), over one [`vh5::View`]. Bulk reads run on the libuv thread pool.

use napi::bindgen_prelude::*;
use napi::{Env, Task, UnknownRef};

use crate::attributes::Attributes;
use crate::convert::{
    data_input, direct_kind, output, scalar_to_js, selection_arg, ArrayBufferSink, DataInput,
    DataOutput, Scalar, SelectionArg, TargetSink,
};
use crate::guard::{guard, guard_engine, invalid, Arg, Out};

/// A read's result: converted from the engine's buffer, or a typed array the engine
/// filled in place (`Dataset::read_at_once`).
type ReadOutput = Either<DataOutput, Unknown<'static>>;

/// An n-dimensional dataset. Data crosses as typed arrays in C order
/// (`BigInt64Array`/`BigUint64Array` for 64-bit integers, `Uint8Array` of 0/1 for bool).
#[napi]
pub struct Dataset {
    view: vh5::View,
    path: String,
    meta: vh5::DatasetMeta,
}

impl Dataset {
    pub(crate) fn new(view: vh5::View, path: String, meta: vh5::DatasetMeta) -> Self {
        Dataset { view, path, meta }
    }

    /// A committed dataset's selection read straight into a new JS typed array, when
    /// the engine can answer at once from its read cache (see `read`) and the stored
    /// bytes are the array's elements; `None` otherwise.
    fn read_at_once(&self, env: &Env, sel: &[vh5::AxisSel]) -> Option<Out<Unknown<'static>>> {
        let kind = direct_kind(&self.meta.dtype)?;
        let mut sink = ArrayBufferSink::new(env);
        let res = self
            .view
            .read_cached_into(&self.path, sel, AT_ONCE_MAX_BYTES, &mut sink)?;
        Some(match res {
            Ok(()) => sink
                .typed_array(kind, self.meta.dtype.size())
                .map_err(Into::into),
            Err(e) => Err(e.into()),
        })
    }

    /// The off-thread read of `sel`.
    fn read_task(&self, sel: vh5::Result<Vec<vh5::AxisSel>>) -> ReadTask {
        ReadTask {
            view: self.view.clone(),
            path: self.path.clone(),
            dtype: self.meta.dtype.clone(),
            sel,
        }
    }

    /// Appends `data` (see `_append`); returns whether the staged version is past
    /// its memory budget now.
    fn append_now(&mut self, data: DataInput, axis: Option<f64>, raw: bool) -> Out<bool> {
        let stage = self.stage()?.clone();
        let meta = self.current_meta()?;
        let axis = vh5::host::append_axis(meta.shape.len(), axis)?;
        self.meta = if raw {
            if !data.is_typedarray()? {
                return Err(invalid("raw rows must be a Buffer or typed array").into());
            }
            // SAFETY: the value was just checked to be a typed array.
            let ta: TypedArray = unsafe { data.cast() }?;
            stage.append_raw(&self.path, axis, &ta.arraybuffer)?
        } else {
            let (data, _) = data_input(data, Some(&meta.dtype))?;
            match data.bytes() {
                Some(bytes) => stage.append_raw(&self.path, axis, bytes),
                None => stage.append(&self.path, axis, &data.into_values()),
            }?
        };
        Ok(stage.over_budget())
    }

    fn current_meta(&self) -> vh5::Result<vh5::DatasetMeta> {
        self.view.dataset_meta(&self.path, &self.meta)
    }

    /// The staged version, or `READ_ONLY` for a committed dataset.
    fn stage(&self) -> vh5::Result<&vh5::StagedVersion> {
        self.view.stage(&format!("'{}'", self.path))
    }
}

/// A promise settled at once with `res` (an error rejects it, with its code).
fn settled<'env, T: ToNapiValue>(env: &'env Env, res: Out<T>) -> Out<PromiseRaw<'env, T>> {
    Ok(match res {
        Ok(v) => PromiseRaw::resolve(env, v)?,
        Err(e) => PromiseRaw::reject(env, e.into_js(env))?,
    })
}

/// Largest result `read` may produce on the event loop (from the read cache alone):
/// bounds how long it holds the loop (a copy of 1 MiB: tens of microseconds).
const AT_ONCE_MAX_BYTES: usize = 1 << 20;

/// Writes chunks of a staged version ahead of its commit, off the event loop (see
/// `Dataset._append`).
pub struct SpillTask {
    stage: vh5::StagedVersion,
}

impl Task for SpillTask {
    type Output = vh5::Result<()>;
    type JsValue = ();

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(guard_engine(|| self.stage.spill()))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<()> {
        guard(&env, || Ok(output?))
    }
}

/// Reads a selection off the event loop.
pub struct ReadTask {
    view: vh5::View,
    path: String,
    dtype: vh5::Dtype,
    sel: vh5::Result<Vec<vh5::AxisSel>>,
}

impl Task for ReadTask {
    type Output = vh5::Result<vh5::ReadData>;
    type JsValue = DataOutput;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(guard_engine(|| match &self.sel {
            Ok(sel) => self.view.read_data(&self.path, sel),
            Err(e) => Err(e.clone()),
        }))
    }

    fn resolve(&mut self, env: Env, result: Self::Output) -> Result<Self::JsValue> {
        guard(&env, || Ok(output(result?, &self.dtype)))
    }
}

/// Reads a selection off the event loop, then copies it into the caller's typed array
/// (held by a reference meanwhile) back on the JS thread.
pub struct ReadIntoTask {
    read: ReadTask,
    target: Option<UnknownRef>,
}

impl Task for ReadIntoTask {
    type Output = vh5::Result<vh5::ReadData>;
    type JsValue = f64;

    fn compute(&mut self) -> Result<Self::Output> {
        self.read.compute()
    }

    fn resolve(&mut self, env: Env, result: Self::Output) -> Result<f64> {
        guard(&env, || {
            let data = result?;
            let Some(target) = &self.target else {
                return Err(crate::guard::invalid("readInto: the target is gone").into());
            };
            let target = target.get_value(&env)?;
            // The array may have been detached or shrunk (a resizable buffer) meanwhile:
            // the sink checks it again.
            let mut sink = TargetSink::new(&env, target.raw(), &self.read.dtype)?;
            vh5::view::fill_sink(data, &mut sink)?;
            Ok(sink.written() as f64)
        })
    }

    fn finally(mut self, env: Env) -> Result<()> {
        guard(&env, || match self.target.take() {
            Some(t) => Ok(t.unref(&env)?),
            None => Ok(()),
        })
    }
}

#[napi]
impl Dataset {
    /// Path of the dataset inside its version.
    #[napi(getter)]
    pub fn path(&self, env: &Env) -> Result<String> {
        guard(env, || Ok(self.path.clone()))
    }

    /// Shape (one entry per axis).
    #[napi(getter)]
    pub fn shape(&self, env: &Env) -> Result<Vec<f64>> {
        guard(env, || {
            Ok(self
                .current_meta()?
                .shape
                .iter()
                .map(|&d| d as f64)
                .collect())
        })
    }

    /// Number of axes.
    #[napi(getter)]
    pub fn ndim(&self, env: &Env) -> Result<u32> {
        guard(env, || Ok(self.meta.shape.len() as u32))
    }

    /// Number of elements (the product of the shape).
    #[napi(getter)]
    pub fn size(&self, env: &Env) -> Result<f64> {
        guard(env, || {
            let m = self.current_meta()?;
            Ok(m.shape.iter().map(|&d| d as f64).product())
        })
    }

    /// Element type: `'float64'`, `'int32'`, `'bool'`, `'float16'`, `'string'`
    /// (variable-length UTF-8), `'ascii'`, `'S20'` (fixed-length bytes),
    /// `'utf8[20]'`, or `'compound{a:int32,b:float64}'`.
    #[napi(getter)]
    pub fn dtype(&self, env: &Env) -> Result<String> {
        guard(env, || Ok(self.meta.dtype.name()))
    }

    /// Chunk shape.
    #[napi(getter)]
    pub fn chunks(&self, env: &Env) -> Result<Vec<f64>> {
        guard(env, || {
            Ok(self.meta.chunks.iter().map(|&d| d as f64).collect())
        })
    }

    /// Fill value: what unwritten elements read as (`null` for compound datasets).
    #[napi(getter, ts_return_type = "number | bigint | boolean | string | null")]
    pub fn fill_value(&self, env: &Env) -> Result<Option<Scalar>> {
        guard(env, || {
            Ok(vh5::values::scalar(&self.meta.fill, &self.meta.dtype).map(scalar_to_js))
        })
    }

    /// gzip level when the compression is gzip, else `null`.
    #[napi(getter)]
    pub fn compression_level(&self, env: &Env) -> Result<Option<u32>> {
        guard(env, || {
            Ok(match self.meta.filters.compression {
                vh5::Compression::Gzip(l) => Some(l),
                _ => None,
            })
        })
    }

    /// Whether the stored chunks use the shuffle filter.
    #[napi(getter)]
    pub fn shuffle(&self, env: &Env) -> Result<bool> {
        guard(env, || Ok(self.meta.filters.shuffle))
    }

    /// Whether the stored chunks carry Fletcher-32 checksums.
    #[napi(getter)]
    pub fn fletcher32(&self, env: &Env) -> Result<bool> {
        guard(env, || Ok(self.meta.filters.fletcher32))
    }

    /// Compression of the stored chunks: `'gzip'`, `'lzf'`, or `null`.
    #[napi(getter)]
    pub fn compression(&self, env: &Env) -> Result<Option<String>> {
        guard(env, || {
            Ok(match self.meta.filters.compression {
                vh5::Compression::None => None,
                vh5::Compression::Gzip(_) => Some("gzip".into()),
                vh5::Compression::Lzf => Some("lzf".into()),
                vh5::Compression::Other(id) => Some(format!("filter-{id}")),
            })
        })
    }

    /// The dataset's attributes (writable only while staging).
    #[napi(getter)]
    pub fn attrs(&self, env: &Env) -> Result<Attributes> {
        guard(env, || {
            Ok(Attributes::new(self.view.clone(), self.path.clone()))
        })
    }

    /// Reads the whole dataset or a selection: one entry per axis, each an index, `null`
    /// (whole axis), `[start, stop]`, `[start, stop, step]` or `{ start, stop, step }`.
    /// Runs off the event loop, except when the answer is at hand: a committed
    /// dataset read before, a result of at most 1 MiB whose chunks are all in the
    /// file's read cache, and the file not busy with another call. Then the promise is
    /// settled at once (no thread hop), as fast as `readSync`. In TypeScript, name the
    /// array kind the dataset's dtype gives: `await ds.read<Float64Array>()`.
    #[napi(
        ts_args_type = "selection?: Selection",
        ts_generic_types = "T extends ReadResult = ReadResult",
        ts_return_type = "Promise<T>"
    )]
    pub fn read<'env>(
        &self,
        env: &'env Env,
        selection_: SelectionArg,
    ) -> Result<Either<AsyncTask<ReadTask>, PromiseRaw<'env, ReadOutput>>> {
        guard(env, || {
            let sel = selection_arg(env, selection_)?;
            if let Ok(s) = &sel {
                if let Some(res) = self.read_at_once(env, s) {
                    return Ok(Either::B(settled(env, res.map(Either::B))?));
                }
                if let Some(res) = self.view.read_cached(&self.path, s, AT_ONCE_MAX_BYTES) {
                    let res = res.map(|data| Either::A(output(data, &self.meta.dtype)));
                    return Ok(Either::B(settled(env, res.map_err(Into::into))?));
                }
            }
            Ok(Either::A(AsyncTask::new(self.read_task(sel))))
        })
    }

    /// Synchronous twin of `read`.
    #[napi(
        ts_args_type = "selection?: Selection",
        ts_generic_types = "T extends ReadResult = ReadResult",
        ts_return_type = "T"
    )]
    pub fn read_sync(&self, env: &Env, selection_: SelectionArg) -> Result<ReadOutput> {
        guard(env, || {
            let sel = selection_arg(env, selection_)??;
            if let Some(res) = self.read_at_once(env, &sel) {
                return res.map(Either::B);
            }
            Ok(Either::A(output(
                self.view.read_data(&self.path, &sel)?,
                &self.meta.dtype,
            )))
        })
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
        ts_args_type = "target: NumericArray, selection?: Selection",
        ts_return_type = "Promise<number>"
    )]
    pub fn read_into<'env>(
        &self,
        env: &'env Env,
        target: Unknown<'env>,
        selection_: SelectionArg,
    ) -> Result<Either<AsyncTask<ReadIntoTask>, PromiseRaw<'env, f64>>> {
        guard(env, || {
            let sel = selection_arg(env, selection_)?;
            let sink = TargetSink::new(env, target.raw(), &self.meta.dtype);
            let (sel, mut sink) = match (sel, sink) {
                (Ok(sel), Ok(sink)) => (sel, sink),
                (Err(e), _) | (_, Err(e)) => return Ok(Either::B(settled(env, Err(e.into()))?)),
            };
            if let Some(res) =
                self.view
                    .read_cached_into(&self.path, &sel, AT_ONCE_MAX_BYTES, &mut sink)
            {
                let res = res.map(|()| sink.written() as f64);
                return Ok(Either::B(settled(env, res.map_err(Into::into))?));
            }
            Ok(Either::A(AsyncTask::new(ReadIntoTask {
                read: self.read_task(Ok(sel)),
                // Keeps the array alive until the task's `finally`.
                target: Some(target.create_ref()?),
            })))
        })
    }

    /// Synchronous twin of `readInto`: returns the number of elements written.
    #[napi(ts_args_type = "target: NumericArray, selection?: Selection")]
    pub fn read_into_sync(
        &self,
        env: &Env,
        target: Unknown,
        selection_: SelectionArg,
    ) -> Result<f64> {
        guard(env, || {
            let sel = selection_arg(env, selection_)??;
            let mut sink = TargetSink::new(env, target.raw(), &self.meta.dtype)?;
            self.view.read_into(&self.path, &sel, &mut sink)?;
            Ok(sink.written() as f64)
        })
    }

    /// Appends rows to a staged dataset (used by `append` and `writable`, index.js):
    /// `data` is whole hyperplanes along `axis` in C order; with `raw`, a typed
    /// array's bytes are taken as elements of the dataset's dtype (a `Buffer` from a
    /// byte stream). Resolves once the data is in: at once, or after chunks were
    /// written ahead of the commit when the staged version went past its memory
    /// budget. Not part of the public typings.
    #[napi(js_name = "_append", skip_typescript)]
    pub fn append_rows<'env>(
        &mut self,
        env: &'env Env,
        data: DataInput,
        axis: Option<f64>,
        raw: Option<bool>,
    ) -> Result<Either<AsyncTask<SpillTask>, PromiseRaw<'env, ()>>> {
        guard(env, || {
            let res = self.append_now(data, axis, raw.unwrap_or(false));
            match res {
                Ok(true) => Ok(Either::A(AsyncTask::new(SpillTask {
                    stage: self.stage()?.clone(),
                }))),
                Ok(false) => Ok(Either::B(settled(env, Ok(()))?)),
                Err(e) => Ok(Either::B(settled(env, Err(e))?)),
            }
        })
    }

    /// Writes `data` into a selection (same forms as `read`); a single value is
    /// broadcast. Only while staging; a committed dataset throws `READ_ONLY`. When
    /// the staged version goes past its memory budget (`stageVersion`'s
    /// `memoryBudget`), chunks are written to the file before `write` returns.
    #[napi(
        ts_args_type = "selection: Selection | null | undefined, data: number | bigint | boolean | string | ArrayLike<number | bigint | boolean> | string[] | NumericArray"
    )]
    pub fn write(&self, env: &Env, selection_: SelectionArg, data: DataInput) -> Result<()> {
        guard(env, || {
            let sel = selection_arg(env, selection_)?;
            let stage = self.stage()?;
            let sel = sel?;
            let (data, _) = data_input(data, Some(&self.meta.dtype))?;
            match data.bytes() {
                Some(bytes) => stage.write_raw(&self.path, &sel, bytes),
                None => stage.write(&self.path, &sel, &data.into_values()),
            }?;
            if stage.over_budget() {
                stage.spill()?;
            }
            Ok(())
        })
    }

    /// Changes the shape while staging, as h5py's `resize`: `resize([rows, cols])`,
    /// `resize(n)` for 1-D, or `resize(n, { axis })` for one axis (negative counts
    /// from the end). Existing elements keep their coordinates; new ones read as the
    /// fill value. A committed dataset throws `READ_ONLY`.
    #[napi]
    pub fn resize(
        &mut self,
        env: &Env,
        #[napi(ts_arg_type = "number | number[]")] size: Arg<Either<f64, Vec<f64>>>,
        #[napi(ts_arg_type = "ResizeOptions")] options: Option<Arg<ResizeOptions>>,
    ) -> Result<()> {
        guard(env, || {
            let stage = self.stage()?.clone();
            let current = self.current_meta()?.shape;
            let size = match size.0 {
                Either::A(n) => vh5::host::Size::One(n),
                Either::B(v) => vh5::host::Size::Shape(v),
            };
            let shape = vh5::host::resized_shape(&current, size, options.and_then(|o| o.0.axis))?;
            self.meta = stage.resize(&self.path, &shape)?;
            if stage.over_budget() {
                stage.spill()?;
            }
            Ok(())
        })
    }
}

/// Options of `Dataset.resize`.
#[napi(object, object_to_js = false)]
pub struct ResizeOptions {
    /// Resize only this axis (negative counts from the end); `size` is then a number.
    pub axis: Option<f64>,
}
