//! `StagedGroup`, the object a `stageVersion` builder receives (the root group of the
//! version being staged) and its subgroups; its hidden `_commit` / `_abort` end the
//! staging for `stageVersion`.
//!
//! A typed array given to `createDataset` is held without a copy and read at commit
//! (README "Performance"). The binding keeps a reference to each such array with its
//! byte length when it was given ([`HELD`]); `commit` refuses to start when one was
//! detached or transferred meanwhile (`INVALID_ARGUMENT`), and `commit` or `abort`
//! drops the references.

use std::cell::RefCell;
use std::collections::HashMap;

use napi::bindgen_prelude::*;
use napi::{Env, Task, UnknownRef};

use crate::attributes::Attributes;
use crate::convert::{
    data_input, is_scalar, scalar_from_js, typed_byte_length, want_dataset, want_group, DataInput,
    Scalar,
};
use crate::dataset::Dataset;
use crate::guard::{guard, guard_engine, invalid, Arg, Out};
use crate::versioned_file::VersionInfo;

/// Options of `createDataset`.
#[napi(object, object_to_js = false)]
pub struct CreateDatasetOptions<'a> {
    /// Initial data: a typed array, an array of numbers/bigints/booleans, or of strings
    /// (for string dtypes), C order.
    #[napi(ts_type = "ArrayLike<number | bigint | boolean> | string[] | NumericArray")]
    pub data: Option<DataInput<'a>>,
    /// Shape; may be left out for 1-D data.
    pub shape: Option<Vec<f64>>,
    /// `'float64'` (default for plain arrays), `'float32'`, `'float16'`, `'int8'`…`'int64'`,
    /// `'uint8'`…`'uint64'`, `'bool'`, `'string'` (default for `string[]`), `'ascii'`,
    /// `'S<n>'`, `'utf8[<n>]'`. Typed arrays imply their own type.
    pub dtype: Option<String>,
    /// Chunk shape; default `[4096]` for 1-D, required for more axes.
    pub chunks: Option<Vec<f64>>,
    /// Value of elements never written (default 0 / false / `''`).
    #[napi(ts_type = "number | bigint | boolean | string")]
    pub fill_value: Option<Scalar>,
    /// `'gzip'` or `'lzf'` (default none).
    pub compression: Option<String>,
    /// gzip level 0–9 (default 4).
    pub compression_level: Option<f64>,
    /// Byte-shuffle before compressing.
    pub shuffle: Option<bool>,
    /// Fletcher-32 checksums on stored chunks.
    pub fletcher32: Option<bool>,
    /// Chunk hash for a new dataset path: `'blake3'` (default) or `'sha256'` (choose it
    /// when Python will also write this dataset, so both deduplicate against each other).
    pub hash: Option<String>,
}

thread_local! {
    /// Typed arrays staged versions hold (by staged version id), with their byte
    /// lengths when `createDataset` took them. JS-thread state: each thread running JS
    /// has its own.
    static HELD: RefCell<HashMap<usize, Vec<(UnknownRef, usize)>>> = RefCell::new(HashMap::new());
}

/// Drops the references to the arrays staged version `id` holds, and checks that
/// none was detached or transferred since `createDataset` took it.
fn release_held(env: &Env, id: usize) -> Out<()> {
    let held = HELD
        .with(|h| h.borrow_mut().remove(&id))
        .unwrap_or_default();
    let mut changed = None;
    for (r, was) in held {
        let now = typed_byte_length(r.get_value(env)?);
        if now != Some(was) && changed.is_none() {
            changed = Some((was, now.unwrap_or(0)));
        }
        r.unref(env)?;
    }
    match changed {
        None => Ok(()),
        Some((was, now)) => Err(invalid(format!(
            "the typed array given to createDataset was detached or transferred (it had {was} bytes, it has {now}) before the version was committed: keep it until stageVersion settles, or pass a copy (data.slice())"
        ))
        .into()),
    }
}

/// Commits a staged version off the event loop.
pub struct CommitTask {
    stage: vh5::StagedVersion,
}

impl Task for CommitTask {
    type Output = vh5::Result<vh5::VersionInfo>;
    type JsValue = VersionInfo;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(guard_engine(|| self.stage.commit()))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        guard(&env, || Ok(output?.try_into()?))
    }
}

/// A group of the version being staged: the builder's argument, and its subgroups.
#[napi]
pub struct StagedGroup {
    stage: vh5::StagedVersion,
    path: String,
}

impl StagedGroup {
    fn full(&self, p: &str) -> String {
        if self.path.is_empty() {
            p.to_string()
        } else {
            format!("{}/{}", self.path, p)
        }
    }

    /// The root group of a version staging begins.
    pub(crate) fn root(stage: vh5::StagedVersion) -> Self {
        StagedGroup {
            stage,
            path: String::new(),
        }
    }

    fn view(&self) -> vh5::View {
        vh5::View::Staged(self.stage.clone())
    }

    fn node(&self, path: &str) -> Out<Either<Dataset, StagedGroup>> {
        let full = vh5::file::normalize_path(&self.full(path))?;
        Ok(match self.view().node(&full)? {
            vh5::Node::Group => Either::B(StagedGroup {
                stage: self.stage.clone(),
                path: full,
            }),
            vh5::Node::Dataset(meta) => Either::A(Dataset::new(self.view(), full, meta)),
        })
    }

    /// Keeps a reference to `data`, when it is a typed array (held without a copy, or
    /// converted: the rule is the same for both), and its byte length, for `commit`'s
    /// check.
    fn hold(&self, data: &DataInput) -> Out<()> {
        let Some(len) = typed_byte_length(*data) else {
            return Ok(());
        };
        if len > 0 {
            let r = data.create_ref()?;
            HELD.with(|h| {
                h.borrow_mut()
                    .entry(self.stage.id())
                    .or_default()
                    .push((r, len))
            });
        }
        Ok(())
    }
}

#[napi]
impl StagedGroup {
    /// Commits the version this group belongs to (off the event loop); used by
    /// `stageVersion` (index.js) once the builder returned. Refuses, abandoning the
    /// version, when a typed array `createDataset` holds was detached or transferred.
    /// Not part of the public typings.
    #[napi(js_name = "_commit", skip_typescript)]
    pub fn commit(&self, env: &Env) -> Result<AsyncTask<CommitTask>> {
        guard(env, || {
            if let Err(e) = release_held(env, self.stage.id()) {
                self.stage.abort();
                return Err(e);
            }
            Ok(AsyncTask::new(CommitTask {
                stage: self.stage.clone(),
            }))
        })
    }

    /// Abandons the version this group belongs to: nothing is written. Used by
    /// `stageVersion` when the builder throws; not part of the public typings.
    #[napi(js_name = "_abort", skip_typescript)]
    pub fn abort(&self, env: &Env) -> Result<()> {
        guard(env, || {
            self.stage.abort();
            // Only the references matter once the version is abandoned.
            let _ = release_held(env, self.stage.id());
            Ok(())
        })
    }

    /// Path of the group inside the version (`''` for the root).
    #[napi(getter)]
    pub fn path(&self, env: &Env) -> Result<String> {
        guard(env, || Ok(self.path.clone()))
    }

    /// Name of the version being staged.
    #[napi(getter)]
    pub fn version_name(&self, env: &Env) -> Result<String> {
        guard(env, || Ok(self.stage.name()))
    }

    /// Name of the parent version.
    #[napi(getter)]
    pub fn prev_version(&self, env: &Env) -> Result<String> {
        guard(env, || Ok(self.stage.prev_version()))
    }

    /// Attributes of this group (of the version itself at the root).
    #[napi(getter)]
    pub fn attrs(&self, env: &Env) -> Result<Attributes> {
        guard(env, || Ok(Attributes::new(self.view(), self.path.clone())))
    }

    /// Creates a dataset (nested paths create groups). Re-creating a path replaces the
    /// dataset in this version; its chunks, dtype, fill value and filters must match
    /// what the file already has for that path. A typed array given as `data` is kept
    /// without a copy until the version is committed or abandoned, and read then:
    /// changes made to it before are committed. Do not transfer or detach its buffer
    /// until `stageVersion` settles: `stageVersion` refuses one detached before the
    /// commit starts (`INVALID_ARGUMENT`), but cannot see one detached while the commit
    /// runs.
    #[napi]
    pub fn create_dataset(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
        #[napi(ts_arg_type = "CreateDatasetOptions")] options: Arg<CreateDatasetOptions>,
    ) -> Result<Dataset> {
        guard(env, || {
            let options = options.0;
            let filters = vh5::host::filters(
                options.compression.as_deref(),
                options.compression_level,
                options.shuffle,
                options.fletcher32,
            )?;
            let mut dtype = options
                .dtype
                .as_deref()
                .map(vh5::Dtype::parse)
                .transpose()?;
            let data = match options.data {
                Some(d) if is_scalar(&d)? => return Err(invalid(
                    "scalar datasets are not supported by the format: pass an array (or a shape)",
                )
                .into()),
                Some(d) => {
                    let (data, dt) = data_input(d, dtype.as_ref())?;
                    dtype = Some(dt);
                    Some((data, d))
                }
                None => None,
            };
            let d = dtype.unwrap_or_else(|| vh5::values::default_dtype(false));
            let opts = vh5::CreateOptions {
                shape: options
                    .shape
                    .as_deref()
                    .map(|s| vh5::host::dims(s, "shape"))
                    .transpose()?,
                dtype: Some(d.clone()),
                data: None,
                chunks: options
                    .chunks
                    .as_deref()
                    .map(|s| vh5::host::dims(s, "chunks"))
                    .transpose()?,
                fill: options
                    .fill_value
                    .map(|f| vh5::values::fill_values(scalar_from_js(f), &d))
                    .transpose()?,
                filters,
                hash: vh5::host::hash(options.hash.as_deref())?,
            };
            let full = self.full(&path.0);
            let meta = match data {
                Some((data, input)) => {
                    let meta = match data.hold()? {
                        Some(held) => self.stage.create_dataset_shared(&full, opts, held)?,
                        None => self.stage.create_dataset(
                            &full,
                            vh5::CreateOptions {
                                data: Some(data.into_values()),
                                ..opts
                            },
                        )?,
                    };
                    self.hold(&input)?;
                    meta
                }
                None => self.stage.create_dataset(&full, opts)?,
            };
            let path = vh5::file::normalize_path(&full)?;
            Ok(Dataset::new(self.view(), path, meta))
        })
    }

    /// Creates a group (and missing parents).
    #[napi]
    pub fn create_group(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<StagedGroup> {
        guard(env, || {
            let full = self.full(&path.0);
            self.stage.create_group(&full)?;
            Ok(StagedGroup {
                stage: self.stage.clone(),
                path: vh5::file::normalize_path(&full)?,
            })
        })
    }

    /// The dataset or group at `path` (relative to this group), as staged: datasets
    /// inherited from the parent version are writable here.
    #[napi(ts_return_type = "Dataset | StagedGroup")]
    pub fn get(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<Either<Dataset, StagedGroup>> {
        guard(env, || self.node(&path.0))
    }

    /// Whether `path` names a dataset or group: relative to this group (a trailing
    /// `/` is allowed), or absolute inside the file
    /// (`/_version_data/versions/<version>/a/b`).
    #[napi]
    pub fn has(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<bool> {
        guard(env, || {
            if path.0.starts_with('/') {
                return Ok(self.stage.has(&path.0)?);
            }
            Ok(self.stage.has(&self.full(&path.0))?)
        })
    }

    /// The dataset at `path`; `NOT_FOUND` if there is none, `INVALID_ARGUMENT` if it
    /// is a group.
    #[napi]
    pub fn dataset(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<Dataset> {
        guard(env, || want_dataset(self.node(&path.0)?, &path.0))
    }

    /// The group at `path`; `NOT_FOUND` if there is none, `INVALID_ARGUMENT` if it is
    /// a dataset.
    #[napi]
    pub fn group(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<StagedGroup> {
        guard(env, || want_group(self.node(&path.0)?, &path.0))
    }

    /// Names directly inside this group, sorted.
    #[napi]
    pub fn keys(&self, env: &Env) -> Result<Vec<String>> {
        guard(env, || Ok(self.stage.keys(&self.path)?))
    }

    /// Deletes a dataset or group from this version (earlier versions keep it).
    #[napi]
    pub fn delete(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<()> {
        guard(env, || Ok(self.stage.delete(&self.full(&path.0))?))
    }
}
