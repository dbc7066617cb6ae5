//! A decoder of our own for version datasets' virtual layouts (docs/design/032): the
//! dataspace, datatype, fill value and mapping list of a version dataset, read from
//! its object header and its layout's global-heap object with positioned reads, in
//! one pass and without opening the dataset.
//!
//! Opening a virtual dataset makes libhdf5 decode every mapping into selections and
//! copy them into the dataset's creation properties; reading them back copies them
//! once more, then costs four calls a mapping. On 40,000 mappings that is most of a
//! second; this decoder does the same work in a few milliseconds.
//!
//! Invariant: the decoder answers only what libhdf5's own path
//! ([`read_mappings`](super::read_mappings) of an opened dataset) would answer, and
//! gives up (`None`) on anything else: a layout, encoding, selection or message it does
//! not know, a shared message, a checksum that does not match, a mapping outside the
//! dataset, a read that fails. The caller then takes libhdf5's path, which reports
//! the problem as before; correctness never depends on this module. Only what libhdf5
//! tells (the object's address, the file's address widths, a descriptor of the file
//! whose offsets are HDF5 addresses) is trusted; every byte read is bounds-checked.
//!
//! Formats decoded (HDF5 file format specification 3.x): object headers version 1
//! and 2 with their continuation blocks; the Dataspace (version 1 and 2), Fill Value
//! (version 1 to 3) and Data Layout (version 3 to 5, virtual class) messages; Global
//! Heap collections; the virtual mapping list libhdf5 stores in one heap object
//! (encodings 0 and 1, with shared and same-file names); hyperslab selections
//! (versions 1 to 3, regular, or one block).

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::vds::Mapping;
use crate::grid::Axes;

/// Byte widths of the file's addresses and lengths (its superblock's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Widths {
    /// Size of an address.
    pub addr: usize,
    /// Size of a length.
    pub len: usize,
}

/// A version dataset as its object header describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// Current dimensions (Dataspace message).
    pub shape: Vec<u64>,
    /// Body of the Datatype message, as `H5Tdecode` takes it after its two-byte prefix.
    pub dtype: Vec<u8>,
    /// The Fill Value message.
    pub fill: Fill,
    /// Address and index of the global-heap object holding the mapping list.
    pub heap: (u64, u32),
    /// The names of its attributes, sorted, when all of them are Attribute messages in
    /// the header (compact storage); `None` when some may be elsewhere (dense
    /// storage, shared messages) or a name does not decode.
    pub attr_names: Option<Vec<String>>,
}

/// A fill value as libhdf5 reads it from a Fill Value message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fill {
    /// No fill value (libhdf5: `H5D_FILL_VALUE_UNDEFINED`).
    Undefined,
    /// The library default, zeros (`H5D_FILL_VALUE_DEFAULT`).
    Default,
    /// A value, as bytes of the dataset's datatype (`H5D_FILL_VALUE_USER_DEFINED`).
    Value(Vec<u8>),
}

/// One mapping as stored: the virtual and source regions, each a start and an extent,
/// and the source dataset's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawMapping {
    /// Start and extent of the region in the virtual dataset.
    pub virt: (Axes<u64>, Axes<u64>),
    /// Start and extent of the region in the source dataset.
    pub src: (Axes<u64>, Axes<u64>),
}

/// Largest block read in one piece (object header chunks, heap collections): far above
/// any version dataset's (40,000 mappings take about 4 MiB), far below a bad length's.
const MAX_BLOCK: u64 = 1 << 30;

/// Most object header chunks followed (a loop of continuations ends here).
const MAX_CHUNKS: usize = 4096;

/// A little-endian cursor over bytes; every read is bounds-checked.
struct Cur<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Cur<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cur { b, p: 0 }
    }

    fn left(&self) -> usize {
        self.b.len() - self.p
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.p..self.p.checked_add(n)?)?;
        self.p += n;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.bytes(1)?[0])
    }

    /// An unsigned little-endian integer of `n` (1 to 8) bytes.
    fn uint(&mut self, n: usize) -> Option<u64> {
        if n == 0 || n > 8 {
            return None;
        }
        let s = self.bytes(n)?;
        Some(s.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    }

    fn u16(&mut self) -> Option<u16> {
        Some(self.uint(2)? as u16)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(self.uint(4)? as u32)
    }

    /// A NUL-terminated string (without its NUL).
    fn cstr(&mut self) -> Option<&'a [u8]> {
        let rest = self.b.get(self.p..)?;
        let n = rest.iter().position(|&c| c == 0)?;
        self.p += n + 1;
        Some(&rest[..n])
    }
}

/// Bob Jenkins' lookup3 `hashlittle`, which HDF5 uses for its metadata checksums.
pub(crate) fn lookup3(data: &[u8], init: u32) -> u32 {
    let word = |s: &[u8], i: usize| -> u32 {
        let mut w = [0u8; 4];
        let end = (i + 4).min(s.len());
        if i < end {
            w[..end - i].copy_from_slice(&s[i..end]);
        }
        u32::from_le_bytes(w)
    };
    let add = |v: &mut [u32; 3], k: &[u8]| {
        for (i, x) in v.iter_mut().enumerate() {
            *x = x.wrapping_add(word(k, 4 * i));
        }
    };
    let start = 0xdead_beef_u32
        .wrapping_add(data.len() as u32)
        .wrapping_add(init);
    let mut v = [start; 3];
    let mut k = data;
    while k.len() > 12 {
        add(&mut v, k);
        // mix(a, b, c): each step x -= z; x ^= z <<< r; z += y, the roles turning.
        for (i, r) in [4, 6, 8, 16, 19, 4].into_iter().enumerate() {
            let (x, y, z) = (i % 3, (i + 1) % 3, (i + 2) % 3);
            v[x] = v[x].wrapping_sub(v[z]) ^ v[z].rotate_left(r);
            v[z] = v[z].wrapping_add(v[y]);
        }
        k = &k[12..];
    }
    if k.is_empty() {
        return v[2];
    }
    // The last 1 to 12 bytes, zero-padded, then final(a, b, c): each step
    // x ^= y; x -= y <<< r, from c on, the roles turning.
    add(&mut v, k);
    for (i, r) in [14, 11, 25, 16, 4, 14, 24].into_iter().enumerate() {
        let x = (i + 2) % 3;
        let y = (x + 2) % 3;
        v[x] = (v[x] ^ v[y]).wrapping_sub(v[y].rotate_left(r));
    }
    v[2]
}

/// Whether `block` ends with the lookup3 checksum of the rest.
fn checksum_ok(block: &[u8]) -> bool {
    let Some(n) = block.len().checked_sub(4) else {
        return false;
    };
    lookup3(&block[..n], 0)
        == u32::from_le_bytes([block[n], block[n + 1], block[n + 2], block[n + 3]])
}

/// `len` bytes of `r` at `addr`; `None` on a failed or short read or an absurd length.
fn read_at(r: &File, addr: u64, len: u64) -> Option<Vec<u8>> {
    if len > MAX_BLOCK {
        return None;
    }
    let mut v = vec![0u8; len as usize];
    r.read_exact_at(&mut v, addr).ok()?;
    Some(v)
}

/// Up to `len` bytes of `r` at `addr` (fewer at the end of the file).
fn read_up_to(r: &File, addr: u64, len: usize) -> Option<Vec<u8>> {
    let mut v = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match r.read_at(&mut v[got..], addr + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    v.truncate(got);
    Some(v)
}

/// One object header message: its type, flags and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Message {
    /// Message type (1 dataspace, 3 datatype, 5 fill value, 8 layout, …).
    pub kind: u16,
    /// Message flags (bit 1: the body is a shared message's reference).
    pub flags: u8,
    /// The body.
    pub body: Vec<u8>,
}

const MSG_DATASPACE: u16 = 0x0001;
const MSG_DATATYPE: u16 = 0x0003;
const MSG_FILL: u16 = 0x0005;
const MSG_LAYOUT: u16 = 0x0008;
const MSG_ATTRIBUTE: u16 = 0x000C;
const MSG_CONTINUATION: u16 = 0x0010;
const MSG_ATTRIBUTE_INFO: u16 = 0x0015;
const MSG_FLAG_SHARED: u8 = 0x02;

/// The messages of the object header at `addr`, continuation blocks followed.
pub(crate) fn header_messages(r: &File, addr: u64, w: Widths) -> Option<Vec<Message>> {
    let head = read_up_to(r, addr, 64)?;
    let mut out = Vec::new();
    // Blocks still to parse: (address, length).
    let mut todo: Vec<(u64, u64)> = Vec::new();
    let v2 = head.starts_with(b"OHDR");
    let mut seen = 0usize;
    if v2 {
        let mut c = Cur::new(&head);
        c.bytes(4)?;
        if c.u8()? != 2 {
            return None;
        }
        let flags = c.u8()?;
        if flags & !0x3f != 0 {
            return None;
        }
        if flags & 0x20 != 0 {
            c.bytes(16)?;
        }
        if flags & 0x10 != 0 {
            c.bytes(4)?;
        }
        let size = c.uint(1 << (flags & 3))?;
        let prefix = c.p as u64;
        let chunk = read_at(r, addr, prefix.checked_add(size)?.checked_add(4)?)?;
        if !checksum_ok(&chunk) {
            return None;
        }
        let order = flags & 0x04 != 0;
        messages_v2(
            &chunk[prefix as usize..chunk.len() - 4],
            order,
            w,
            &mut out,
            &mut todo,
        )?;
        while let Some((a, len)) = todo.pop() {
            seen += 1;
            if seen > MAX_CHUNKS {
                return None;
            }
            let block = read_at(r, a, len)?;
            if !block.starts_with(b"OCHK") || !checksum_ok(&block) {
                return None;
            }
            messages_v2(&block[4..block.len() - 4], order, w, &mut out, &mut todo)?;
        }
    } else {
        let mut c = Cur::new(&head);
        if c.u8()? != 1 {
            return None;
        }
        c.bytes(7)?;
        let size = c.u32()?;
        // Messages start after the 16-byte prefix (12 bytes, aligned to 8).
        todo.push((addr.checked_add(16)?, u64::from(size)));
        while let Some((a, len)) = todo.pop() {
            seen += 1;
            if seen > MAX_CHUNKS {
                return None;
            }
            let block = read_at(r, a, len)?;
            messages_v1(&block, w, &mut out, &mut todo)?;
        }
    }
    Some(out)
}

/// Records a message, or the block a continuation message points to.
fn note_message(
    kind: u16,
    flags: u8,
    body: &[u8],
    w: Widths,
    out: &mut Vec<Message>,
    todo: &mut Vec<(u64, u64)>,
) -> Option<()> {
    if kind == MSG_CONTINUATION {
        let mut c = Cur::new(body);
        let a = c.uint(w.addr)?;
        let len = c.uint(w.len)?;
        todo.push((a, len));
    } else {
        out.push(Message {
            kind,
            flags,
            body: body.to_vec(),
        });
    }
    Some(())
}

/// The messages of a version 1 object header block.
fn messages_v1(
    b: &[u8],
    w: Widths,
    out: &mut Vec<Message>,
    todo: &mut Vec<(u64, u64)>,
) -> Option<()> {
    let mut c = Cur::new(b);
    while c.left() >= 8 {
        let kind = c.u16()?;
        let size = c.u16()? as usize;
        let flags = c.u8()?;
        c.bytes(3)?;
        let body = c.bytes(size)?;
        note_message(kind, flags, body, w, out, todo)?;
    }
    Some(())
}

/// The messages of a version 2 object header block (without signature and checksum);
/// `order`: messages carry a creation order.
fn messages_v2(
    b: &[u8],
    order: bool,
    w: Widths,
    out: &mut Vec<Message>,
    todo: &mut Vec<(u64, u64)>,
) -> Option<()> {
    let hdr = if order { 6 } else { 4 };
    let mut c = Cur::new(b);
    // Fewer bytes than a message header are a gap.
    while c.left() >= hdr {
        let kind = u16::from(c.u8()?);
        let size = c.u16()? as usize;
        let flags = c.u8()?;
        if order {
            c.bytes(2)?;
        }
        let body = c.bytes(size)?;
        note_message(kind, flags, body, w, out, todo)?;
    }
    Some(())
}

/// The one message of `kind` among `msgs`; `None` when there is none, several, or it
/// is shared (stored elsewhere).
fn only(msgs: &[Message], kind: u16) -> Option<&[u8]> {
    let mut it = msgs.iter().filter(|m| m.kind == kind);
    let m = it.next()?;
    if it.next().is_some() || m.flags & MSG_FLAG_SHARED != 0 {
        return None;
    }
    Some(&m.body)
}

/// A version dataset's header: a simple dataspace, a datatype, a Fill Value message
/// and a virtual layout whose mapping list is in the global heap.
pub(crate) fn version_header(msgs: &[Message], w: Widths) -> Option<Header> {
    Some(Header {
        shape: dataspace(only(msgs, MSG_DATASPACE)?, w)?,
        dtype: only(msgs, MSG_DATATYPE)?.to_vec(),
        fill: fill(only(msgs, MSG_FILL)?)?,
        heap: virtual_layout(only(msgs, MSG_LAYOUT)?, w)?,
        attr_names: attribute_names(msgs, w),
    })
}

/// The names of the Attribute messages among `msgs`, sorted (libhdf5's name order:
/// bytewise). `None` when the Attribute Info message says they are in dense storage
/// (a fractal heap outside the header) or does not decode, an attribute is a shared
/// message, or a name is not a NUL-terminated UTF-8 string in a message of versions 1
/// to 3.
fn attribute_names(msgs: &[Message], w: Widths) -> Option<Vec<String>> {
    let mut infos = msgs.iter().filter(|m| m.kind == MSG_ATTRIBUTE_INFO);
    if let Some(info) = infos.next() {
        if infos.next().is_some() || info.flags & MSG_FLAG_SHARED != 0 {
            return None;
        }
        let mut c = Cur::new(&info.body);
        if c.u8()? != 0 {
            return None;
        }
        let flags = c.u8()?;
        if flags & !0x03 != 0 {
            return None;
        }
        if flags & 0x01 != 0 {
            c.u16()?;
        }
        // The fractal heap of dense storage: the undefined address when there is none.
        let undefined = if w.addr >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * w.addr)) - 1
        };
        if c.uint(w.addr)? != undefined {
            return None;
        }
    }
    let mut names = Vec::new();
    for m in msgs.iter().filter(|m| m.kind == MSG_ATTRIBUTE) {
        if m.flags & MSG_FLAG_SHARED != 0 {
            return None;
        }
        let mut c = Cur::new(&m.body);
        let version = c.u8()?;
        let _flags = c.u8()?;
        let name_len = c.u16()? as usize;
        let _type_len = c.u16()?;
        let _space_len = c.u16()?;
        match version {
            1 | 2 => {}
            3 => {
                // The name's character set (ASCII or UTF-8).
                c.u8()?;
            }
            _ => return None,
        }
        // The size counts the terminating NUL.
        let raw = c.bytes(name_len)?;
        let (&nul, name) = raw.split_last()?;
        if nul != 0 || name.contains(&0) {
            return None;
        }
        names.push(String::from_utf8(name.to_vec()).ok()?);
    }
    names.sort();
    Some(names)
}

/// The dimensions of a simple dataspace (rank 1 to 32).
fn dataspace(b: &[u8], w: Widths) -> Option<Vec<u64>> {
    let mut c = Cur::new(b);
    let version = c.u8()?;
    let rank = c.u8()? as usize;
    let _flags = c.u8()?;
    match version {
        1 => {
            c.bytes(5)?;
        }
        2 => {
            if c.u8()? != 1 {
                return None;
            }
        }
        _ => return None,
    }
    if rank == 0 || rank > 32 {
        return None;
    }
    (0..rank).map(|_| c.uint(w.len)).collect()
}

/// A Fill Value message, mapped as libhdf5 maps it (`H5O__fill_new_decode`).
fn fill(b: &[u8]) -> Option<Fill> {
    let mut c = Cur::new(b);
    match c.u8()? {
        1 | 2 => {
            c.bytes(2)?;
            if c.u8()? == 0 {
                return Some(Fill::Undefined);
            }
            let size = c.u32()? as i32;
            match size {
                0 => Some(Fill::Default),
                n if n > 0 => Some(Fill::Value(c.bytes(n as usize)?.to_vec())),
                _ => None,
            }
        }
        3 => {
            let flags = c.u8()?;
            if flags & !0x3f != 0 {
                return None;
            }
            let undefined = flags & 0x10 != 0;
            let have = flags & 0x20 != 0;
            match (undefined, have) {
                (true, true) => None,
                (true, false) => Some(Fill::Undefined),
                (false, true) => {
                    let n = c.u32()? as usize;
                    if n == 0 {
                        return None;
                    }
                    Some(Fill::Value(c.bytes(n)?.to_vec()))
                }
                (false, false) => Some(Fill::Default),
            }
        }
        _ => None,
    }
}

/// The heap object (address, index) of a virtual Data Layout message.
fn virtual_layout(b: &[u8], w: Widths) -> Option<(u64, u32)> {
    let mut c = Cur::new(b);
    let version = c.u8()?;
    if !(4..=5).contains(&version) || c.u8()? != 3 {
        return None;
    }
    let addr = c.uint(w.addr)?;
    // An undefined address (all ones): no mapping list stored.
    let undefined = if w.addr >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * w.addr)) - 1
    };
    if addr == undefined {
        return None;
    }
    Some((addr, c.u32()?))
}

/// Object `idx` of the global heap collection at `addr`.
pub(crate) fn heap_object(r: &File, addr: u64, idx: u32, w: Widths) -> Option<Vec<u8>> {
    if idx == 0 || idx > u32::from(u16::MAX) {
        return None;
    }
    let hdr_len = 8 + w.len;
    let head = read_at(r, addr, hdr_len as u64)?;
    let mut c = Cur::new(&head);
    if c.bytes(4)? != b"GCOL" || c.u8()? != 1 {
        return None;
    }
    c.bytes(3)?;
    let size = c.uint(w.len)?;
    if size < hdr_len as u64 {
        return None;
    }
    let col = read_at(r, addr, size)?;
    let mut c = Cur::new(&col);
    c.bytes(hdr_len)?;
    let obj_hdr = 8 + w.len;
    while c.left() >= obj_hdr {
        let begin = c.p;
        let i = c.u16()?;
        c.bytes(6)?;
        let n = usize::try_from(c.uint(w.len)?).ok()?;
        if u32::from(i) == idx {
            return Some(c.bytes(n)?.to_vec());
        }
        // The free space (index 0) counts its own header; objects are 8-aligned.
        let need = if i == 0 {
            n
        } else {
            obj_hdr.checked_add(n.checked_add(7)? & !7)?
        };
        if need == 0 {
            return None;
        }
        c.p = begin;
        c.bytes(need)?;
    }
    None
}

const VDS_SAME_FILE: u8 = 0x04;
const VDS_FILE_SHARED: u8 = 0x01;
const VDS_DSET_SHARED: u8 = 0x02;

/// The mapping list libhdf5 stores in a virtual dataset's heap object
/// (`H5D__virtual_store_layout`) of a dataset of dimensions `shape`: the mappings
/// ([`mapping_of`] each), and the source dataset name of the first one.
pub(crate) fn decode_mappings(
    blob: &[u8],
    w: Widths,
    shape: &[u64],
) -> Option<(Vec<Mapping>, Option<String>)> {
    if !checksum_ok(blob) {
        return None;
    }
    let body = &blob[..blob.len() - 4];
    let mut c = Cur::new(body);
    let version = c.u8()?;
    if version > 1 {
        return None;
    }
    let n = usize::try_from(c.uint(w.len)?).ok()?;
    // Each mapping takes at least two selections' headers.
    if n > body.len() / 16 {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    let mut first: Option<String> = None;
    // Names stored in full so far, for shared references (index of the mapping).
    let mut dset_names: Vec<Option<&[u8]>> = Vec::with_capacity(n);
    let mut file_named: Vec<bool> = Vec::with_capacity(n);
    for i in 0..n {
        let flags = if version >= 1 { c.u8()? } else { 0 };
        if flags & !(VDS_SAME_FILE | VDS_FILE_SHARED | VDS_DSET_SHARED) != 0 {
            return None;
        }
        // Source file name: only checked, never used (as by `read_mappings`).
        if flags & VDS_SAME_FILE != 0 {
            file_named.push(true);
        } else if flags & VDS_FILE_SHARED != 0 {
            let o = usize::try_from(c.uint(w.len)?).ok()?;
            if o >= i || !file_named[o] {
                return None;
            }
            file_named.push(true);
        } else {
            let name = c.cstr()?;
            if name.contains(&b'%') {
                return None;
            }
            file_named.push(true);
        }
        let dset: &[u8] = if flags & VDS_DSET_SHARED != 0 {
            let o = usize::try_from(c.uint(w.len)?).ok()?;
            if o >= i {
                return None;
            }
            dset_names[o]?
        } else {
            let name = c.cstr()?;
            // printf-style names ("%b") are libhdf5's to expand.
            if name.contains(&b'%') {
                return None;
            }
            name
        };
        dset_names.push(Some(dset));
        if i == 0 {
            first = Some(String::from_utf8_lossy(dset).into_owned());
        }
        let src = selection(&mut c)?;
        let virt = selection(&mut c)?;
        out.push(mapping_of(RawMapping { virt, src }, shape)?);
    }
    if c.left() != 0 {
        return None;
    }
    Some((out, first))
}

/// A hyperslab selection (`H5S_select_deserialize`) that is one contiguous block, as
/// libhdf5 reports it through `H5Sget_regular_hyperslab`: its start and extent.
fn selection(c: &mut Cur) -> Option<(Axes<u64>, Axes<u64>)> {
    // Hyperslabs only (not points, all, or none).
    if c.u32()? != 2 {
        return None;
    }
    let version = c.u32()?;
    let (flags, enc) = match version {
        1 => {
            c.bytes(8)?;
            (0u8, 4usize)
        }
        2 => {
            let f = c.u8()?;
            c.bytes(4)?;
            (f, 8)
        }
        3 => {
            let f = c.u8()?;
            (f, c.u8()? as usize)
        }
        _ => return None,
    };
    if flags & !1 != 0 || !matches!(enc, 2 | 4 | 8) {
        return None;
    }
    let rank = c.u32()? as usize;
    if rank == 0 || rank > 32 {
        return None;
    }
    // An all-ones value is "unlimited".
    let unlimited = if enc == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * enc)) - 1
    };
    let mut start = Axes::with_capacity(rank);
    let mut extent = Axes::with_capacity(rank);
    if flags & 1 != 0 {
        if version < 2 {
            return None;
        }
        for _ in 0..rank {
            let s = c.uint(enc)?;
            let stride = c.uint(enc)?;
            let count = c.uint(enc)?;
            let block = c.uint(enc)?;
            if count == unlimited || block == unlimited || count == 0 || block == 0 {
                return None;
            }
            // As `regular_block` reads libhdf5's answer.
            let e = if count == 1 {
                block
            } else if block == 1 && stride == 1 {
                count
            } else {
                return None;
            };
            s.checked_add(e)?;
            start.push(s);
            extent.push(e);
        }
    } else {
        // A list of blocks: only one block is one contiguous region.
        if c.uint(enc)? != 1 {
            return None;
        }
        let lo: Axes<u64> = (0..rank).map(|_| c.uint(enc)).collect::<Option<_>>()?;
        for &l in &lo {
            let h = c.uint(enc)?;
            if h < l || h == u64::MAX {
                return None;
            }
            start.push(l);
            extent.push(h - l + 1);
        }
    }
    Some((start, extent))
}

/// A version dataset's mapping from its stored form, with the checks of
/// [`read_mappings`](super::read_mappings) and of libhdf5's open: `None` where either
/// would refuse (the caller then takes libhdf5's path, which says why).
pub(crate) fn mapping_of(m: RawMapping, shape: &[u64]) -> Option<Mapping> {
    let (vstart, vext) = m.virt;
    let (sstart, sext) = m.src;
    if vext != sext || vstart.len() != shape.len() || sstart.iter().skip(1).any(|&s| s != 0) {
        return None;
    }
    if vstart
        .iter()
        .zip(&vext)
        .zip(shape)
        .any(|((&s, &e), &d)| s + e > d)
    {
        return None;
    }
    Some(Mapping {
        vstart: vstart.to_vec(),
        extent: vext.to_vec(),
        src_row: sstart[0],
    })
}

/// Everything of a version dataset the object header at `addr` holds: its header
/// and its mappings with the first one's source name.
pub(crate) fn read_version(
    r: &File,
    addr: u64,
    w: Widths,
) -> Option<(Header, Vec<Mapping>, Option<String>)> {
    let msgs = header_messages(r, addr, w)?;
    let h = version_header(&msgs, w)?;
    let blob = heap_object(r, h.heap.0, h.heap.1, w)?;
    let (maps, source) = decode_mappings(&blob, w, &h.shape)?;
    Some((h, maps, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Widths = Widths { addr: 8, len: 8 };
    /// A 1-D dataset large enough for every mapping of these tests.
    const D: &[u64] = &[1 << 20];

    #[test]
    fn lookup3_matches_the_reference_values() {
        // From the comments of Bob Jenkins' lookup3.c.
        assert_eq!(lookup3(b"", 0), 0xdeadbeef);
        assert_eq!(lookup3(b"Four score and seven years ago", 0), 0x17770551);
        assert_eq!(lookup3(b"Four score and seven years ago", 1), 0xcd628161);
    }

    /// A regular hyperslab selection, version 3 with 8-byte values.
    fn regular(dims: &[(u64, u64, u64, u64)]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(2u32.to_le_bytes());
        v.extend(3u32.to_le_bytes());
        v.push(1);
        v.push(8);
        v.extend((dims.len() as u32).to_le_bytes());
        for &(s, st, c, b) in dims {
            for x in [s, st, c, b] {
                v.extend(x.to_le_bytes());
            }
        }
        v
    }

    /// A block-list selection, version 1 (4-byte values).
    fn blocks(list: &[(&[u32], &[u32])]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(2u32.to_le_bytes());
        v.extend(1u32.to_le_bytes());
        v.extend([0u8; 8]);
        v.extend((list[0].0.len() as u32).to_le_bytes());
        v.extend((list.len() as u32).to_le_bytes());
        for (lo, hi) in list {
            for x in lo.iter().chain(hi.iter()) {
                v.extend(x.to_le_bytes());
            }
        }
        v
    }

    /// A heap object of mappings (encoding 1, same-file names, later names shared).
    fn blob(maps: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut v = vec![1u8];
        v.extend((maps.len() as u64).to_le_bytes());
        for (i, (src, virt)) in maps.iter().enumerate() {
            if i == 0 {
                v.push(VDS_SAME_FILE);
                v.extend(b"/raw\0");
            } else {
                v.push(VDS_SAME_FILE | VDS_DSET_SHARED);
                v.extend(0u64.to_le_bytes());
            }
            v.extend(src);
            v.extend(virt);
        }
        let sum = lookup3(&v, 0);
        v.extend(sum.to_le_bytes());
        v
    }

    #[test]
    fn decodes_regular_and_one_block_selections() {
        let b = blob(&[
            (regular(&[(8, 1, 1, 4)]), regular(&[(0, 1, 1, 4)])),
            (blocks(&[(&[4], &[7])]), regular(&[(4, 1, 4, 1)])),
        ]);
        let (maps, name) = decode_mappings(&b, W, &[8]).unwrap();
        assert_eq!(name.as_deref(), Some("/raw"));
        assert_eq!(
            maps,
            vec![
                Mapping {
                    vstart: vec![0],
                    extent: vec![4],
                    src_row: 8
                },
                Mapping {
                    vstart: vec![4],
                    extent: vec![4],
                    src_row: 4
                },
            ]
        );
        // Outside the dataset: libhdf5 refuses to open it.
        assert_eq!(decode_mappings(&b, W, &[7]), None);
    }

    #[test]
    fn gives_up_on_what_it_does_not_know() {
        let ok = (regular(&[(0, 1, 1, 4)]), regular(&[(0, 1, 1, 4)]));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "two blocks",
                blob(&[(blocks(&[(&[0], &[1]), (&[4], &[5])]), ok.1.clone())]),
            ),
            ("strided", blob(&[(regular(&[(0, 2, 2, 1)]), ok.1.clone())])),
            (
                "unlimited",
                blob(&[(regular(&[(0, 4, u64::MAX, 4)]), ok.1.clone())]),
            ),
            (
                "empty block",
                blob(&[(regular(&[(0, 1, 1, 0)]), ok.1.clone())]),
            ),
            ("a point selection", {
                let mut s = ok.0.clone();
                s[0] = 1;
                blob(&[(s, ok.1.clone())])
            }),
        ];
        for (what, b) in cases {
            assert_eq!(decode_mappings(&b, W, D), None, "{what}");
        }
        let good = blob(std::slice::from_ref(&ok));
        assert!(decode_mappings(&good, W, D).is_some());
        let mut bad = good.clone();
        bad[12] ^= 1;
        assert_eq!(decode_mappings(&bad, W, D), None, "a wrong checksum");
        assert_eq!(
            decode_mappings(&good[..good.len() - 1], W, D),
            None,
            "truncated"
        );
        let mut v2 = good.clone();
        v2[0] = 2;
        assert_eq!(decode_mappings(&v2, W, D), None, "an unknown encoding");
        // Another shape of source and virtual region: read_mappings reports it.
        let b = blob(&[(
            regular(&[(0, 1, 1, 4), (0, 1, 1, 1)]),
            regular(&[(0, 1, 1, 2), (0, 1, 1, 2)]),
        )]);
        assert_eq!(decode_mappings(&b, W, &[4, 4]), None);
    }
}
