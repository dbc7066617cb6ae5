//! `VersionedFile`: open, list and look up versions, stage new ones.

use napi::bindgen_prelude::*;
use napi::{Env, Task};

use crate::convert::{js_err, micros, to_date, OrJs, TimeInput};
use crate::staged::JsStagedVersion;
use crate::version::JsVersion;

/// Options of `VersionedFile.open`.
#[napi(object)]
#[allow(
    dead_code,
    reason = "the TypeScript type of `open`'s options; parsed by `open_mode`"
)]
pub struct OpenOptions {
    /// `'r'` read-only, `'r+'` read-write (must exist), `'a'` read-write (created if
    /// missing; the default), `'w'` create or truncate, `'x'` create, failing if it exists.
    pub mode: Option<String>,
}

/// The `mode` of `open`'s options (default `'a'`), refusing anything but an options
/// object with a string mode.
fn open_mode(options: Option<Unknown>) -> vh5::Result<String> {
    let bad = |what: &str| {
        crate::convert::invalid(format!(
            "open(path, options): {what}; pass e.g. {{ mode: 'r' }}"
        ))
    };
    let Some(o) = options else {
        return Ok("a".into());
    };
    match o
        .get_type()
        .map_err(|e| crate::convert::invalid(e.reason))?
    {
        ValueType::Undefined | ValueType::Null => return Ok("a".into()),
        ValueType::Object => {}
        _ => return Err(bad("options must be an object")),
    }
    // SAFETY: the value was just checked to be an object.
    let obj: Object = unsafe { o.cast() }.map_err(|e| crate::convert::invalid(e.reason))?;
    let mode: Unknown = obj
        .get_named_property("mode")
        .map_err(|e| crate::convert::invalid(e.reason))?;
    match mode
        .get_type()
        .map_err(|e| crate::convert::invalid(e.reason))?
    {
        ValueType::Undefined => Ok("a".into()),
        ValueType::String => {
            // SAFETY: the value was just checked to be a string.
            let m = unsafe { mode.cast::<String>() };
            m.map_err(|e| crate::convert::invalid(e.reason))
        }
        _ => Err(bad("mode must be one of 'r', 'r+', 'a', 'w', 'x'")),
    }
}

/// Options of `stageVersion`.
#[napi(object)]
pub struct StageOptions {
    /// Parent version; defaults to the current version; `''` for no parent.
    pub prev_version: Option<String>,
    /// Make the new version current (default `true`).
    pub make_current: Option<bool>,
    /// Commit time: a `Date`, an ISO 8601 string with up to microseconds, or bigint
    /// microseconds since the epoch. Defaults to the time of commit.
    #[napi(ts_type = "Date | string | bigint")]
    pub timestamp: Option<TimeInput>,
}

/// Options of `versionAt`.
#[napi(object)]
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
    /// Where: a version name, `version:path`, or `/_version_data/<path> slot at row N`.
    pub location: String,
    /// What is wrong.
    pub message: String,
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
}

impl Task for VerifyTask {
    type Output = std::result::Result<vh5::Report, vh5::Error>;
    type JsValue = VerifyReport;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(self.file.verify())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map(Into::into).map_err(|e| js_err(&env, e))
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
#[napi(js_name = "VersionedFile")]
pub struct JsVersionedFile {
    pub(crate) inner: vh5::VersionedFile,
}

#[napi]
impl JsVersionedFile {
    /// Opens (or creates) a versioned file. A writable file without versioning data is
    /// initialised.
    #[napi(factory, ts_args_type = "path: string, options?: OpenOptions")]
    pub fn open(env: &Env, path: Unknown, options: Option<Unknown>) -> Result<Self> {
        let path: String = match path.get_type() {
            // SAFETY: the value was just checked to be a string.
            Ok(ValueType::String) => unsafe { path.cast() }?,
            _ => {
                return Err(crate::convert::js_err(
                    env,
                    crate::convert::invalid("the path must be a string"),
                ))
            }
        };
        let mode = vh5::Mode::parse(&open_mode(options).js(env)?).js(env)?;
        Ok(JsVersionedFile {
            inner: vh5::VersionedFile::open(&path, mode).js(env)?,
        })
    }

    /// The path the file was opened with.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.inner.path()
    }

    /// Whether `close()` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Whether the file accepts new versions.
    #[napi(getter)]
    pub fn writable(&self) -> bool {
        self.inner.is_writable()
    }

    /// Whether opening the file rolled back a commit that a process which died
    /// mid-commit left half-written (see "Crash safety" in the README).
    #[napi(getter)]
    pub fn recovered(&self) -> bool {
        self.inner.recovered()
    }

    /// Name of the current version (`'__first_version__'` when there is none).
    #[napi(getter)]
    pub fn current_version(&self, env: &Env) -> Result<String> {
        self.inner.current_version().js(env)
    }

    /// Makes a committed version the current one.
    #[napi]
    pub fn set_current_version(&self, env: &Env, name: String) -> Result<()> {
        self.inner.set_current_version(&name).js(env)
    }

    /// Committed version names, oldest first.
    #[napi(getter)]
    pub fn versions(&self, env: &Env) -> Result<Vec<String>> {
        self.inner.versions().js(env)
    }

    /// Committed versions with parents and timestamps, oldest first. `CORRUPT_FILE`
    /// when a version's timestamp is missing from the file.
    #[napi]
    pub fn history(&self, env: &Env) -> Result<Vec<VersionInfo>> {
        self.inner
            .version_infos()
            .js(env)?
            .into_iter()
            .map(TryInto::try_into)
            .collect::<vh5::Result<Vec<_>>>()
            .js(env)
    }

    /// A committed version by name.
    #[napi]
    pub fn version(&self, env: &Env, name: Either<String, f64>) -> Result<JsVersion> {
        let info = match name {
            Either::A(n) => self.inner.version(&n),
            Either::B(n) => {
                if !n.is_finite() || n.fract() != 0.0 || n > 0.0 {
                    Err(crate::convert::invalid(format!(
                        "version({n}): a number must be 0 (the current version) or negative (-1 is its parent)"
                    )))
                } else {
                    self.inner.nth_previous((-n) as u64)
                }
            }
        }
        .js(env)?;
        Ok(JsVersion {
            file: self.inner.clone(),
            info,
        })
    }

    /// The latest version committed at or before `time` (or exactly at it with
    /// `{ exact: true }`). Throws `NO_VERSION_AT_TIME` when there is none, and
    /// `CORRUPT_FILE` when some version's timestamp is missing from the file.
    #[napi(ts_args_type = "time: Date | string | bigint, options?: VersionAtOptions")]
    pub fn version_at(
        &self,
        env: &Env,
        time: TimeInput,
        options: Option<VersionAtOptions>,
    ) -> Result<JsVersion> {
        let us = micros(time).js(env)?;
        let exact = options.and_then(|o| o.exact).unwrap_or(false);
        let info = self.inner.version_at(us, exact).js(env)?;
        Ok(JsVersion {
            file: self.inner.clone(),
            info,
        })
    }

    /// Starts staging a version; used by `stageVersion`, which commits it after the
    /// builder returns (or abandons it if the builder throws).
    #[napi(js_name = "_beginStage")]
    pub fn begin_stage(
        &self,
        env: &Env,
        name: String,
        options: Option<StageOptions>,
    ) -> Result<JsStagedVersion> {
        let mut opts = vh5::StageOptions::default();
        if let Some(o) = options {
            opts.prev_version = o.prev_version;
            opts.make_current = o.make_current;
            opts.timestamp = o.timestamp.map(micros).transpose().js(env)?;
        }
        Ok(JsStagedVersion {
            inner: self.inner.stage(&name, opts).js(env)?,
        })
    }

    /// Checks that the file is sound (off the event loop): every `prevVersion`
    /// resolves; every mapping of every committed version points at a whole
    /// hash-table row inside `raw_data`, below `largest_index`, always with the same
    /// geometry; every stored chunk reads and matches its hash. Changes nothing.
    #[napi(ts_return_type = "Promise<VerifyReport>")]
    pub fn verify(&self) -> AsyncTask<VerifyTask> {
        AsyncTask::new(VerifyTask {
            file: self.inner.clone(),
        })
    }

    /// Synchronous twin of `verify`.
    #[napi]
    pub fn verify_sync(&self, env: &Env) -> Result<VerifyReport> {
        Ok(self.inner.verify().js(env)?.into())
    }

    /// Flushes and closes the file. Any later use throws `FILE_CLOSED`.
    #[napi]
    pub fn close(&self, env: &Env) -> Result<()> {
        self.inner.close().js(env)
    }
}
