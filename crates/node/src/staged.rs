//! `StagedVersion` (internal to `stageVersion`) and `StagedGroup`, the object a
//! builder receives.

use napi::bindgen_prelude::*;
use napi::{Env, Task};

use crate::attributes::JsAttributes;
use crate::convert::{
    data_input, dims, fill_values, js_err, want_dataset, want_group, DataInput, OrJs, Scalar,
};
use crate::dataset::{JsDataset, Source};
use crate::versioned_file::VersionInfo;

/// Options of `createDataset`.
#[napi(object)]
pub struct CreateDatasetOptions<'a> {
    /// Initial data: a typed array, an array of numbers/bigints/booleans, or of strings
    /// (for string dtypes), C order.
    #[napi(
        ts_type = "ArrayLike<number | bigint | boolean> | string[] | Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array"
    )]
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

/// A version being staged (used by `stageVersion`).
#[napi(js_name = "StagedVersion")]
pub struct JsStagedVersion {
    pub(crate) inner: vh5::StagedVersion,
}

/// Commits a staged version off the event loop.
pub struct CommitTask {
    stage: vh5::StagedVersion,
}

impl Task for CommitTask {
    type Output = std::result::Result<vh5::VersionInfo, vh5::Error>;
    type JsValue = VersionInfo;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(self.stage.commit())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output
            .and_then(TryInto::try_into)
            .map_err(|e| js_err(&env, e))
    }
}

#[napi]
impl JsStagedVersion {
    /// The root group of the staged version.
    #[napi(getter, ts_return_type = "StagedGroup")]
    pub fn root(&self) -> JsStagedGroup {
        JsStagedGroup {
            stage: self.inner.clone(),
            path: String::new(),
        }
    }

    /// Commits the version (off the event loop).
    #[napi(ts_return_type = "Promise<VersionInfo>")]
    pub fn commit(&self) -> AsyncTask<CommitTask> {
        AsyncTask::new(CommitTask {
            stage: self.inner.clone(),
        })
    }

    /// Abandons the version: nothing is written.
    #[napi]
    pub fn abort(&self) {
        self.inner.abort()
    }
}

/// A group of the version being staged: the builder's argument, and its subgroups.
#[napi(js_name = "StagedGroup")]
pub struct JsStagedGroup {
    stage: vh5::StagedVersion,
    path: String,
}

/// Whether user data is a single value rather than an array.
fn is_scalar(d: &DataInput) -> vh5::Result<bool> {
    let t = d
        .get_type()
        .map_err(|e| crate::convert::invalid(e.reason))?;
    Ok(matches!(
        t,
        ValueType::Number | ValueType::Boolean | ValueType::BigInt | ValueType::String
    ))
}

impl JsStagedGroup {
    fn full(&self, p: &str) -> String {
        if self.path.is_empty() {
            p.to_string()
        } else {
            format!("{}/{}", self.path, p)
        }
    }
}

fn compression(opts: &CreateDatasetOptions) -> vh5::Result<vh5::Filters> {
    let compression = match opts.compression.as_deref() {
        None | Some("none") => vh5::Compression::None,
        Some("gzip") => match opts.compression_level {
            None => vh5::Compression::Gzip(4),
            Some(l) if l.fract() == 0.0 && (0.0..=9.0).contains(&l) => {
                vh5::Compression::Gzip(l as u32)
            }
            Some(l) => {
                return Err(crate::convert::invalid(format!(
                    "gzip level {l} is out of range: use a whole number from 0 to 9"
                )))
            }
        },
        Some("lzf") => vh5::Compression::Lzf,
        Some(other) => {
            return Err(crate::convert::invalid(format!(
                "unknown compression '{other}': use 'gzip' or 'lzf'"
            )))
        }
    };
    Ok(vh5::Filters {
        shuffle: opts.shuffle.unwrap_or(false),
        compression,
        fletcher32: opts.fletcher32.unwrap_or(false),
    })
}

#[napi]
impl JsStagedGroup {
    /// Path of the group inside the version (`''` for the root).
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// Name of the version being staged.
    #[napi(getter)]
    pub fn version_name(&self) -> String {
        self.stage.name()
    }

    /// Name of the parent version.
    #[napi(getter)]
    pub fn prev_version(&self) -> String {
        self.stage.prev_version()
    }

    /// Identity of the staged version this group belongs to (used by `stageVersion`
    /// to check, before committing, the typed arrays `createDataset` holds).
    #[napi(getter, js_name = "_stageId")]
    pub fn stage_id(&self) -> f64 {
        self.stage.id() as f64
    }

    /// Attributes of this group (of the version itself at the root).
    #[napi(getter)]
    pub fn attrs(&self) -> JsAttributes {
        JsAttributes::staged(self.stage.clone(), self.path.clone())
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
        path: String,
        options: CreateDatasetOptions,
    ) -> Result<JsDataset> {
        let filters = compression(&options).js(env)?;
        let mut dtype = options
            .dtype
            .as_deref()
            .map(vh5::Dtype::parse)
            .transpose()
            .js(env)?;
        let data = match options.data {
            Some(d) if is_scalar(&d).js(env)? => return Err(js_err(
                env,
                crate::convert::invalid(
                    "scalar datasets are not supported by the format: pass an array (or a shape)",
                ),
            )),
            Some(d) => {
                let (data, d) = data_input(d, dtype.as_ref()).js(env)?;
                dtype = Some(d);
                Some(data)
            }
            None => None,
        };
        let d = dtype.unwrap_or(vh5::Dtype::Float64);
        let hash = match options.hash.as_deref() {
            None => None,
            Some(h) => Some(
                vh5::HashKind::parse(h)
                    .ok_or_else(|| {
                        crate::convert::invalid(format!(
                            "unknown hash '{h}': use 'blake3' or 'sha256'"
                        ))
                    })
                    .js(env)?,
            ),
        };
        let opts = vh5::CreateOptions {
            shape: options
                .shape
                .as_deref()
                .map(|s| dims(s, "shape"))
                .transpose()
                .js(env)?,
            dtype: Some(d.clone()),
            data: None,
            chunks: options
                .chunks
                .as_deref()
                .map(|s| dims(s, "chunks"))
                .transpose()
                .js(env)?,
            fill: options
                .fill_value
                .map(|f| fill_values(f, &d))
                .transpose()
                .js(env)?,
            filters,
            hash,
        };
        let full = self.full(&path);
        let meta = match data {
            Some(data) => match data.hold().js(env)? {
                Some(held) => self.stage.create_dataset_shared(&full, opts, held),
                None => self.stage.create_dataset(
                    &full,
                    vh5::CreateOptions {
                        data: Some(data.into_values()),
                        ..opts
                    },
                ),
            },
            None => self.stage.create_dataset(&full, opts),
        }
        .js(env)?;
        let path = vh5::file::normalize_path(&full).js(env)?;
        Ok(JsDataset {
            source: Source::Staged {
                stage: self.stage.clone(),
            },
            path,
            meta,
        })
    }

    /// Creates a group (and missing parents).
    #[napi]
    pub fn create_group(&self, env: &Env, path: String) -> Result<JsStagedGroup> {
        let full = self.full(&path);
        self.stage.create_group(&full).js(env)?;
        Ok(JsStagedGroup {
            stage: self.stage.clone(),
            path: vh5::file::normalize_path(&full).js(env)?,
        })
    }

    /// The dataset or group at `path` (relative to this group), as staged: datasets
    /// inherited from the parent version are writable here.
    #[napi(ts_return_type = "Dataset | StagedGroup")]
    pub fn get(&self, env: &Env, path: String) -> Result<Either<JsDataset, JsStagedGroup>> {
        let full = vh5::file::normalize_path(&self.full(&path)).js(env)?;
        Ok(match self.stage.node(&full).js(env)? {
            vh5::StagedNode::Group => Either::B(JsStagedGroup {
                stage: self.stage.clone(),
                path: full,
            }),
            vh5::StagedNode::Dataset(meta) => Either::A(JsDataset {
                source: Source::Staged {
                    stage: self.stage.clone(),
                },
                path: full,
                meta,
            }),
        })
    }

    /// Whether `path` names a dataset or group: relative to this group (a trailing
    /// `/` is allowed), or absolute inside the file
    /// (`/_version_data/versions/<version>/a/b`).
    #[napi]
    pub fn has(&self, env: &Env, path: String) -> Result<bool> {
        if path.starts_with('/') {
            return self.stage.has(&path).js(env);
        }
        self.stage.has(&self.full(&path)).js(env)
    }

    /// The dataset at `path`; `NOT_FOUND` if there is none, `INVALID_ARGUMENT` if it
    /// is a group.
    #[napi]
    pub fn dataset(&self, env: &Env, path: String) -> Result<JsDataset> {
        want_dataset(env, self.get(env, path.clone())?, &path)
    }

    /// The group at `path`; `NOT_FOUND` if there is none, `INVALID_ARGUMENT` if it is
    /// a dataset.
    #[napi]
    pub fn group(&self, env: &Env, path: String) -> Result<JsStagedGroup> {
        want_group(env, self.get(env, path.clone())?, &path)
    }

    /// Names directly inside this group, sorted.
    #[napi]
    pub fn keys(&self, env: &Env) -> Result<Vec<String>> {
        self.stage.keys(&self.path).js(env)
    }

    /// Deletes a dataset or group from this version (earlier versions keep it).
    #[napi]
    pub fn delete(&self, env: &Env, path: String) -> Result<()> {
        self.stage.delete(&self.full(&path)).js(env)
    }
}
