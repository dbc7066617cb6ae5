//! Helpers the engine's integration tests share: element conversions, selections,
//! and a look at a file's storage from outside the engine.
#![allow(dead_code, reason = "each test crate uses a part of these helpers")]

use vh5::io_trace::Op;
use vh5::{AxisSel, Values};

/// Float64s as the engine's element bytes.
pub(crate) fn f64s(v: &[f64]) -> Values {
    Values::Raw(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// The engine's element bytes as float64s.
pub(crate) fn to_f64(b: &Values) -> Vec<f64> {
    let Values::Raw(b) = b else {
        panic!("strings where numbers were expected")
    };
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The 1-D selection `[a, b)`.
pub(crate) fn slice(a: i64, b: i64) -> Vec<AxisSel> {
    vec![AxisSel::Slice {
        start: Some(a),
        stop: Some(b),
        step: 1,
    }]
}

/// Opens `path` read-only with libhdf5's default driver and no file lock, to look at
/// storage while this process may hold the file open for writing through the
/// engine's own driver (which libhdf5 treats as a different open).
pub(crate) fn peek(path: &str) -> hdf5::File {
    hdf5::File::with_options()
        .with_fapl(|p| p.file_locking(false))
        .open(path)
        .unwrap()
}

/// Slots in a dataset path's raw_data (0 when the path has no storage).
pub(crate) fn slots(file: &str, ds: &str, c0: u64) -> u64 {
    let f = peek(file);
    match f.dataset(&format!("_version_data/{ds}/raw_data")) {
        Ok(d) => d.shape()[0] as u64 / c0,
        Err(_) => 0,
    }
}

/// Makes a traced write or length change on `buf` (the bytes of the file or of its
/// journal, as a crash state replays them).
pub(crate) fn apply(buf: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Write(_, at, bytes) => {
            let at = *at as usize;
            if buf.len() < at + bytes.len() {
                buf.resize(at + bytes.len(), 0);
            }
            buf[at..at + bytes.len()].copy_from_slice(bytes);
        }
        Op::SetLen(_, len) => buf.resize(*len as usize, 0),
        _ => {}
    }
}
