//! `Version` and `Group`: read-only views of a committed version's tree.

use napi::bindgen_prelude::*;
use napi::Env;

use crate::attributes::JsAttributes;
use crate::convert::{to_date, want_dataset, want_group, OrJs};
use crate::dataset::JsDataset;

/// A committed, immutable version.
#[napi(js_name = "Version")]
pub struct JsVersion {
    pub(crate) file: vh5::VersionedFile,
    pub(crate) info: vh5::VersionInfo,
}

pub(crate) fn open_node(
    file: &vh5::VersionedFile,
    version: &str,
    path: &str,
    env: &Env,
) -> Result<Either<JsDataset, JsGroup>> {
    let path = vh5::file::normalize_path(path).js(env)?;
    Ok(match file.node(version, &path).js(env)? {
        vh5::Node::Group => Either::B(JsGroup {
            file: file.clone(),
            version: version.to_string(),
            path,
        }),
        vh5::Node::Dataset(meta) => Either::A(JsDataset::committed(
            file.clone(),
            version.to_string(),
            path,
            meta,
        )),
    })
}

#[napi]
impl JsVersion {
    /// Version name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.info.name.clone()
    }

    /// Parent version (`'__first_version__'` for a root version).
    #[napi(getter)]
    pub fn prev_version(&self) -> String {
        self.info.prev_version.clone()
    }

    /// Commit time (millisecond precision; see `timestampMicros`). `CORRUPT_FILE` when
    /// the file lacks it.
    #[napi(getter)]
    pub fn timestamp(&self, env: &Env) -> Result<chrono::DateTime<chrono::Utc>> {
        Ok(to_date(self.info.commit_time().js(env)?))
    }

    /// Commit time in microseconds since the Unix epoch, exact. `CORRUPT_FILE` when
    /// the file lacks it.
    #[napi(getter)]
    pub fn timestamp_micros(&self, env: &Env) -> Result<BigInt> {
        Ok(BigInt::from(self.info.commit_time().js(env)?))
    }

    /// The version's user attributes (read-only).
    #[napi(getter)]
    pub fn attrs(&self) -> JsAttributes {
        JsAttributes::committed(self.file.clone(), self.info.name.clone(), String::new())
    }

    /// Names at the top of the version (or inside group `path`), sorted.
    #[napi]
    pub fn keys(&self, env: &Env, path: Option<String>) -> Result<Vec<String>> {
        self.file
            .keys(&self.info.name, path.as_deref().unwrap_or(""))
            .js(env)
    }

    /// Every dataset path in the version, sorted.
    #[napi]
    pub fn datasets(&self, env: &Env) -> Result<Vec<String>> {
        self.file.dataset_paths(&self.info.name).js(env)
    }

    /// The dataset or group at `path` (nested paths like `'a/b/c'` are fine).
    #[napi(ts_return_type = "Dataset | Group")]
    pub fn get(&self, env: &Env, path: String) -> Result<Either<JsDataset, JsGroup>> {
        open_node(&self.file, &self.info.name, &path, env)
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
    pub fn group(&self, env: &Env, path: String) -> Result<JsGroup> {
        want_group(env, self.get(env, path.clone())?, &path)
    }

    /// Whether `path` names a dataset or group: relative (a trailing `/` is allowed)
    /// or absolute inside the file (`/_version_data/versions/<version>/a/b`).
    #[napi]
    pub fn has(&self, env: &Env, path: String) -> Result<bool> {
        self.file.has(&self.info.name, &path).js(env)
    }
}

/// A group inside a committed version.
#[napi(js_name = "Group")]
pub struct JsGroup {
    pub(crate) file: vh5::VersionedFile,
    pub(crate) version: String,
    pub(crate) path: String,
}

#[napi]
impl JsGroup {
    /// Path of the group inside its version.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// The group's attributes (read-only).
    #[napi(getter)]
    pub fn attrs(&self) -> JsAttributes {
        JsAttributes::committed(self.file.clone(), self.version.clone(), self.path.clone())
    }

    /// Names inside the group, sorted.
    #[napi]
    pub fn keys(&self, env: &Env) -> Result<Vec<String>> {
        self.file.keys(&self.version, &self.path).js(env)
    }

    /// The dataset or group at `path`, relative to this group.
    #[napi(ts_return_type = "Dataset | Group")]
    pub fn get(&self, env: &Env, path: String) -> Result<Either<JsDataset, JsGroup>> {
        open_node(
            &self.file,
            &self.version,
            &format!("{}/{}", self.path, path),
            env,
        )
    }

    /// The dataset at `path` (relative to this group); `NOT_FOUND` if there is none,
    /// `INVALID_ARGUMENT` if it is a group.
    #[napi]
    pub fn dataset(&self, env: &Env, path: String) -> Result<JsDataset> {
        want_dataset(env, self.get(env, path.clone())?, &path)
    }

    /// The group at `path` (relative to this group); `NOT_FOUND` if there is none,
    /// `INVALID_ARGUMENT` if it is a dataset.
    #[napi]
    pub fn group(&self, env: &Env, path: String) -> Result<JsGroup> {
        want_group(env, self.get(env, path.clone())?, &path)
    }

    /// Whether `path` names a dataset or group: relative to this group (a trailing
    /// `/` is allowed) or absolute inside the file.
    #[napi]
    pub fn has(&self, env: &Env, path: String) -> Result<bool> {
        if path.starts_with('/') {
            return self.file.has(&self.version, &path).js(env);
        }
        self.file
            .has(&self.version, &format!("{}/{}", self.path, path))
            .js(env)
    }
}
