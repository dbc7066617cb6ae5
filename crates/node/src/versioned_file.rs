//! `VersionedFile`: open, list and look up versions, stage new ones.

use napi::bindgen_prelude::*;
use napi::{Env, Task};

use crate::convert::{to_date, Time};
use crate::guard::{guard, invalid, Arg, Out};
use crate::staged::StagedGroup;
use crate::version::Version;

/// Options of `VersionedFile.open`.
#[napi(object)]
#[allow(
    dead_code,
    reason = "the TypeScript type of `open`'s options; parsed by `open_options`"
)]
pub struct OpenOptions {
    /// `'r'` read-only, `'r+'` read-write (must exist), `'a'` read-write (created if
    /// missing; the default), `'w'` create or truncate, `'x'` create, failing if it exists.
    pub mode: Option<String>,
    /// What a returned commit survives: `'process'` (the default) the death of the
    /// process; `'fsync'` also power loss and operating-system crashes (a commit
    /// returns only once it is on stable storage; a few fsyncs per commit).
    #[napi(ts_type = "'process' | 'fsync'")]
    pub durability: Option<String>,
}

/// The `mode` and `durability` of `open`'s options (`None`: the engine's defaults),
/// refusing anything but an options object with string values.
fn open_options(options: Option<Unknown>) -> Out<(Option<String>, Option<String>)> {
    let bad = |what: &str| {
        invalid(format!(
            "open(path, options): {what}; pass e.g. {{ mode: 'r' }}"
        ))
    };
    let Some(o) = options else {
        return Ok((None, None));
    };
    match o.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok((None, None)),
        ValueType::Object => {}
        _ => return Err(bad("options must be an object").into()),
    }
    // SAFETY: the value was just checked to be an object.
    let obj: Object = unsafe { o.cast() }?;
    let string = |key: &str, allowed: &str| -> Out<Option<String>> {
        let v: Unknown = obj.get_named_property(key)?;
        match v.get_type()? {
            ValueType::Undefined => Ok(None),
            // SAFETY: the value was just checked to be a string.
            ValueType::String => Ok(Some(unsafe { v.cast::<String>() }?)),
            _ => Err(bad(&format!("{key} must be one of {allowed}")).into()),
        }
    };
    Ok((
        string("mode", "'r', 'r+', 'a', 'w', 'x'")?,
        string("durability", "'process', 'fsync'")?,
    ))
}

/// Options of `stageVersion`.
#[napi(object, object_to_js = false)]
pub struct StageOptions {
    /// Parent version; defaults to the current version; `''` for no parent.
    pub prev_version: Option<String>,
    /// Make the new version current (default `true`).
    pub make_current: Option<bool>,
    /// Commit time: a `Date`, an ISO 8601 string with up to microseconds, or bigint
    /// microseconds since the epoch. Defaults to the time of commit.
    #[napi(ts_type = "Date | string | bigint")]
    pub timestamp: Option<Time>,
    /// Bytes of written chunks the staged version keeps in memory (default 256 MiB).
    /// Past it, whole chunks are hashed, deduplicated, compressed and written to the
    /// file before the commit, which stays atomic: a builder that throws, a failed
    /// commit or a killed process leaves the file as it was.
    pub memory_budget: Option<f64>,
}

/// Options of `versionAt`.
#[napi(object, object_to_js = false)]
pub struct VersionAtOptions {
    /// Only a version committed exactly at that time (default `false`: the latest at
    /// or before it).
    pub exact: Option<bool>,
}

/// A version's metadata as a plain object.
#[napi(object)]
pub struct VersionInfo {
    /// Version name.
    pub name: String,
    /// Parent version (`'__first_version__'` for a root version).
    pub prev_version: String,
    /// Commit time (millisecond precision; see `timestampMicros`).
    pub timestamp: chrono::DateTime<chrono::Utc>,
    /// Commit time in microseconds since the Unix epoch, exact.
    pub timestamp_micros: BigInt,
}

/// One finding of `verify`.
#[napi(object)]
pub struct VerifyProblem {
    /// Where, as text: a version name, `version:path`, `version:path chunk at [..] ->
    /// /_version_data/<path> slot N`, or `/_version_data/<path>` with its hash-table row
    /// or slot and the version that maps it.
    pub location: String,
    /// What is wrong.
    pub message: String,
    /// The version that refers to what is wrong (the first by name when several do).
    pub version: Option<String>,
    /// The dataset's path, for a problem in a dataset or its stored data.
    pub dataset: Option<String>,
    /// The slot of the dataset's raw_data, which is also its hash-table row.
    pub slot: Option<i64>,
}

/// What `verify` found.
#[napi(object)]
pub struct VerifyReport {
    /// No problems (warnings allowed).
    pub ok: bool,
    /// Committed versions checked.
    pub versions: u32,
    /// Version datasets checked.
    pub datasets: u32,
    /// Distinct stored chunks read and hashed.
    pub chunks: u32,
    /// Chunks whose hash could not be checked (string hash tables of files of format
    /// generation 1).
    pub unchecked_chunks: u32,
    /// Problems that make data wrong or unreadable.
    pub problems: Vec<VerifyProblem>,
    /// Findings that lose no committed data, e.g. a version group left by an
    /// interrupted commit.
    pub warnings: Vec<VerifyProblem>,
}

impl From<vh5::Report> for VerifyReport {
    fn from(r: vh5::Report) -> Self {
        let conv = |v: Vec<vh5::Problem>| {
            v.into_iter()
                .map(|p| VerifyProblem {
                    location: p.location,
                    message: p.message,
                    version: p.version,
                    dataset: p.dataset,
                    slot: p.slot.map(|s| s as i64),
                })
                .collect()
        };
        VerifyReport {
            ok: r.ok(),
            versions: r.versions as u32,
            datasets: r.datasets as u32,
            chunks: r.chunks as u32,
            unchecked_chunks: r.unchecked_chunks as u32,
            problems: conv(r.problems),
            warnings: conv(r.warnings),
        }
    }
}

/// Runs `verify` off the event loop.
pub struct VerifyTask {
    file: vh5::VersionedFile,
    progress: Option<crate::history::ProgressRelay>,
}

/// Options of `verify`.
#[napi(object, object_to_js = false)]
#[allow(
    dead_code,
    reason = "the TypeScript type of verify's options; read from the object by `progress_option`"
)]
pub struct VerifyOptions {
    /// Called (on the event loop) after each version checked, then after each stored
    /// chunk read and hashed; `total` grows once, when the versions are checked and
    /// the chunks to read are known.
    #[napi(ts_type = "(progress: Progress) => void")]
    pub on_progress: Option<Unknown<'static>>,
}

impl Task for VerifyTask {
    type Output = std::result::Result<vh5::Report, vh5::Error>;
    type JsValue = VerifyReport;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(crate::history::with_progress(&self.progress, |p| {
            self.file.verify_with_progress(p)
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        self.progress = None;
        guard(&env, || Ok(output?.into()))
    }
}

impl TryFrom<vh5::VersionInfo> for VersionInfo {
    type Error = vh5::Error;

    /// Fails with `CORRUPT_FILE` for a version whose commit time the file lacks.
    fn try_from(v: vh5::VersionInfo) -> vh5::Result<Self> {
        let us = v.commit_time()?;
        Ok(VersionInfo {
            name: v.name,
            prev_version: v.prev_version,
            timestamp: to_date(us),
            timestamp_micros: BigInt::from(us),
        })
    }
}

/// An HDF5 file holding every version of a tree of datasets, in the format of Python
/// versioned-hdf5.
#[napi]
pub struct VersionedFile {
    pub(crate) inner: vh5::VersionedFile,
}

impl VersionedFile {
    fn version_of(&self, info: vh5::VersionInfo) -> Version {
        Version {
            file: self.inner.clone(),
            info,
        }
    }
}

#[napi]
impl VersionedFile {
    /// Opens (or creates) a versioned file. A writable file without versioning data is
    /// initialised.
    #[napi(factory, ts_args_type = "path: string, options?: OpenOptions")]
    pub fn open(env: &Env, path: Unknown, options: Option<Unknown>) -> Result<Self> {
        guard(env, || {
            let path: String = match path.get_type() {
                // SAFETY: the value was just checked to be a string.
                Ok(ValueType::String) => unsafe { path.cast() }?,
                _ => return Err(invalid("the path must be a string").into()),
            };
            let (mode, durability) = open_options(options)?;
            let mode = vh5::host::mode(mode.as_deref())?;
            let durability = match durability {
                Some(d) => vh5::Durability::parse(&d)?,
                None => vh5::Durability::default(),
            };
            Ok(VersionedFile {
                inner: vh5::VersionedFile::open_with(&path, mode, durability)?,
            })
        })
    }

    /// The path the file was opened with.
    #[napi(getter)]
    pub fn path(&self, env: &Env) -> Result<String> {
        guard(env, || Ok(self.inner.path()))
    }

    /// Whether `close()` was called.
    #[napi(getter)]
    pub fn closed(&self, env: &Env) -> Result<bool> {
        guard(env, || Ok(self.inner.is_closed()))
    }

    /// What a returned commit survives: `'process'` or `'fsync'` (as opened).
    #[napi(getter, ts_return_type = "'process' | 'fsync'")]
    pub fn durability(&self, env: &Env) -> Result<String> {
        guard(env, || {
            Ok(match self.inner.durability() {
                vh5::Durability::Process => "process",
                vh5::Durability::Fsync => "fsync",
            }
            .to_string())
        })
    }

    /// Whether the file accepts new versions.
    #[napi(getter)]
    pub fn writable(&self, env: &Env) -> Result<bool> {
        guard(env, || Ok(self.inner.is_writable()))
    }

    /// Whether opening the file rolled back a commit that a process which died
    /// mid-commit left half-written (see "Crash safety" in the README).
    #[napi(getter)]
    pub fn recovered(&self, env: &Env) -> Result<bool> {
        guard(env, || Ok(self.inner.recovered()))
    }

    /// The file's format generation (its `data_version`): 4 for current files, 1
    /// for files of the first generation (no `data_version` attribute).
    #[napi(getter)]
    pub fn data_version(&self, env: &Env) -> Result<i64> {
        guard(env, || Ok(self.inner.data_version()?))
    }

    /// Name of the current version (`'__first_version__'` when there is none).
    #[napi(getter)]
    pub fn current_version(&self, env: &Env) -> Result<String> {
        guard(env, || Ok(self.inner.current_version()?))
    }

    /// Makes a committed version the current one.
    #[napi]
    pub fn set_current_version(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] name: Arg<String>,
    ) -> Result<()> {
        guard(env, || Ok(self.inner.set_current_version(&name.0)?))
    }

    /// Committed version names, oldest first.
    #[napi(getter)]
    pub fn versions(&self, env: &Env) -> Result<Vec<String>> {
        guard(env, || Ok(self.inner.versions()?))
    }

    /// Committed versions with parents and timestamps, oldest first. `CORRUPT_FILE`
    /// when a version's timestamp is missing from the file.
    #[napi]
    pub fn history(&self, env: &Env) -> Result<Vec<VersionInfo>> {
        guard(env, || {
            Ok(self
                .inner
                .version_infos()?
                .into_iter()
                .map(TryInto::try_into)
                .collect::<vh5::Result<Vec<_>>>()?)
        })
    }

    /// A committed version by name, or by position: `0` is the current version, `-1`
    /// its parent, and so on.
    #[napi]
    pub fn version(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string | number")] name: Arg<Either<String, f64>>,
    ) -> Result<Version> {
        guard(env, || {
            let info = match name.0 {
                Either::A(n) => self.inner.version(&n)?,
                Either::B(n) => {
                    if !n.is_finite() || n.fract() != 0.0 || n > 0.0 {
                        return Err(invalid(format!(
                            "version({n}): a number must be 0 (the current version) or negative (-1 is its parent)"
                        ))
                        .into());
                    }
                    self.inner.nth_previous((-n) as u64)?
                }
            };
            Ok(self.version_of(info))
        })
    }

    /// The latest version committed at or before `time` (or exactly at it with
    /// `{ exact: true }`). Throws `NO_VERSION_AT_TIME` when there is none, and
    /// `CORRUPT_FILE` when some version's timestamp is missing from the file.
    #[napi]
    pub fn version_at(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "Date | string | bigint")] time: Arg<Time>,
        #[napi(ts_arg_type = "VersionAtOptions")] options: Option<Arg<VersionAtOptions>>,
    ) -> Result<Version> {
        guard(env, || {
            let exact = options.and_then(|o| o.0.exact).unwrap_or(false);
            Ok(self.version_of(self.inner.version_at(time.0 .0, exact)?))
        })
    }

    /// Starts staging a version and returns its root group; used by `stageVersion`
    /// (index.js), which commits it after the builder returns (or abandons it if the
    /// builder throws). Not part of the public typings.
    #[napi(js_name = "_beginStage", skip_typescript)]
    pub fn begin_stage(
        &self,
        env: &Env,
        name: Arg<String>,
        options: Option<Arg<StageOptions>>,
    ) -> Result<StagedGroup> {
        guard(env, || {
            let mut opts = vh5::StageOptions::default();
            if let Some(Arg(o)) = options {
                opts.prev_version = o.prev_version;
                opts.make_current = o.make_current;
                opts.timestamp = o.timestamp.map(|t| t.0);
                opts.memory_budget = o.memory_budget.map(vh5::host::memory_budget).transpose()?;
            }
            Ok(StagedGroup::root(self.inner.stage(&name.0, opts)?))
        })
    }

    /// Checks that the file is sound (off the event loop): every `prevVersion`
    /// resolves; every mapping of every committed version points at a whole
    /// hash-table row inside `raw_data`, below `largest_index`, always with the same
    /// geometry; every stored chunk reads and matches its hash. Changes nothing.
    /// `onProgress` is called as it goes (see `VerifyOptions`).
    #[napi(
        ts_args_type = "options?: VerifyOptions",
        ts_return_type = "Promise<VerifyReport>"
    )]
    pub fn verify(&self, env: &Env, options: Option<Unknown>) -> Result<AsyncTask<VerifyTask>> {
        guard(env, || {
            Ok(AsyncTask::new(VerifyTask {
                file: self.inner.clone(),
                progress: crate::history::progress_option(options, "verify")?,
            }))
        })
    }

    /// Synchronous twin of `verify`.
    #[napi]
    pub fn verify_sync(&self, env: &Env) -> Result<VerifyReport> {
        guard(env, || Ok(self.inner.verify()?.into()))
    }

    /// Takes in the versions that other processes committed since this read-only
    /// handle was opened or last refreshed, and returns their names in commit order
    /// (oldest first): `versions`, `currentVersion`, `history()`, `version()` and
    /// `versionAt()` include them from then on. Until then the handle keeps reading
    /// exactly the versions it knew. Costs one read of a small file when nothing was
    /// committed. A writable handle sees its own commits already: `[]`.
    #[napi]
    pub fn refresh(&self, env: &Env) -> Result<Vec<String>> {
        guard(env, || Ok(self.inner.refresh()?))
    }

    /// Flushes and closes the file. Any later use throws `FILE_CLOSED`.
    #[napi]
    pub fn close(&self, env: &Env) -> Result<()> {
        guard(env, || Ok(self.inner.close()?))
    }
}
