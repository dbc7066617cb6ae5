//! Arguments as a dynamically typed host language (JavaScript, Python) gives them,
//! checked and turned into the engine's types, with the defaults applied here once:
//! numbers are `f64` and must be whole where an integer is meant; selections come
//! axis by axis; options are optional strings and numbers.
//!
//! Defaults: open mode [`DEFAULT_MODE`] (`'a'`), gzip level [`DEFAULT_GZIP_LEVEL`]
//! (4), no compression, no shuffle, no Fletcher-32; the dtype of data given without
//! one is [`crate::values::default_dtype`].

use crate::error::{Error, ErrorKind, Result};
use crate::file::Mode;
use crate::grid::AxisSel;
use crate::h5::{Compression, Filters};
use crate::hash::HashKind;

/// The open mode when none is given: read-write, created if missing.
pub const DEFAULT_MODE: &str = "a";

/// The gzip level when compression is `'gzip'` and no level is given.
pub const DEFAULT_GZIP_LEVEL: u32 = 4;

/// Largest integer a double holds exactly (2^53 - 1).
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

/// A whole number given as a double (`what` names it in the message).
pub fn int(v: f64, what: &str) -> Result<i64> {
    if !v.is_finite() || v.fract() != 0.0 || v.abs() > MAX_SAFE_INTEGER as f64 {
        return Err(invalid(format!("{what} must be a whole number, got {v}")));
    }
    Ok(v as i64)
}

/// A shape or chunk shape given as doubles: whole, not negative.
pub fn dims(v: &[f64], what: &str) -> Result<Vec<u64>> {
    v.iter()
        .map(|&d| {
            let i = int(d, what)?;
            if i < 0 {
                return Err(invalid(format!(
                    "{what} entries must not be negative, got {d}"
                )));
            }
            Ok(i as u64)
        })
        .collect()
}

/// The open mode `mode`, or [`DEFAULT_MODE`].
pub fn mode(mode: Option<&str>) -> Result<Mode> {
    Mode::parse(mode.unwrap_or(DEFAULT_MODE))
}

/// The chunk filters of a new dataset: `compression` `'gzip'` (level 0–9, default
/// [`DEFAULT_GZIP_LEVEL`]), `'lzf'`, or none (`None` or `'none'`).
pub fn filters(
    compression: Option<&str>,
    level: Option<f64>,
    shuffle: Option<bool>,
    fletcher32: Option<bool>,
) -> Result<Filters> {
    let compression = match compression {
        None | Some("none") => Compression::None,
        Some("gzip") => match level {
            None => Compression::Gzip(DEFAULT_GZIP_LEVEL),
            Some(l) if l.fract() == 0.0 && (0.0..=9.0).contains(&l) => Compression::Gzip(l as u32),
            Some(l) => {
                return Err(invalid(format!(
                    "gzip level {l} is out of range: use a whole number from 0 to 9"
                )))
            }
        },
        Some("lzf") => Compression::Lzf,
        Some(other) => {
            return Err(invalid(format!(
                "unknown compression '{other}': use 'gzip' or 'lzf'"
            )))
        }
    };
    Ok(Filters {
        shuffle: shuffle.unwrap_or(false),
        compression,
        fletcher32: fletcher32.unwrap_or(false),
    })
}

/// The chunk hash named `name` (`None`: the engine's default for a new dataset path).
pub fn hash(name: Option<&str>) -> Result<Option<HashKind>> {
    name.map(|h| {
        HashKind::parse(h)
            .ok_or_else(|| invalid(format!("unknown hash '{h}': use 'blake3' or 'sha256'")))
    })
    .transpose()
}

/// The size argument of `Dataset.resize`.
#[derive(Clone, Debug, PartialEq)]
pub enum Size {
    /// One number: the length of a 1-D dataset, or of `axis`.
    One(f64),
    /// The whole new shape.
    Shape(Vec<f64>),
}

/// The new shape of `Dataset.resize` (h5py's semantics): the whole shape, one length
/// for a 1-D dataset, or one length for `axis` (negative counts from the end;
/// `OUT_OF_BOUNDS` past the rank).
pub fn resized_shape(current: &[u64], size: Size, axis: Option<f64>) -> Result<Vec<u64>> {
    let n = match (size, axis) {
        (Size::One(n), None) => return dims(&[n], "size"),
        (Size::Shape(v), None) => return dims(&v, "shape"),
        (Size::Shape(_), Some(_)) => {
            return Err(invalid("size must be a single number when axis is given"))
        }
        (Size::One(n), Some(_)) => n,
    };
    let ax = axis.unwrap_or_default();
    if !ax.is_finite() || ax.fract() != 0.0 {
        return Err(invalid(format!("axis must be a whole number, got {ax}")));
    }
    let rank = current.len() as i64;
    let a = ax as i64;
    let idx = if a < 0 { a + rank } else { a };
    if !(0..rank).contains(&idx) {
        return Err(Error::new(
            ErrorKind::OutOfBounds,
            format!("axis {a} is out of bounds for a dataset of {rank} axes"),
        ));
    }
    let mut s = current.to_vec();
    s[idx as usize] = dims(&[n], "size")?[0];
    Ok(s)
}

/// The axis of `Dataset.append` for a dataset of `rank` axes: default 0, negative
/// counts from the end (`OUT_OF_BOUNDS` past the rank).
pub fn append_axis(rank: usize, axis: Option<f64>) -> Result<usize> {
    let ax = axis.unwrap_or_default();
    if !ax.is_finite() || ax.fract() != 0.0 {
        return Err(invalid(format!("axis must be a whole number, got {ax}")));
    }
    let (a, r) = (ax as i64, rank as i64);
    let idx = if a < 0 { a + r } else { a };
    if !(0..r).contains(&idx) {
        return Err(Error::new(
            ErrorKind::OutOfBounds,
            format!("axis {a} is out of bounds for a dataset of {rank} axes"),
        ));
    }
    Ok(idx as usize)
}

/// The `memoryBudget` of `stageVersion`, in bytes: a whole number, not negative.
pub fn memory_budget(v: f64) -> Result<u64> {
    let b = int(v, "memoryBudget")?;
    if b < 0 {
        return Err(invalid(format!(
            "memoryBudget must not be negative, got {v}: give the bytes of written chunks a staged version may hold"
        )));
    }
    Ok(b as u64)
}

/// One axis of a selection as a host gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum Axis {
    /// The whole axis (`null`).
    All,
    /// One index (the axis is dropped from the result).
    Index(f64),
    /// `[start, stop]` or `[start, stop, step]`, entries may be missing (`null`).
    Bounds(Vec<Option<f64>>),
    /// `{ start, stop, step }`.
    Slice {
        /// First coordinate (default 0; negative counts from the end).
        start: Option<f64>,
        /// One past the last coordinate (default the axis length).
        stop: Option<f64>,
        /// Stride (default 1).
        step: Option<f64>,
    },
    /// `{ indices }`: explicit coordinates.
    List(Vec<f64>),
}

/// A selection from its axes: at most one index list (as in h5py), bounds of two or
/// three entries, whole numbers throughout.
pub fn selection(axes: Vec<Axis>) -> Result<Vec<AxisSel>> {
    if axes.iter().filter(|a| matches!(a, Axis::List(_))).count() > 1 {
        return Err(invalid(
            "a selection takes at most one index list ({ indices }), as in h5py: read the other axes with slices",
        ));
    }
    let opt = |v: Option<f64>, w: &str| v.map(|v| int(v, w)).transpose();
    axes.into_iter()
        .map(|a| {
            Ok(match a {
                Axis::All => AxisSel::All,
                Axis::Index(i) => AxisSel::Index(int(i, "an index")?),
                Axis::Bounds(v) => {
                    if v.is_empty() || v.len() > 3 {
                        return Err(invalid("a slice is [start, stop] or [start, stop, step]; use { indices: [...] } for a list"));
                    }
                    AxisSel::Slice {
                        start: opt(v[0], "slice start")?,
                        stop: opt(v.get(1).copied().flatten(), "slice stop")?,
                        step: opt(v.get(2).copied().flatten(), "slice step")?.unwrap_or(1),
                    }
                }
                Axis::Slice { start, stop, step } => AxisSel::Slice {
                    start: opt(start, "slice start")?,
                    stop: opt(stop, "slice stop")?,
                    step: opt(step, "slice step")?.unwrap_or(1),
                },
                Axis::List(ix) => AxisSel::List(
                    ix.into_iter()
                        .map(|v| int(v, "an index"))
                        .collect::<Result<_>>()?,
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_one_axis_counts_from_the_end() {
        assert_eq!(
            resized_shape(&[4, 5], Size::One(7.0), Some(-1.0)).unwrap(),
            vec![4, 7]
        );
        assert_eq!(
            resized_shape(&[4, 5], Size::Shape(vec![7.0, 8.0]), None).unwrap(),
            vec![7, 8]
        );
        let e = resized_shape(&[4, 5], Size::One(7.0), Some(2.0)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::OutOfBounds);
        let e = resized_shape(&[4, 5], Size::Shape(vec![7.0]), Some(0.0)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
    }

    #[test]
    fn defaults_are_applied_here() {
        assert_eq!(
            filters(Some("gzip"), None, None, None).unwrap().compression,
            Compression::Gzip(DEFAULT_GZIP_LEVEL)
        );
        assert_eq!(
            filters(None, Some(3.0), None, None).unwrap(),
            Filters::default()
        );
        assert!(filters(Some("gzip"), Some(10.0), None, None).is_err());
        assert!(mode(None).is_ok());
        assert_eq!(hash(None).unwrap(), None);
    }

    #[test]
    fn selections_take_one_index_list() {
        let s = selection(vec![
            Axis::All,
            Axis::Bounds(vec![Some(1.0), None, Some(2.0)]),
        ])
        .unwrap();
        assert_eq!(
            s[1],
            AxisSel::Slice {
                start: Some(1),
                stop: None,
                step: 2
            }
        );
        let e = selection(vec![Axis::List(vec![1.0]), Axis::List(vec![2.0])]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(selection(vec![Axis::Index(1.5)]).is_err());
    }
}
