//! Version datasets whose mapping list we encode ourselves
//! (docs/design/033-own-mapping-lists.md).
//!
//! libhdf5 builds a virtual dataset's mapping list from one `H5Pset_virtual` call per
//! mapping, then copies the list (every selection of it) several times while it
//! creates the dataset: for 40,000 mappings that is most of a one-chunk commit. The
//! list it finally writes is one global-heap object whose bytes are fully determined
//! by the mappings. So for a version dataset we:
//! 1. encode that object ourselves ([`encode_list`]), byte for byte what libhdf5
//!    writes for the same mappings under the file's format bounds;
//! 2. create the virtual dataset with no mappings: its layout message then holds an
//!    undefined heap address;
//! 3. store the object in the global heap through libhdf5, as the one variable-length
//!    element of an anonymous dataset, which is deleted again (libhdf5 never frees
//!    the heap objects of a deleted dataset's variable-length data), and read back
//!    the heap id the element was given;
//! 4. once the dataset is closed (its header evicted from libhdf5's cache, so no
//!    stale copy of it remains), write that heap id into its layout message
//!    ([`ListPatch::apply`]), through the file driver, inside the open transaction.
//!
//! The result is exactly the file libhdf5 would have written: the same header, the
//! same heap object. Only files whose format bounds give version 1 object headers,
//! version 0 mapping lists and version 1 selections qualify, and only selections whose
//! coordinates fit 32 bits; the others take libhdf5's path.

use std::ffi::{c_void, CStr};

use hdf5_sys::h5::haddr_t;
use hdf5_sys::h5d::*;
use hdf5_sys::h5f::*;
use hdf5_sys::h5i::{hid_t, H5Iget_file_id};
use hdf5_sys::h5o::*;
use hdf5_sys::h5p::*;
use hdf5_sys::h5s::*;
use hdf5_sys::h5t::*;

use super::journal;
use super::layout::lookup3;
use super::vds::Mapping;
use super::{h5err, locked, Hid};
use crate::error::{bail, Result};

extern "C" {
    fn H5VLnative_token_to_addr(
        loc_id: hid_t,
        token: H5O_token_t,
        addr: *mut haddr_t,
    ) -> hdf5_sys::h5::herr_t;
}

/// Mapping lists of fewer mappings are left to libhdf5. Below about 30 mappings its
/// `H5Pset_virtual` path is cheaper than our four steps (the anonymous carrier, the
/// reopen and the patch cost about 0.3 ms a dataset); above, its per-mapping copies
/// grow quadratically (docs/design/033-own-mapping-lists.md).
const OWN_LIST_MIN: usize = 32;

/// The number of mappings from which a version dataset's list is encoded here:
/// [`OWN_LIST_MIN`]. The test build reads `VH5_OWN_LIST_MIN` from the environment
/// once, so that the fault, crash and interop specs can send small datasets down
/// this path too; the published build has no such hook.
pub(crate) fn own_list_min() -> usize {
    #[cfg(feature = "test-hooks")]
    {
        static MIN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *MIN.get_or_init(|| {
            std::env::var("VH5_OWN_LIST_MIN")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .map_or(OWN_LIST_MIN, |n| n.max(1))
        })
    }
    #[cfg(not(feature = "test-hooks"))]
    OWN_LIST_MIN
}

/// One hyperslab selection of one block, version 1 (32-bit coordinates): `start` and
/// `start + extent - 1` per axis. `None` when a coordinate does not fit 32 bits.
fn selection(out: &mut Vec<u8>, start: &[u64], extent: &[u64]) -> Option<()> {
    let rank = extent.len();
    // Selection type (hyperslab), version 1, 4 reserved bytes, then the length of
    // what follows: rank, block count, the block's corners.
    let len = 8 + 8 * rank;
    for v in [2u32, 1, 0, len as u32, rank as u32, 1] {
        out.extend(v.to_le_bytes());
    }
    for &s in start {
        out.extend(u32::try_from(s).ok()?.to_le_bytes());
    }
    for (&s, &e) in start.iter().zip(extent) {
        let end = s.checked_add(e.checked_sub(1)?)?;
        out.extend(u32::try_from(end).ok()?.to_le_bytes());
    }
    Some(())
}

/// The global-heap object libhdf5 writes for a version dataset's mappings over
/// `raw_path` in the same file (`.`): encoding version 0, the mapping count, each
/// mapping's source file and dataset names, source and virtual selections, then the
/// lookup3 checksum. `None` when a coordinate does not fit 32 bits (libhdf5 then
/// writes version 2 selections) or there are no mappings.
pub(crate) fn encode_list(raw_path: &CStr, mappings: &[Mapping]) -> Option<Vec<u8>> {
    let rank = mappings.first()?.extent.len();
    let name = raw_path.to_bytes_with_nul();
    let entry = 2 + name.len() + 2 * (24 + 8 * rank);
    let mut out = Vec::with_capacity(9 + entry * mappings.len() + 4);
    out.push(0);
    out.extend((mappings.len() as u64).to_le_bytes());
    let mut sstart = vec![0u64; rank];
    for m in mappings {
        if m.extent.len() != rank || m.vstart.len() != rank {
            return None;
        }
        out.extend(b".\0");
        out.extend(name);
        sstart[0] = m.src_row;
        selection(&mut out, &sstart, &m.extent)?;
        selection(&mut out, &m.vstart, &m.extent)?;
    }
    let sum = lookup3(&out, 0);
    out.extend(sum.to_le_bytes());
    Some(out)
}

/// Whether the file of `loc` writes what [`encode_list`] assumes (format bounds below
/// 1.12: version 0 lists of version 1 one-block selections), with 8-byte addresses
/// and lengths, through our file driver.
fn qualifies(file: &Hid) -> Result<bool> {
    // SAFETY: `file` is open; the property lists are owned by Hids; the outputs are
    // plain values written by libhdf5.
    unsafe {
        let fapl = hid!(
            "reading the file's access properties",
            H5Fget_access_plist(file.id())
        );
        let (mut low, mut high) = (
            H5F_libver_t::H5F_LIBVER_EARLIEST,
            H5F_libver_t::H5F_LIBVER_EARLIEST,
        );
        ck!(
            "reading the file's format bounds",
            H5Pget_libver_bounds(fapl.id(), &mut low, &mut high)
        );
        // Below 1.12's bounds a one-block selection is of version 1; below 2.0's
        // the list is of version 0.
        if !matches!(
            low,
            H5F_libver_t::H5F_LIBVER_EARLIEST
                | H5F_libver_t::H5F_LIBVER_V18
                | H5F_libver_t::H5F_LIBVER_V110
        ) {
            return Ok(false);
        }
        let fcpl = hid!(
            "reading the file's creation properties",
            H5Fget_create_plist(file.id())
        );
        let (mut a, mut l) = (0usize, 0usize);
        ck!(
            "reading the file's address size",
            H5Pget_sizes(fcpl.id(), &mut a, &mut l)
        );
        if (a, l) != (8, 8) {
            return Ok(false);
        }
    }
    journal::read_through(file, 0, &mut [0u8; 8])
}

/// What is left to do once a version dataset made by [`create_empty`] is closed:
/// write the heap id of its mapping list into its layout message.
#[derive(Debug)]
#[must_use = "the dataset reads as fill values until its layout is written"]
pub(crate) struct ListPatch {
    /// The dataset, as libhdf5 names it.
    token: H5O_token_t,
    /// The dataset's object header.
    header: u64,
    /// The heap id of the mapping list: collection address and object index.
    heap: (u64, u32),
}

/// Stops as soon as the file driver saw an I/O error: libhdf5 goes on after a failed
/// write over a state that no longer matches the file, and was seen to crash on the
/// next step here (what was written is undone with the transaction).
fn stop_on_fault(file: &Hid) -> Result<()> {
    match journal::fault(file) {
        Some(f) => Err(f.to_error("while writing a version dataset's mapping list")),
        None => Ok(()),
    }
}

/// Stores `blob` in the global heap as the one element of an anonymous
/// variable-length dataset, which is deleted again, and returns the object's heap id.
///
/// # Safety
/// Under the libhdf5 lock; `file` is open.
unsafe fn store_in_heap(file: &Hid, blob: &[u8]) -> Result<(u64, u32)> {
    // SAFETY: as the caller promises; every id is owned by a Hid; `v` points at
    // `blob`, which outlives the write.
    unsafe {
        let t = hid!(
            "creating the list's heap type",
            H5Tvlen_create(*H5T_NATIVE_UCHAR)
        );
        let space = hid!(
            "creating a scalar space",
            H5Screate(H5S_class_t::H5S_SCALAR)
        );
        let dcpl = hid!(
            "creating creation properties",
            H5Pcreate(*H5P_CLS_DATASET_CREATE)
        );
        ck!(
            "setting a contiguous layout",
            H5Pset_layout(dcpl.id(), H5D_layout_t::H5D_CONTIGUOUS)
        );
        ck!(
            "setting early allocation",
            H5Pset_alloc_time(dcpl.id(), H5D_alloc_time_t::H5D_ALLOC_TIME_EARLY)
        );
        let ds = hid!(
            "creating the mapping list's carrier",
            H5Dcreate_anon(file.id(), t.id(), space.id(), dcpl.id(), H5P_DEFAULT)
        );
        stop_on_fault(file)?;
        let v = hvl_t {
            len: blob.len(),
            p: blob.as_ptr() as *mut c_void,
        };
        ck!(
            "storing the mapping list",
            H5Dwrite(
                ds.id(),
                t.id(),
                H5S_ALL,
                H5S_ALL,
                H5P_DEFAULT,
                &v as *const hvl_t as *const c_void
            )
        );
        stop_on_fault(file)?;
        ck!("flushing the mapping list's carrier", H5Dflush(ds.id()));
        stop_on_fault(file)?;
        let at = H5Dget_offset(ds.id());
        if at == haddr_t::MAX {
            bail!(InternalError, "the mapping list's carrier has no storage");
        }
        // The stored element: sequence length (u32), collection address, index (u32).
        let mut id = [0u8; 16];
        if !journal::read_through(file, at, &mut id)? {
            bail!(InternalError, "the file's driver changed under a commit");
        }
        let len = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
        let mut a = [0u8; 8];
        a.copy_from_slice(&id[4..12]);
        let idx = u32::from_le_bytes([id[12], id[13], id[14], id[15]]);
        if len as usize != blob.len() {
            bail!(
                InternalError,
                "the mapping list was stored as {len} bytes, not {}",
                blob.len()
            );
        }
        Ok((u64::from_le_bytes(a), idx))
    }
}

/// Creates the version dataset `name` under `loc` with no mappings (type `t`, space
/// `space`, creation properties `dcpl` without a layout yet), with `blob` stored in
/// the global heap for it. `None` when the file does not qualify (the caller then
/// takes libhdf5's path).
///
/// # Safety
/// Under the libhdf5 lock; the ids are open.
pub(crate) unsafe fn create_empty(
    loc: &Hid,
    name: &CStr,
    t: &Hid,
    space: &Hid,
    dcpl: &Hid,
    blob: &[u8],
) -> Result<Option<(Hid, ListPatch)>> {
    // SAFETY: as the caller promises; ids are owned by Hids; the info struct and the
    // address are plain data written by libhdf5.
    unsafe {
        let file = hid!("finding the dataset's file", H5Iget_file_id(loc.id()));
        if !qualifies(&file)? {
            return Ok(None);
        }
        ck!(
            "setting a virtual layout",
            H5Pset_layout(dcpl.id(), H5D_layout_t::H5D_VIRTUAL)
        );
        let ds = hid!(
            &format!("creating version dataset '{}'", name.to_string_lossy()),
            H5Dcreate2(
                loc.id(),
                name.as_ptr(),
                t.id(),
                space.id(),
                H5P_DEFAULT,
                dcpl.id(),
                H5P_DEFAULT
            )
        );
        stop_on_fault(&file)?;
        let mut info: H5O_info2_t = std::mem::zeroed();
        ck!(
            "reading the version dataset's address",
            H5Oget_info3(ds.id(), &mut info, H5O_INFO_BASIC)
        );
        let mut header: haddr_t = 0;
        ck!(
            "reading the version dataset's address",
            H5VLnative_token_to_addr(ds.id(), info.token, &mut header)
        );
        let heap = store_in_heap(&file, blob)?;
        Ok(Some((
            ds,
            ListPatch {
                token: info.token,
                header,
                heap,
            },
        )))
    }
}

fn read(file: &Hid, at: u64, n: usize) -> Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    if !journal::read_through(file, at, &mut b)? {
        bail!(InternalError, "the file's driver changed under a commit");
    }
    Ok(b)
}

fn write(file: &Hid, at: u64, b: &[u8]) -> Result<()> {
    if !journal::write_through(file, at, b)? {
        bail!(InternalError, "the file's driver changed under a commit");
    }
    Ok(())
}

/// A version 2 header chunk's checksummed span: its start and its length before the
/// checksum.
type Chunk = (u64, usize);

/// Message type of a data layout message, and of a continuation.
const MSG_LAYOUT: u16 = 0x0008;
const MSG_CONTINUATION: u16 = 0x0010;

impl ListPatch {
    /// Writes the mapping list's heap id into the layout message of the dataset, which
    /// must be closed by now (with evict-on-close, libhdf5 then holds no copy of its
    /// header), and the checksum of the header chunk that holds it (version 2
    /// headers). Fails with `INTERNAL_ERROR` when the header is not as
    /// [`create_empty`] made it (a layout message that is virtual with no list).
    pub(crate) fn apply(self, file: &Hid) -> Result<()> {
        locked(|| {
            // The header is in libhdf5's metadata accumulator, if not in the file yet:
            // flushing an object of the file writes the accumulator out and empties it,
            // so that nothing in libhdf5 holds the header's bytes while we change them.
            stop_on_fault(file)?;
            // SAFETY: `file` is open; the token came from libhdf5 for this file; the id
            // is owned by a Hid.
            unsafe {
                let ds = hid!(
                    "opening a new version dataset",
                    H5Oopen_by_token(file.id(), self.token)
                );
                ck!("flushing a new version dataset", H5Oflush(ds.id()));
            }
            stop_on_fault(file)?;
            let (at, chunk) = self.layout_message(file)?;
            let mut id = [0u8; 12];
            id[..8].copy_from_slice(&self.heap.0.to_le_bytes());
            id[8..].copy_from_slice(&self.heap.1.to_le_bytes());
            write(file, at + 2, &id)?;
            if let Some((start, len)) = chunk {
                let b = read(file, start, len)?;
                write(file, start + len as u64, &lookup3(&b, 0).to_le_bytes())?;
            }
            Ok(())
        })
    }

    /// File offset of the body of the header's layout message, and for a version 2
    /// header the checksummed span of its chunk (start, length before the checksum).
    fn layout_message(&self, file: &Hid) -> Result<(u64, Option<Chunk>)> {
        let head = read(file, self.header, 24)?;
        // Blocks of messages: (address, length, checksummed chunk of a v2 header).
        let mut blocks: Vec<(u64, u64, Option<Chunk>)> = Vec::new();
        let v2 = head.starts_with(b"OHDR");
        let mut order = false;
        if v2 {
            let flags = head[5];
            order = flags & 0x04 != 0;
            let mut p =
                6 + if flags & 0x20 != 0 { 16 } else { 0 } + if flags & 0x10 != 0 { 4 } else { 0 };
            let w = 1usize << (flags & 3);
            let mut size = 0u64;
            for i in 0..w {
                size |= u64::from(head[p + i]) << (8 * i);
            }
            p += w;
            let start = self.header + p as u64;
            blocks.push((start, size, Some((self.header, p + size as usize))));
        } else if head[0] == 1 {
            let size = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
            blocks.push((self.header + 16, u64::from(size), None));
        } else {
            bail!(
                InternalError,
                "a new version dataset's object header at {} is of an unknown version ({:?})",
                self.header,
                &head[..8]
            );
        }
        let hdr = if !v2 {
            8
        } else if order {
            6
        } else {
            4
        };
        let mut seen = 0;
        while let Some((a, len, chunk)) = blocks.pop() {
            seen += 1;
            if seen > 64 || len > 1 << 20 {
                break;
            }
            let b = read(file, a, len as usize)?;
            let mut p = 0usize;
            while p + hdr <= b.len() {
                let (kind, size) = if v2 {
                    (
                        u16::from(b[p]),
                        u16::from_le_bytes([b[p + 1], b[p + 2]]) as usize,
                    )
                } else {
                    (
                        u16::from_le_bytes([b[p], b[p + 1]]),
                        u16::from_le_bytes([b[p + 2], b[p + 3]]) as usize,
                    )
                };
                let body = p + hdr;
                if body + size > b.len() {
                    break;
                }
                if kind == MSG_LAYOUT
                    && size >= 14
                    && b[body] == 4
                    && b[body + 1] == 3
                    && b[body + 2..body + 10] == [0xff; 8]
                {
                    return Ok((a + body as u64, chunk));
                }
                if kind == MSG_CONTINUATION && size >= 16 {
                    let mut x = [0u8; 8];
                    x.copy_from_slice(&b[body..body + 8]);
                    let mut y = [0u8; 8];
                    y.copy_from_slice(&b[body + 8..body + 16]);
                    let (ca, cl) = (u64::from_le_bytes(x), u64::from_le_bytes(y));
                    if v2 {
                        // "OCHK", messages, checksum.
                        if cl >= 8 {
                            blocks.push((ca + 4, cl - 8, Some((ca, cl as usize - 4))));
                        }
                    } else {
                        blocks.push((ca, cl, None));
                    }
                }
                p = body + size;
            }
        }
        bail!(
            InternalError,
            "a new version dataset's header at {} has no virtual layout message without a mapping list",
            self.header
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "a failing test panics with what it found"
    )]

    use super::*;
    use crate::dtype::Dtype;
    use crate::h5::format::create_version_dataset_by_own_list;
    use crate::h5::{
        create_group, create_raw_data, create_version_dataset_by_libhdf5, ds_set_extent,
        file_flush, file_open, open_dataset, read_mappings, FileOpen, Filters,
    };

    /// One mapping per chunk of `shape` in `chunks`, edge chunks trimmed, chunk `i` (C
    /// order) from slot `order(i)` of `slot_rows` rows.
    fn mappings(
        shape: &[u64],
        chunks: &[u64],
        slot_rows: u64,
        order: impl Fn(u64) -> u64,
    ) -> Vec<Mapping> {
        let grid: Vec<u64> = shape
            .iter()
            .zip(chunks)
            .map(|(s, c)| s.div_ceil(*c))
            .collect();
        let n: u64 = grid.iter().product();
        (0..n)
            .map(|i| {
                let mut rest = i;
                let mut coord = vec![0u64; grid.len()];
                for a in (0..grid.len()).rev() {
                    coord[a] = rest % grid[a];
                    rest /= grid[a];
                }
                let vstart: Vec<u64> = coord.iter().zip(chunks).map(|(k, c)| k * c).collect();
                let extent = vstart
                    .iter()
                    .zip(chunks)
                    .zip(shape)
                    .map(|((v, c), s)| (*c).min(s - v))
                    .collect();
                Mapping {
                    vstart,
                    extent,
                    src_row: order(i) * slot_rows,
                }
            })
            .collect()
    }

    fn count(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).filter(|w| *w == needle).count()
    }

    #[test]
    fn our_mapping_lists_are_libhdf5s_bytes_and_read_back_through_libhdf5() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lists.h5");
        let file = file_open(path.to_str().unwrap(), FileOpen::Truncate).unwrap();
        let cases: Vec<(&str, Vec<u64>, Vec<u64>, u64)> = vec![
            ("a", vec![10_000], vec![1000], 7),
            ("b", vec![130, 70], vec![16, 20], 3),
            ("c", vec![5, 6, 7], vec![2, 3, 4], 5),
            ("d", vec![3], vec![2], 1),
        ];
        let fill = 0f64.to_le_bytes();
        for (name, shape, chunks, step) in &cases {
            let g = create_group(&file, &format!("data/{name}")).unwrap();
            let raw =
                create_raw_data(&g, &Dtype::Float64, chunks, &fill, &Filters::default()).unwrap();
            let grid: u64 = shape
                .iter()
                .zip(chunks)
                .map(|(s, c)| s.div_ceil(*c))
                .product();
            let mut raw_dims = chunks.clone();
            raw_dims[0] = grid * chunks[0];
            ds_set_extent(&raw, &raw_dims).unwrap();
            let maps = mappings(shape, chunks, chunks[0], |i| (i * step) % grid);
            let raw_path = format!("/data/{name}/raw_data");
            let vg = create_group(&file, &format!("v/{name}")).unwrap();
            drop(
                create_version_dataset_by_libhdf5(
                    &vg,
                    "lib",
                    &Dtype::Float64,
                    shape,
                    &fill,
                    &raw_path,
                    &raw_dims,
                    &maps,
                )
                .unwrap(),
            );
            let (ds, patch) = create_version_dataset_by_own_list(
                &vg,
                "ours",
                &Dtype::Float64,
                shape,
                &fill,
                &raw_path,
                &maps,
            )
            .unwrap()
            .expect("this list and this file qualify");
            drop(ds);
            patch.apply(&file).unwrap();
            file_flush(&file).unwrap();
            for which in ["lib", "ours"] {
                let (got, src) = read_mappings(&open_dataset(&vg, which).unwrap())
                    .unwrap()
                    .unwrap();
                assert_eq!(got, maps, "{name}/{which}");
                assert_eq!(src.as_deref(), Some(raw_path.as_str()), "{name}/{which}");
            }
            let blob = encode_list(&std::ffi::CString::new(raw_path).unwrap(), &maps).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            // libhdf5's list and ours, the same bytes.
            assert_eq!(count(&bytes, &blob), 2, "{name}");
        }
    }

    #[test]
    fn coordinates_past_32_bits_are_left_to_libhdf5() {
        let big = Mapping {
            vstart: vec![0],
            extent: vec![10],
            src_row: u64::from(u32::MAX) - 5,
        };
        assert!(encode_list(c"/data/x/raw_data", &[big]).is_none());
        assert!(encode_list(c"/data/x/raw_data", &[]).is_none());
    }
}
