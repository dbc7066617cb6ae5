//! History maintenance on `VersionedFile`: `diff` and the rewrites of history
//! (`deleteVersions`, `modifyMetadata`, `compact`).
//! Each is an `AsyncTask`: the engine call runs off the event loop.

use napi::bindgen_prelude::*;
use napi::{Env, Task};

use crate::convert::{output, scalar_from_js, scalar_to_js, DataOutput, Scalar};
use crate::guard::{guard, guard_engine, Arg};
use crate::versioned_file::VersionedFile;

/// Options of `diff`.
#[napi(object, object_to_js = false)]
pub struct DiffOptions {
    /// Only datasets at this path or below it (a dataset or a group path).
    pub path: Option<String>,
    /// Also read each region's elements in both versions (default `false`).
    pub data: Option<bool>,
}

/// A box of a dataset whose elements may differ between the two versions.
#[napi(object, object_from_js = false)]
pub struct DiffRegion {
    /// Per axis `[start, stop]` (stop exclusive), chunk-aligned at the start, clipped
    /// to the larger shape: usable as a read selection.
    #[napi(ts_type = "Array<[number, number]>")]
    pub r#box: Vec<Vec<f64>>,
    /// With `{ data: true }`: the first version's elements of the box (clipped to its
    /// shape), `null` when the box lies outside it or the dataset is not there.
    #[napi(ts_type = "TypedArray | string[] | Record<string, TypedArray | string[]> | null")]
    pub old: Option<Option<DataOutput>>,
    /// With `{ data: true }`: the second version's elements, likewise.
    #[napi(ts_type = "TypedArray | string[] | Record<string, TypedArray | string[]> | null")]
    pub new: Option<Option<DataOutput>>,
}

/// One dataset that differs between two versions.
#[napi(object, object_from_js = false)]
pub struct DatasetDiff {
    /// Dataset path.
    pub path: String,
    /// `'added'` (only in the second version), `'removed'` (only in the first) or
    /// `'changed'`.
    #[napi(ts_type = "'added' | 'removed' | 'changed'")]
    pub status: String,
    /// Shape in the first version (`null` when added).
    pub old_shape: Option<Vec<f64>>,
    /// Shape in the second version (`null` when removed).
    pub new_shape: Option<Vec<f64>>,
    /// Element type in the first version (`null` when added).
    pub old_dtype: Option<String>,
    /// Element type in the second version (`null` when removed).
    pub new_dtype: Option<String>,
    /// Fill value in the first version (absent for compound datasets).
    #[napi(ts_type = "number | bigint | boolean | string")]
    pub old_fill_value: Option<Scalar>,
    /// Fill value in the second version.
    #[napi(ts_type = "number | bigint | boolean | string")]
    pub new_fill_value: Option<Scalar>,
    /// Chunk shape in the first version.
    pub old_chunks: Option<Vec<f64>>,
    /// Chunk shape in the second version.
    pub new_chunks: Option<Vec<f64>>,
    /// Whether the shape differs (both present).
    pub shape_changed: bool,
    /// Whether the dtype differs (both present).
    pub dtype_changed: bool,
    /// Whether the fill value differs (both present).
    pub fill_value_changed: bool,
    /// Whether the chunk shape differs (both present).
    pub chunks_changed: bool,
    /// Names of user attributes added, removed or changed (for an added or removed
    /// dataset: all of its attributes), sorted.
    pub attrs: Vec<String>,
    /// Boxes whose elements may differ; none differ outside them. An added or
    /// removed dataset is one box, the whole dataset.
    pub regions: Vec<DiffRegion>,
}

fn dims(v: &[u64]) -> Vec<f64> {
    v.iter().map(|&d| d as f64).collect()
}

fn convert(d: vh5::DatasetDiff) -> DatasetDiff {
    let both = d.old.as_ref().zip(d.new.as_ref());
    let changed = |f: &dyn Fn(&vh5::DatasetMeta, &vh5::DatasetMeta) -> bool| {
        both.is_some_and(|(a, b)| f(a, b))
    };
    let fill = |m: &Option<vh5::DatasetMeta>| {
        m.as_ref()
            .and_then(|m| vh5::values::scalar(&m.fill, &m.dtype).map(scalar_to_js))
    };
    let old_dtype = d.old.as_ref().map(|m| m.dtype.clone());
    let new_dtype = d.new.as_ref().map(|m| m.dtype.clone());
    DatasetDiff {
        shape_changed: changed(&|a, b| a.shape != b.shape),
        dtype_changed: changed(&|a, b| a.dtype != b.dtype),
        fill_value_changed: changed(&|a, b| a.fill != b.fill),
        chunks_changed: changed(&|a, b| a.chunks != b.chunks),
        old_fill_value: fill(&d.old),
        new_fill_value: fill(&d.new),
        old_shape: d.old.as_ref().map(|m| dims(&m.shape)),
        new_shape: d.new.as_ref().map(|m| dims(&m.shape)),
        old_chunks: d.old.as_ref().map(|m| dims(&m.chunks)),
        new_chunks: d.new.as_ref().map(|m| dims(&m.chunks)),
        old_dtype: old_dtype.as_ref().map(|t| t.name()),
        new_dtype: new_dtype.as_ref().map(|t| t.name()),
        path: d.path,
        status: d.status.name().to_string(),
        attrs: d.attrs,
        regions: d
            .regions
            .into_iter()
            .map(|r| {
                let data = r.old.is_some() || r.new.is_some();
                let conv = |x: Option<vh5::ReadData>, t: &Option<vh5::Dtype>| {
                    x.zip(t.as_ref()).map(|(x, t)| output(x, t))
                };
                DiffRegion {
                    r#box: r
                        .bbox
                        .iter()
                        .map(|[s, e]| vec![*s as f64, *e as f64])
                        .collect(),
                    old: data.then(|| conv(r.old, &old_dtype)),
                    new: data.then(|| conv(r.new, &new_dtype)),
                }
            })
            .collect(),
    }
}

/// Runs `diff` off the event loop.
pub struct DiffTask {
    file: vh5::VersionedFile,
    a: String,
    b: String,
    opts: vh5::DiffOptions,
}

impl Task for DiffTask {
    type Output = vh5::Result<Vec<vh5::DatasetDiff>>;
    type JsValue = Vec<DatasetDiff>;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(guard_engine(|| {
            self.file.diff(&self.a, &self.b, &self.opts)
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        guard(&env, || Ok(output?.into_iter().map(convert).collect()))
    }
}

#[napi]
impl VersionedFile {
    /// The datasets that differ between committed versions `a` and `b`, sorted by
    /// path, found from the versions' chunk maps (a chunk in the same slot, or in slots
    /// of the same hash, is unchanged): no data is read unless `{ data: true }` asks
    /// for each region's elements. `VERSION_NOT_FOUND` for an unknown version.
    #[napi(ts_return_type = "Promise<DatasetDiff[]>")]
    pub fn diff(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] a: Arg<String>,
        #[napi(ts_arg_type = "string")] b: Arg<String>,
        #[napi(ts_arg_type = "DiffOptions")] options: Option<Arg<DiffOptions>>,
    ) -> Result<AsyncTask<DiffTask>> {
        guard(env, || {
            let o = options.map(|o| o.0);
            Ok(AsyncTask::new(DiffTask {
                file: self.inner.clone(),
                a: a.0,
                b: b.0,
                opts: vh5::DiffOptions {
                    path: o.as_ref().and_then(|o| o.path.clone()),
                    data: o.and_then(|o| o.data).unwrap_or(false),
                },
            }))
        })
    }
}

/// A history rewrite, given the engine's progress callback (if any).
type RewriteJob = Box<dyn FnOnce(Option<vh5::Progress>) -> vh5::Result<()> + Send>;

/// Runs a history rewrite off the event loop.
pub struct RewriteTask {
    job: Option<RewriteJob>,
    progress: Option<ProgressRelay>,
}

impl Task for RewriteTask {
    type Output = vh5::Result<()>;
    type JsValue = ();

    fn compute(&mut self) -> Result<Self::Output> {
        let job = self.job.take();
        Ok(with_progress(&self.progress, |p| match job {
            Some(j) => j(p),
            None => Ok(()),
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<()> {
        self.progress = None;
        guard(&env, || Ok(output?))
    }
}

#[napi]
impl VersionedFile {
    /// Deletes one version or several, as Python versioned-hdf5's `delete_versions`,
    /// in one atomic transaction (a crash or an I/O error leaves the file as before).
    /// Children of a deleted version get its nearest surviving ancestor as parent, and
    /// so does the current version; chunks only deleted versions used leave the file's
    /// `raw_data` (the file itself shrinks with `compact()`). `INVALID_ARGUMENT` for
    /// `'__first_version__'`, `VERSION_NOT_FOUND` for an unknown name, `READ_ONLY` for
    /// a file opened with mode `'r'`.
    /// `onProgress` is called as it goes (see `DeleteOptions`).
    #[napi(
        ts_args_type = "names: string | string[], options?: DeleteOptions",
        ts_return_type = "Promise<void>"
    )]
    pub fn delete_versions(
        &self,
        env: &Env,
        names: Arg<Either<String, Vec<String>>>,
        options: Option<Unknown>,
    ) -> Result<AsyncTask<RewriteTask>> {
        guard(env, || {
            let names = match names.0 {
                Either::A(n) => vec![n],
                Either::B(v) => v,
            };
            let progress = progress_option(options, "deleteVersions")?;
            let file = self.inner.clone();
            Ok(AsyncTask::new(RewriteTask {
                job: Some(Box::new(move |p| {
                    file.delete_versions_with_progress(&names, p)
                })),
                progress,
            }))
        })
    }
}

/// Progress of a long call (`compact`, `deleteVersions`, `verify`), passed to its
/// `onProgress` on the event loop; every report has been passed before the call's
/// promise settles.
#[napi(object)]
pub struct Progress {
    /// Steps done so far.
    pub done: f64,
    /// Steps in all (`verify` raises it once, when it has counted the chunks to check).
    pub total: f64,
}

/// Options of `compact`.
#[napi(object, object_to_js = false)]
#[allow(
    dead_code,
    reason = "the TypeScript type of compact's options; read from the object by `progress_option`"
)]
pub struct CompactOptions {
    /// Called (on the event loop) after each object copied.
    #[napi(ts_type = "(progress: Progress) => void")]
    pub on_progress: Option<Unknown<'static>>,
}

/// Options of `deleteVersions`.
#[napi(object, object_to_js = false)]
#[allow(
    dead_code,
    reason = "the TypeScript type of deleteVersions' options; read from the object by `progress_option`"
)]
pub struct DeleteOptions {
    /// Called (on the event loop) as the deletion goes: after each slot kept of a
    /// rewritten dataset, each version dataset rewritten, each path and version
    /// removed, and the final flush.
    #[napi(ts_type = "(progress: Progress) => void")]
    pub on_progress: Option<Unknown<'static>>,
}

/// A JavaScript `onProgress`, callable from the libhdf5 worker thread.
pub(crate) type ProgressFn =
    napi::threadsafe_function::ThreadsafeFunction<Progress, (), Progress, Status, false>;

/// The `onProgress` of one call, fed from the libhdf5 worker. Each report is queued to
/// the event loop without waiting (the worker never blocks on JavaScript), except the
/// latest, which is held back until the next one comes or the call ends; then
/// [`with_progress`] delivers it and waits until `onProgress` has run, so every report
/// reaches JavaScript before the call's promise settles.
pub(crate) struct ProgressRelay {
    f: std::sync::Arc<ProgressFn>,
    held: std::sync::Arc<std::sync::Mutex<Option<(u64, u64)>>>,
}

fn progress_value((done, total): (u64, u64)) -> Progress {
    Progress {
        done: done as f64,
        total: total as f64,
    }
}

impl ProgressRelay {
    /// The engine's progress callback.
    fn engine(&self) -> vh5::Progress {
        let (f, held) = (self.f.clone(), self.held.clone());
        Box::new(move |done, total| {
            let mut h = held.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(prev) = h.replace((done, total)) {
                f.call(
                    progress_value(prev),
                    napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking,
                );
            }
        })
    }

    /// Delivers the report held back and waits until `onProgress` has returned. Runs on
    /// the thread pool's thread after the engine call, holding no lock, so the event
    /// loop is free to run it; a loop that stops (the environment going away) ends the
    /// wait when the queued call is dropped, a loop busy for more than a minute when
    /// the wait times out (that report then comes after the promise settles).
    fn finish(&self) {
        let last = self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(last) = last else {
            return;
        };
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let status = self.f.call_with_return_value(
            progress_value(last),
            napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking,
            move |_, _| {
                let _ = tx.send(());
                Ok(())
            },
        );
        if status == Status::Ok {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(60));
        }
    }
}

/// Runs an engine call with the relay's progress callback (if any), then delivers its
/// last report (see [`ProgressRelay`]).
pub(crate) fn with_progress<T>(
    relay: &Option<ProgressRelay>,
    call: impl FnOnce(Option<vh5::Progress>) -> vh5::Result<T>,
) -> vh5::Result<T> {
    let out = guard_engine(|| call(relay.as_ref().map(ProgressRelay::engine)));
    if let Some(r) = relay {
        r.finish();
    }
    out
}

/// The `onProgress` function of an options object (`undefined` and `null` allowed
/// for both), as a relay; `INVALID_ARGUMENT` naming `call` otherwise.
pub(crate) fn progress_option(
    options: Option<Unknown>,
    call: &str,
) -> crate::guard::Out<Option<ProgressRelay>> {
    let Some(o) = options else {
        return Ok(None);
    };
    match o.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::Object => {
            // SAFETY: the value was just checked to be an object.
            let obj: Object = unsafe { o.cast() }?;
            let f: Unknown = obj.get_named_property("onProgress")?;
            match f.get_type()? {
                ValueType::Undefined | ValueType::Null => Ok(None),
                ValueType::Function => {
                    // SAFETY: the value was just checked to be a function.
                    let func: Function<Progress, ()> = unsafe { f.cast() }?;
                    let tsfn: ProgressFn = func
                        .build_threadsafe_function()
                        .callee_handled::<false>()
                        .build()?;
                    Ok(Some(ProgressRelay {
                        f: std::sync::Arc::new(tsfn),
                        held: Default::default(),
                    }))
                }
                _ => Err(crate::guard::invalid(format!(
                    "{call}(options): onProgress must be a function"
                ))
                .into()),
            }
        }
        _ => Err(crate::guard::invalid(format!(
            "{call}(options): options must be an object such as {{ onProgress }}"
        ))
        .into()),
    }
}

/// What `compact` did.
#[napi(object)]
pub struct CompactResult {
    /// The file's size before, in bytes.
    pub bytes_before: f64,
    /// Its size after.
    pub bytes_after: f64,
}

/// Runs `compact` off the event loop.
pub struct CompactTask {
    file: vh5::VersionedFile,
    progress: Option<ProgressRelay>,
}

impl Task for CompactTask {
    type Output = vh5::Result<vh5::CompactStats>;
    type JsValue = CompactResult;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(with_progress(&self.progress, |p| self.file.compact(p)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        self.progress = None;
        guard(&env, || {
            let s = output?;
            Ok(CompactResult {
                bytes_before: s.bytes_before as f64,
                bytes_after: s.bytes_after as f64,
            })
        })
    }
}

#[napi]
impl VersionedFile {
    /// Rewrites the file to about the size of its live data (libhdf5 never gives
    /// freed space back): every object is copied into a sibling file, which is then
    /// renamed over this one. A crash leaves the old file or the new one, each
    /// complete. After `deleteVersions`, no byte of the deleted versions remains in
    /// the file. `onProgress` is called after each object copied.
    #[napi(
        ts_args_type = "options?: CompactOptions",
        ts_return_type = "Promise<CompactResult>"
    )]
    pub fn compact(&self, env: &Env, options: Option<Unknown>) -> Result<AsyncTask<CompactTask>> {
        guard(env, || {
            let progress = progress_option(options, "compact")?;
            Ok(AsyncTask::new(CompactTask {
                file: self.inner.clone(),
                progress,
            }))
        })
    }
}

/// Options of `modifyMetadata`: what to change; a setting left out stays as it is.
#[napi(object, object_to_js = false)]
pub struct ModifyMetadataOptions {
    /// New chunk shape, one positive entry per axis: every version is rechunked.
    pub chunks: Option<Vec<f64>>,
    /// `'gzip'`, `'lzf'` or `'none'` (removes compression).
    pub compression: Option<String>,
    /// gzip level 0–9 (default 4 with `compression: 'gzip'`).
    pub compression_level: Option<f64>,
    /// Byte-shuffle before compressing.
    pub shuffle: Option<bool>,
    /// Fletcher-32 checksums on stored chunks.
    pub fletcher32: Option<bool>,
    /// New fill value: every element equal to the old fill value (stored or not)
    /// takes it, as in Python's `modify_metadata`.
    #[napi(ts_type = "number | bigint | boolean | string")]
    pub fill_value: Option<Scalar>,
    /// New element type; only casts that keep every value are allowed (README
    /// "Maintaining history"), others are `INVALID_ARGUMENT`.
    pub dtype: Option<String>,
}

#[napi]
impl VersionedFile {
    /// Changes the chunk shape, filters, fill value or dtype of the dataset at `path`
    /// in every version holding it, as Python versioned-hdf5's `modify_metadata`, in
    /// one atomic transaction (a crash or an I/O error leaves the file as before).
    /// Data is unchanged except for the dtype cast and, with a new `fillValue`,
    /// elements equal to the old fill value; attributes are kept. `NOT_FOUND` when no
    /// version has the dataset; `INVALID_ARGUMENT` for a group, nothing to change, bad
    /// chunks or a cast that could change values; `READ_ONLY` for mode `'r'`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn modify_metadata(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
        #[napi(ts_arg_type = "ModifyMetadataOptions")] options: Arg<ModifyMetadataOptions>,
    ) -> Result<AsyncTask<RewriteTask>> {
        guard(env, || {
            let o = options.0;
            let change = vh5::MetadataChange {
                chunks: o
                    .chunks
                    .as_deref()
                    .map(|c| vh5::host::dims(c, "chunks"))
                    .transpose()?,
                dtype: o.dtype.as_deref().map(vh5::Dtype::parse).transpose()?,
                fill: o.fill_value.map(scalar_from_js),
                compression: o.compression,
                compression_level: o.compression_level,
                shuffle: o.shuffle,
                fletcher32: o.fletcher32,
            };
            let file = self.inner.clone();
            let path = path.0;
            Ok(AsyncTask::new(RewriteTask {
                // No progress of its own (a file-wide rewrite of one dataset path).
                job: Some(Box::new(move |_| file.modify_metadata(&path, &change))),
                progress: None,
            }))
        })
    }
}
