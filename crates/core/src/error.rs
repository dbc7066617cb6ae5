//! Errors of the engine. Every error carries an [`ErrorKind`] whose [`ErrorKind::code`]
//! is the stable string that the Node binding exposes as `error.code`.

use std::fmt;

/// What went wrong, independent of the message. Codes are part of the public API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A version name that is not in the file.
    VersionNotFound,
    /// A version name that is already taken (committed or being staged).
    VersionExists,
    /// No version at (or before) the requested time.
    NoVersionAtTime,
    /// An argument that is malformed or out of its domain.
    InvalidArgument,
    /// Data or selection shapes that do not agree.
    ShapeMismatch,
    /// An index or selection outside the dataset.
    OutOfBounds,
    /// Data of the wrong element type for the dataset.
    DtypeMismatch,
    /// A dtype this library cannot read or write.
    UnsupportedDtype,
    /// A path that names nothing in the version.
    NotFound,
    /// A path that already names something in the version.
    AlreadyExists,
    /// A dataset re-created with chunks, fill value or filters that differ from the
    /// ones fixed for its path.
    IncompatibleDataset,
    /// A write on a file opened read-only, or on a committed version.
    ReadOnly,
    /// Use of a closed file, or of a staged version that already finished.
    FileClosed,
    /// The file is locked by another writer.
    FileLocked,
    /// The file has no `_version_data` and cannot be initialised in this mode.
    NotVersionedFile,
    /// The file was written by a later format generation.
    UnsupportedFormat,
    /// The file's versioning structures are damaged.
    CorruptFile,
    /// The file does not exist (`r`, `r+`) or exists already (`x`).
    FileNotFound,
    /// A file that exists already where mode `x` needs a new one.
    FileExists,
    /// The file system is full (or the disk quota is exhausted): an operation that
    /// writes failed, and the file was left as the last successful one left it.
    NoSpace,
    /// The operating system reported an I/O error (a failing device, a file system
    /// gone read-only mid-write): the file was left as the last successful operation
    /// left it.
    IoError,
    /// The operating system refused access to the file, its journal or their directory
    /// (file modes, ownership): nothing was changed.
    PermissionDenied,
    /// libhdf5 reported an error that has no better category.
    Hdf5Error,
    /// The library broke one of its own invariants (a bug, e.g. a panic caught at
    /// the Node boundary): nothing was changed; please report it.
    InternalError,
}

impl ErrorKind {
    /// The stable SCREAMING_SNAKE code of this kind.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::VersionNotFound => "VERSION_NOT_FOUND",
            ErrorKind::VersionExists => "VERSION_EXISTS",
            ErrorKind::NoVersionAtTime => "NO_VERSION_AT_TIME",
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::ShapeMismatch => "SHAPE_MISMATCH",
            ErrorKind::OutOfBounds => "OUT_OF_BOUNDS",
            ErrorKind::DtypeMismatch => "DTYPE_MISMATCH",
            ErrorKind::UnsupportedDtype => "UNSUPPORTED_DTYPE",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::AlreadyExists => "ALREADY_EXISTS",
            ErrorKind::IncompatibleDataset => "INCOMPATIBLE_DATASET",
            ErrorKind::ReadOnly => "READ_ONLY",
            ErrorKind::FileClosed => "FILE_CLOSED",
            ErrorKind::FileLocked => "FILE_LOCKED",
            ErrorKind::NotVersionedFile => "NOT_VERSIONED_FILE",
            ErrorKind::UnsupportedFormat => "UNSUPPORTED_FORMAT",
            ErrorKind::CorruptFile => "CORRUPT_FILE",
            ErrorKind::FileNotFound => "FILE_NOT_FOUND",
            ErrorKind::FileExists => "FILE_EXISTS",
            ErrorKind::NoSpace => "NO_SPACE",
            ErrorKind::IoError => "IO_ERROR",
            ErrorKind::PermissionDenied => "PERMISSION_DENIED",
            ErrorKind::Hdf5Error => "HDF5_ERROR",
            ErrorKind::InternalError => "INTERNAL_ERROR",
        }
    }

    /// Every kind, for documentation and tests.
    pub const ALL: [ErrorKind; 24] = [
        ErrorKind::VersionNotFound,
        ErrorKind::VersionExists,
        ErrorKind::NoVersionAtTime,
        ErrorKind::InvalidArgument,
        ErrorKind::ShapeMismatch,
        ErrorKind::OutOfBounds,
        ErrorKind::DtypeMismatch,
        ErrorKind::UnsupportedDtype,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::IncompatibleDataset,
        ErrorKind::ReadOnly,
        ErrorKind::FileClosed,
        ErrorKind::FileLocked,
        ErrorKind::NotVersionedFile,
        ErrorKind::UnsupportedFormat,
        ErrorKind::CorruptFile,
        ErrorKind::FileNotFound,
        ErrorKind::FileExists,
        ErrorKind::NoSpace,
        ErrorKind::IoError,
        ErrorKind::PermissionDenied,
        ErrorKind::Hdf5Error,
        ErrorKind::InternalError,
    ];
}

/// An engine error: a kind and a message that tells the user what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The category, which maps to a stable code.
    pub kind: ErrorKind,
    /// Human-readable explanation.
    pub message: String,
}

impl Error {
    /// Builds an error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Result alias of the engine.
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand used across the crate: `Err(err(kind, msg))`.
pub(crate) fn err(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::new(kind, message)
}

/// Early-return helper: `bail!(Kind, "fmt", args)`.
macro_rules! bail {
    ($kind:ident, $($arg:tt)+) => {
        return Err($crate::error::Error::new($crate::error::ErrorKind::$kind, format!($($arg)+)))
    };
}
pub(crate) use bail;
