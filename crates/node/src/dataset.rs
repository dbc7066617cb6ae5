//! `Dataset`: a dataset of a committed version (read-only) or of a version being
//! staged (writable). Bulk reads run on the libuv thread pool.

use napi::bindgen_prelude::*;
use napi::{Env, Task};

use crate::attributes::JsAttributes;
use crate::convert::{
    data_bytes, js_err, scalar, selection, typed, AxisSpec, DataInput, DataOutput, OrJs, Scalar,
};

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

fn read_now(source: &Source, path: &str, sel: &[vh5::AxisSel]) -> vh5::Result<Vec<u8>> {
    Ok(match source {
        Source::Committed { file, version } => file.read(version, path, sel)?.0,
        Source::Staged { stage } => stage.read(path, sel)?.0,
    })
}

/// Reads a selection off the event loop.
pub struct ReadTask {
    source: Source,
    path: String,
    dtype: vh5::Dtype,
    sel: std::result::Result<Vec<vh5::AxisSel>, vh5::Error>,
}

impl Task for ReadTask {
    type Output = std::result::Result<Vec<u8>, vh5::Error>;
    type JsValue = DataOutput;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(match &self.sel {
            Ok(sel) => read_now(&self.source, &self.path, sel),
            Err(e) => Err(e.clone()),
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        match output {
            Ok(bytes) => Ok(typed(bytes, self.dtype)),
            Err(e) => Err(js_err(&env, e)),
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

    /// Element type: `'float64'`, `'int32'`, `'bool'`, …
    #[napi(getter)]
    pub fn dtype(&self) -> String {
        self.meta.dtype.name().to_string()
    }

    /// Chunk shape.
    #[napi(getter)]
    pub fn chunks(&self) -> Vec<f64> {
        self.meta.chunks.iter().map(|&d| d as f64).collect()
    }

    /// Fill value: what unwritten elements read as.
    #[napi(getter, ts_return_type = "number | bigint | boolean")]
    pub fn fill_value(&self) -> Scalar {
        scalar(&self.meta.fill, self.meta.dtype)
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
    /// Runs off the event loop.
    #[napi(
        ts_args_type = "selection?: Array<number | null | [number | null, number | null] | [number | null, number | null, number | null] | SliceSpec>",
        ts_return_type = "Promise<Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array>"
    )]
    pub fn read(&self, selection_: Option<Vec<AxisSpec>>) -> AsyncTask<ReadTask> {
        AsyncTask::new(ReadTask {
            source: self.source.clone(),
            path: self.path.clone(),
            dtype: self.meta.dtype,
            sel: selection(selection_),
        })
    }

    /// Synchronous twin of `read`.
    #[napi(
        ts_args_type = "selection?: Array<number | null | [number | null, number | null] | [number | null, number | null, number | null] | SliceSpec>",
        ts_return_type = "Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array"
    )]
    pub fn read_sync(&self, env: &Env, selection_: Option<Vec<AxisSpec>>) -> Result<DataOutput> {
        let sel = selection(selection_).js(env)?;
        Ok(typed(
            read_now(&self.source, &self.path, &sel).js(env)?,
            self.meta.dtype,
        ))
    }

    /// Writes `data` into a selection (same forms as `read`); a single value is
    /// broadcast. Only while staging; a committed dataset throws `READ_ONLY`.
    #[napi(
        ts_args_type = "selection: Array<number | null | [number | null, number | null] | [number | null, number | null, number | null] | SliceSpec> | null | undefined, data: number | bigint | boolean | ArrayLike<number | bigint | boolean> | Float64Array | Float32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array"
    )]
    pub fn write(
        &self,
        env: &Env,
        selection_: Option<Vec<AxisSpec>>,
        data: DataInput,
    ) -> Result<()> {
        match &self.source {
            Source::Committed { version, .. } => Err(js_err(
                env,
                vh5::Error::new(
                    vh5::ErrorKind::ReadOnly,
                    format!("version '{version}' is committed and immutable: stage a new version to change '{}'", self.path),
                ),
            )),
            Source::Staged { stage } => {
                let sel = selection(selection_).js(env)?;
                let (bytes, _) = data_bytes(data, Some(self.meta.dtype)).js(env)?;
                stage.write(&self.path, &sel, &bytes).js(env)
            }
        }
    }
}
