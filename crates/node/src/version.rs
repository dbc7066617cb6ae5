//! `Version` and `Group`: read-only views of a committed version's tree.

use napi::bindgen_prelude::*;
use napi::Env;

use crate::attributes::Attributes;
use crate::convert::{to_date, want_dataset, want_group};
use crate::dataset::Dataset;
use crate::guard::{guard, Arg, Out};

/// A committed, immutable version.
#[napi]
pub struct Version {
    pub(crate) file: vh5::VersionedFile,
    pub(crate) info: vh5::VersionInfo,
}

/// The dataset or group at `path` of a committed version.
fn open_node(view: &vh5::View, path: &str) -> Out<Either<Dataset, Group>> {
    let path = vh5::file::normalize_path(path)?;
    Ok(match view.node(&path)? {
        vh5::Node::Group => Either::B(Group {
            view: view.clone(),
            path,
        }),
        vh5::Node::Dataset(meta) => Either::A(Dataset::new(view.clone(), path, meta)),
    })
}

impl Version {
    fn view(&self) -> vh5::View {
        vh5::View::committed(self.file.clone(), self.info.name.clone())
    }
}

#[napi]
impl Version {
    /// Version name.
    #[napi(getter)]
    pub fn name(&self, env: &Env) -> Result<String> {
        guard(env, || Ok(self.info.name.clone()))
    }

    /// Parent version (`'__first_version__'` for a root version).
    #[napi(getter)]
    pub fn prev_version(&self, env: &Env) -> Result<String> {
        guard(env, || Ok(self.info.prev_version.clone()))
    }

    /// Commit time (millisecond precision; see `timestampMicros`). `CORRUPT_FILE` when
    /// the file lacks it.
    #[napi(getter)]
    pub fn timestamp(&self, env: &Env) -> Result<chrono::DateTime<chrono::Utc>> {
        guard(env, || Ok(to_date(self.info.commit_time()?)))
    }

    /// Commit time in microseconds since the Unix epoch, exact. `CORRUPT_FILE` when
    /// the file lacks it.
    #[napi(getter)]
    pub fn timestamp_micros(&self, env: &Env) -> Result<BigInt> {
        guard(env, || Ok(BigInt::from(self.info.commit_time()?)))
    }

    /// The version's user attributes (read-only).
    #[napi(getter)]
    pub fn attrs(&self, env: &Env) -> Result<Attributes> {
        guard(env, || Ok(Attributes::new(self.view(), String::new())))
    }

    /// Names at the top of the version (or inside group `path`), sorted.
    #[napi]
    pub fn keys(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string | undefined | null")] path: Option<Arg<String>>,
    ) -> Result<Vec<String>> {
        guard(env, || {
            let path = path.map(|p| p.0).unwrap_or_default();
            Ok(self.file.keys(&self.info.name, &path)?)
        })
    }

    /// Every dataset path in the version, sorted.
    #[napi]
    pub fn datasets(&self, env: &Env) -> Result<Vec<String>> {
        guard(env, || Ok(self.file.dataset_paths(&self.info.name)?))
    }

    /// The dataset or group at `path` (nested paths like `'a/b/c'` are fine).
    #[napi(ts_return_type = "Dataset | Group")]
    pub fn get(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<Either<Dataset, Group>> {
        guard(env, || open_node(&self.view(), &path.0))
    }

    /// The dataset at `path`; `NOT_FOUND` if there is none, `INVALID_ARGUMENT` if it
    /// is a group.
    #[napi]
    pub fn dataset(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<Dataset> {
        guard(env, || {
            want_dataset(open_node(&self.view(), &path.0)?, &path.0)
        })
    }

    /// The group at `path`; `NOT_FOUND` if there is none, `INVALID_ARGUMENT` if it is
    /// a dataset.
    #[napi(ts_return_type = "Group")]
    pub fn group(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<Group> {
        guard(env, || {
            want_group(open_node(&self.view(), &path.0)?, &path.0)
        })
    }

    /// Whether `path` names a dataset or group: relative (a trailing `/` is allowed)
    /// or absolute inside the file (`/_version_data/versions/<version>/a/b`).
    #[napi]
    pub fn has(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<bool> {
        guard(env, || Ok(self.file.has(&self.info.name, &path.0)?))
    }
}

/// A group inside a committed version.
#[napi]
pub struct Group {
    view: vh5::View,
    path: String,
}

impl Group {
    fn node(&self, path: &str) -> Out<Either<Dataset, Group>> {
        open_node(&self.view, &format!("{}/{}", self.path, path))
    }
}

#[napi]
impl Group {
    /// Path of the group inside its version.
    #[napi(getter)]
    pub fn path(&self, env: &Env) -> Result<String> {
        guard(env, || Ok(self.path.clone()))
    }

    /// The group's attributes (read-only).
    #[napi(getter)]
    pub fn attrs(&self, env: &Env) -> Result<Attributes> {
        guard(env, || {
            Ok(Attributes::new(self.view.clone(), self.path.clone()))
        })
    }

    /// Names inside the group, sorted.
    #[napi]
    pub fn keys(&self, env: &Env) -> Result<Vec<String>> {
        guard(env, || Ok(self.view.keys(&self.path)?))
    }

    /// The dataset or group at `path`, relative to this group.
    #[napi(ts_return_type = "Dataset | Group")]
    pub fn get(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<Either<Dataset, Group>> {
        guard(env, || self.node(&path.0))
    }

    /// The dataset at `path` (relative to this group); `NOT_FOUND` if there is none,
    /// `INVALID_ARGUMENT` if it is a group.
    #[napi]
    pub fn dataset(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<Dataset> {
        guard(env, || want_dataset(self.node(&path.0)?, &path.0))
    }

    /// The group at `path` (relative to this group); `NOT_FOUND` if there is none,
    /// `INVALID_ARGUMENT` if it is a dataset.
    #[napi]
    pub fn group(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<Group> {
        guard(env, || want_group(self.node(&path.0)?, &path.0))
    }

    /// Whether `path` names a dataset or group: relative to this group (a trailing
    /// `/` is allowed) or absolute inside the file.
    #[napi]
    pub fn has(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] path: Arg<String>,
    ) -> Result<bool> {
        guard(env, || {
            if path.0.starts_with('/') {
                return Ok(self.view.has(&path.0)?);
            }
            Ok(self.view.has(&format!("{}/{}", self.path, path.0))?)
        })
    }
}
