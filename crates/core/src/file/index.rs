//! The version index: committed versions by name, sorted by time, and their
//! ancestry. Built once per open from the version groups' attributes; commits add to
//! it.

use super::versions::VersionRef;
use super::{Inner, VersionInfo, VersionedFile};
use crate::attrs::AttrValue;
use crate::error::{bail, ErrorKind, Result};
use crate::h5::{self};
use crate::layout::FIRST_VERSION;
use crate::layout::{attr, versions_path};
use crate::time;

impl Inner {
    pub(crate) fn rebuild_time_index(&mut self) {
        self.versions.rebuild_time();
    }

    /// A committed version whose commit time is unknown (its `timestamp` attribute is
    /// missing or unreadable), if any. Such versions sort first in `by_time`.
    pub(crate) fn untimed(&self) -> Option<&str> {
        self.versions
            .by_time()
            .take_while(|v| v.timestamp.is_none())
            .map(|v| v.name)
            .next()
    }

    pub(crate) fn committed(&self, name: &str) -> Result<VersionRef<'_>> {
        match self.versions.get(name) {
            Some(v) if v.committed => Ok(v),
            Some(_) if self.unmarked.contains(name) => {
                let child = self
                    .versions
                    .by_time()
                    .find(|c| c.prev_version == name)
                    .map(|c| format!(" (version '{}' was committed on top of it)", c.name))
                    .unwrap_or_default();
                bail!(
                    CorruptFile,
                    "version '{name}' is damaged: its group has no 'committed' attribute, so whether it was committed is unknown{child}. verify() reports it; if its data is whole, h5py can restore the attribute (attrs['committed'] = True)"
                )
            }
            Some(_) => bail!(
                VersionNotFound,
                "version '{name}' was never committed (its commit was interrupted)"
            ),
            None if self.staging.contains(name) => {
                bail!(
                    VersionNotFound,
                    "version '{name}' is still being staged: wait for stageVersion to finish"
                )
            }
            None => bail!(
                VersionNotFound,
                "no version named '{name}': see versions for the committed names"
            ),
        }
    }

    /// The current version, or `CORRUPT_FILE` when `current_version` names no committed
    /// version. `None` when it is `__first_version__` (no version yet).
    pub(crate) fn current_committed(&self) -> Result<Option<VersionRef<'_>>> {
        if self.current == FIRST_VERSION {
            return Ok(None);
        }
        match self.committed(&self.current) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind == ErrorKind::VersionNotFound => bail!(
                CorruptFile,
                "the file's current_version names '{}', which is not a committed version: the file is damaged; make a committed version current with setCurrentVersion",
                self.current
            ),
            Err(e) => Err(e),
        }
    }
}

impl VersionedFile {
    /// The current version's name (`__first_version__` in an empty file).
    pub fn current_version(&self) -> Result<String> {
        let g = self.lock_raw();
        g.file()?;
        Ok(g.current.clone())
    }

    /// Makes `name` the current version.
    pub fn set_current_version(&self, name: &str) -> Result<()> {
        let mut g = self.lock();
        g.require_writable()?;
        if name != FIRST_VERSION {
            g.committed(name)?;
        }
        // Readers finish their call before the write (docs/design/008).
        h5::hold_writes(g.file()?)?;
        let vg = h5::open_group(g.file()?, &versions_path())?;
        let written = h5::write_attr(
            &vg,
            attr::CURRENT_VERSION,
            &AttrValue::Str(name.to_string()),
        )
        .and_then(|()| h5::file_flush(g.file()?));
        drop(vg);
        if let Err(e) = written {
            // A full disk or a failing device: the file goes back to the last commit
            // and the handle is opened anew over it (docs/design/006-io-faults.md).
            let context = format!("setting the current version of '{}' to '{name}'", g.path);
            return Err(g.after_io_fault(&context).unwrap_or(e));
        }
        g.current = name.to_string();
        Ok(())
    }

    /// Committed version names, oldest first (by timestamp, then name; versions whose
    /// timestamp is missing from the file come first).
    pub fn versions(&self) -> Result<Vec<String>> {
        let g = self.lock_raw();
        g.file()?;
        Ok(g.versions.names_by_time())
    }

    /// Committed versions' metadata, oldest first.
    pub fn version_infos(&self) -> Result<Vec<VersionInfo>> {
        let g = self.lock_raw();
        g.file()?;
        Ok(g.versions.by_time().map(VersionRef::to_info).collect())
    }

    /// A committed version by name.
    pub fn version(&self, name: &str) -> Result<VersionInfo> {
        if name.starts_with('/') {
            bail!(
                InvalidArgument,
                "'{name}' is not a version name: names cannot start with '/' (see versions for the names)"
            );
        }
        let g = self.lock_raw();
        g.file()?;
        g.committed(name).map(VersionRef::to_info)
    }

    /// The latest committed version at or before `micros` (or exactly at it, with
    /// `exact`). Among versions with the same timestamp, the last by name wins.
    pub fn version_at(&self, micros: i64, exact: bool) -> Result<VersionInfo> {
        let g = self.lock_raw();
        g.file()?;
        if let Some(name) = g.untimed() {
            // Its time could be any: no lookup by time can be answered for sure.
            bail!(
                CorruptFile,
                "version '{name}' has no readable 'timestamp' attribute, so no version can be looked up by time: the file is damaged (verify() reports it); look versions up by name instead"
            );
        }
        let idx = g.versions.time_partition(|t| t <= micros);
        let shown = time::format_micros(micros).unwrap_or_else(|_| micros.to_string());
        if idx == 0 {
            bail!(
                NoVersionAtTime,
                "no version was committed at or before {shown}"
            );
        }
        let Some(found) = g.versions.time_at(idx - 1) else {
            bail!(InternalError, "the time index lost a version");
        };
        if exact && found.timestamp != Some(micros) {
            bail!(NoVersionAtTime, "no version was committed exactly at {shown}: pass exact: false for the latest before it");
        }
        g.committed(found.name).map(VersionRef::to_info)
    }

    /// The `n`-th ancestor of the current version (0 = the current version), walking
    /// `prev_version` links. A link to no committed version is `CORRUPT_FILE`.
    pub fn nth_previous(&self, n: u64) -> Result<VersionInfo> {
        let g = self.lock_raw();
        g.file()?;
        let start = g.current.clone();
        let Some(mut info) = g.current_committed()? else {
            bail!(
                VersionNotFound,
                "'{start}' has fewer than {n} versions before it (0 found)"
            );
        };
        for i in 1..=n {
            let prev = info.prev_version;
            if prev == FIRST_VERSION {
                bail!(
                    VersionNotFound,
                    "'{start}' has fewer than {n} versions before it ({i} found)"
                );
            }
            info = match g.committed(prev) {
                Ok(p) => p,
                Err(e) if e.kind == ErrorKind::VersionNotFound => bail!(
                    CorruptFile,
                    "version '{}' names '{prev}' as its prev_version, which is not a committed version ({}): the file is damaged (verify() reports it)",
                    info.name,
                    e.message
                ),
                Err(e) => return Err(e),
            };
        }
        Ok(info.to_info())
    }
}
