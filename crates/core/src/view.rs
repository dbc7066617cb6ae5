//! [`View`]: one version's tree, committed (read-only) or being staged (writable),
//! behind one type, so that a dataset, group or attribute handle does not care which.
//!
//! A committed view reads through [`VersionedFile`]; a staged one through
//! [`StagedVersion`], which sees the staged changes over the parent version. Writes go
//! through [`View::stage`], which refuses a committed view with `READ_ONLY`.

use crate::attrs::Attrs;
use crate::buf::ReadData;
use crate::error::{Error, ErrorKind, Result};
use crate::file::{DatasetMeta, Node, ReadSink, VersionedFile};
use crate::grid::AxisSel;
use crate::stage::{StagedNode, StagedVersion};

/// A version's tree: committed, or being staged.
#[derive(Clone)]
pub enum View {
    /// Version `version` of `file`, committed and immutable.
    Committed {
        /// The open file.
        file: VersionedFile,
        /// The committed version's name.
        version: String,
    },
    /// A version being staged.
    Staged(StagedVersion),
}

impl View {
    /// The committed version `version` of `file`.
    pub fn committed(file: VersionedFile, version: impl Into<String>) -> View {
        View::Committed {
            file,
            version: version.into(),
        }
    }

    /// Name of the version.
    pub fn version_name(&self) -> String {
        match self {
            View::Committed { version, .. } => version.clone(),
            View::Staged(stage) => stage.name(),
        }
    }

    /// Whether this is a version being staged.
    pub fn is_staged(&self) -> bool {
        matches!(self, View::Staged(_))
    }

    /// The staged version, for a write of `what` (e.g. `'x'` or `attributes`);
    /// `READ_ONLY` for a committed version.
    pub fn stage(&self, what: &str) -> Result<&StagedVersion> {
        match self {
            View::Staged(stage) => Ok(stage),
            View::Committed { version, .. } => Err(Error::new(
                ErrorKind::ReadOnly,
                format!("version '{version}' is committed and immutable: stage a new version to change {what}"),
            )),
        }
    }

    /// The dataset or group at `path` (normalised, relative to the version's root).
    pub fn node(&self, path: &str) -> Result<Node> {
        match self {
            View::Committed { file, version } => file.node(version, path),
            View::Staged(stage) => Ok(match stage.node(path)? {
                StagedNode::Group => Node::Group,
                StagedNode::Dataset(m) => Node::Dataset(m),
            }),
        }
    }

    /// The current metadata of the dataset at `path`, known to have been `meta`: a
    /// committed dataset never changes; a staged one may have been resized, or
    /// replaced (`NOT_FOUND` when a group took its place).
    pub fn dataset_meta(&self, path: &str, meta: &DatasetMeta) -> Result<DatasetMeta> {
        match self {
            View::Committed { .. } => Ok(meta.clone()),
            View::Staged(stage) => match stage.node(path)? {
                StagedNode::Dataset(m) => Ok(m),
                StagedNode::Group => Err(Error::new(
                    ErrorKind::NotFound,
                    format!("'{path}' is now a group"),
                )),
            },
        }
    }

    /// Names directly inside group `group`, sorted.
    pub fn keys(&self, group: &str) -> Result<Vec<String>> {
        match self {
            View::Committed { file, version } => file.keys(version, group),
            View::Staged(stage) => stage.keys(group),
        }
    }

    /// Whether `path` names a dataset or group: relative to the root, or absolute in
    /// the file (`/_version_data/versions/<version>/a/b`).
    pub fn has(&self, path: &str) -> Result<bool> {
        match self {
            View::Committed { file, version } => file.has(version, path),
            View::Staged(stage) => stage.has(path),
        }
    }

    /// Attributes of the object at `path` (`''`: the version itself).
    pub fn attrs(&self, path: &str) -> Result<Attrs> {
        match self {
            View::Committed { file, version } => file.attrs(version, path),
            View::Staged(stage) => stage.attrs(path),
        }
    }

    /// Reads a selection of the dataset at `path`.
    pub fn read_data(&self, path: &str, sel: &[AxisSel]) -> Result<ReadData> {
        Ok(match self {
            View::Committed { file, version } => file.read_data(version, path, sel)?.0,
            View::Staged(stage) => stage.read_data(path, sel)?.0,
        })
    }

    /// A committed dataset's selection from the read cache alone (see
    /// [`VersionedFile::read_cached_into`]); `None` when it cannot answer at once, and
    /// always for a staged version.
    pub fn read_cached_into(
        &self,
        path: &str,
        sel: &[AxisSel],
        max_bytes: usize,
        sink: &mut dyn ReadSink,
    ) -> Option<Result<()>> {
        match self {
            View::Committed { file, version } => file
                .read_cached_into(version, path, sel, max_bytes, sink)
                .map(|r| r.map(drop)),
            View::Staged(_) => None,
        }
    }

    /// A committed dataset's selection from the read cache alone (see
    /// [`VersionedFile::read_cached`]); `None` as for [`View::read_cached_into`].
    pub fn read_cached(
        &self,
        path: &str,
        sel: &[AxisSel],
        max_bytes: usize,
    ) -> Option<Result<ReadData>> {
        match self {
            View::Committed { file, version } => file
                .read_cached(version, path, sel, max_bytes)
                .map(|r| r.map(|(data, _)| data)),
            View::Staged(_) => None,
        }
    }

    /// Reads a selection into `sink`: from the read cache when it holds every chunk,
    /// else a whole read copied in with [`ReadSink::buffer`].
    pub fn read_into(&self, path: &str, sel: &[AxisSel], sink: &mut dyn ReadSink) -> Result<()> {
        if let Some(res) = self.read_cached_into(path, sel, usize::MAX, sink) {
            return res;
        }
        fill_sink(self.read_data(path, sel)?, sink)
    }
}

/// Copies a whole read result of fixed-size elements into `sink`; `DTYPE_MISMATCH` for
/// strings, which have no element bytes to copy.
pub fn fill_sink(data: ReadData, sink: &mut dyn ReadSink) -> Result<()> {
    match data {
        ReadData::Raw(bytes) => {
            let (buf, _) = sink.buffer(bytes.len(), true)?;
            buf.copy_from_slice(bytes.as_bytes());
            Ok(())
        }
        ReadData::Strings(_) => Err(Error::new(
            ErrorKind::DtypeMismatch,
            "a string dataset does not read into a typed array: use read()",
        )),
    }
}
