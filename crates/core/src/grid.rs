//! Chunk-grid geometry and selections. Pure logic: no HDF5 here.
//!
//! A dataset of `shape` is tiled by chunks of `chunks`; chunk `k` (one coordinate per
//! axis) covers `[k_i*c_i, min((k_i+1)*c_i, n_i))` on axis i. Chunk buffers are always
//! edge-trimmed and C-ordered. A selection resolves, per axis, into *pieces*: runs of
//! selected coordinates that fall into one chunk, so that reads and writes touch only
//! the chunks they need and copy whole rows where they can.

use crate::error::{bail, Result};
use smallvec::SmallVec;

/// Chunk coordinates (one per axis).
pub type ChunkCoord = Vec<u64>;

/// Number of chunks along each axis.
pub fn grid_dims(shape: &[u64], chunks: &[u64]) -> Vec<u64> {
    shape
        .iter()
        .zip(chunks)
        .map(|(&n, &c)| n.div_ceil(c))
        .collect()
}

/// The edge-trimmed extent of chunk `k`.
pub fn chunk_extent(shape: &[u64], chunks: &[u64], k: &[u64]) -> Axes<u64> {
    shape
        .iter()
        .zip(chunks)
        .zip(k)
        .map(|((&n, &c), &ki)| c.min(n.saturating_sub(ki * c)))
        .collect()
}

/// Product of the dimensions, as a usize; errors when it does not fit in memory terms.
pub fn volume(dims: &[u64]) -> Result<usize> {
    let mut v: u64 = 1;
    for &d in dims {
        v = match v.checked_mul(d) {
            Some(x) => x,
            None => bail!(
                InvalidArgument,
                "shape {dims:?} has more elements than can be addressed"
            ),
        };
    }
    match usize::try_from(v) {
        Ok(x) => Ok(x),
        Err(_) => bail!(
            InvalidArgument,
            "shape {dims:?} is too large for this machine"
        ),
    }
}

/// Iterates all chunk coordinates of a grid in C order.
pub fn all_chunks(grid: &[u64]) -> impl Iterator<Item = ChunkCoord> + '_ {
    let total: u64 = grid.iter().product();
    (0..total).map(move |mut lin| {
        let mut k = vec![0; grid.len()];
        for i in (0..grid.len()).rev() {
            k[i] = lin % grid[i];
            lin /= grid[i];
        }
        k
    })
}

/// Selection along one axis, as the user gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AxisSel {
    /// The whole axis.
    All,
    /// One coordinate; negative counts from the end. The axis is dropped from the
    /// result shape, as in NumPy.
    Index(i64),
    /// `start:stop:step` with Python semantics for negative and missing bounds;
    /// `step` must be positive.
    Slice {
        /// First coordinate (default 0).
        start: Option<i64>,
        /// One past the last (default the axis length).
        stop: Option<i64>,
        /// Stride, ≥ 1.
        step: i64,
    },
    /// A list of coordinates in any order, duplicates allowed.
    List(Vec<i64>),
}

/// One axis of a resolved selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// `count` coordinates `start, start+step, …`.
    Range {
        /// First coordinate.
        start: u64,
        /// Stride.
        step: u64,
        /// Number of coordinates.
        count: u64,
    },
    /// Explicit coordinates in output order.
    List(Vec<u64>),
}

impl Resolved {
    /// Number of selected coordinates.
    pub fn len(&self) -> u64 {
        match self {
            Resolved::Range { count, .. } => *count,
            Resolved::List(v) => v.len() as u64,
        }
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn norm_index(i: i64, n: u64, axis: usize) -> Result<u64> {
    let n_i = n as i128;
    let j = if i < 0 { i as i128 + n_i } else { i as i128 };
    if j < 0 || j >= n_i {
        bail!(
            OutOfBounds,
            "index {i} is out of bounds for axis {axis} with size {n}"
        );
    }
    Ok(j as u64)
}

/// A selection resolved against a shape.
#[derive(Clone, Debug)]
pub struct Selection {
    /// Per-axis coordinates.
    pub axes: Vec<Resolved>,
    /// Axes selected with a single index (dropped from the result shape).
    pub dropped: Vec<bool>,
}

impl Selection {
    /// Resolves `sel` (missing trailing axes mean "all") against `shape`.
    pub fn resolve(sel: &[AxisSel], shape: &[u64]) -> Result<Selection> {
        if sel.len() > shape.len() {
            bail!(
                InvalidArgument,
                "selection has {} axes but the dataset has {}: give at most one entry per axis",
                sel.len(),
                shape.len()
            );
        }
        let mut axes = Vec::with_capacity(shape.len());
        let mut dropped = Vec::with_capacity(shape.len());
        for (axis, &n) in shape.iter().enumerate() {
            let s = sel.get(axis).unwrap_or(&AxisSel::All);
            dropped.push(matches!(s, AxisSel::Index(_)));
            axes.push(match s {
                AxisSel::All => Resolved::Range {
                    start: 0,
                    step: 1,
                    count: n,
                },
                AxisSel::Index(i) => Resolved::Range {
                    start: norm_index(*i, n, axis)?,
                    step: 1,
                    count: 1,
                },
                AxisSel::Slice { start, stop, step } => {
                    if *step < 1 {
                        bail!(
                            InvalidArgument,
                            "slice step {step} on axis {axis} must be a positive integer"
                        );
                    }
                    let clamp = |v: i64| -> u64 {
                        let n_i = n as i128;
                        let j = if v < 0 { v as i128 + n_i } else { v as i128 };
                        j.clamp(0, n_i) as u64
                    };
                    let b = start.map_or(0, clamp);
                    let e = stop.map_or(n, clamp);
                    let step = *step as u64;
                    let count = if e > b { (e - b).div_ceil(step) } else { 0 };
                    Resolved::Range {
                        start: b,
                        step,
                        count,
                    }
                }
                AxisSel::List(v) => Resolved::List(
                    v.iter()
                        .map(|&i| norm_index(i, n, axis))
                        .collect::<Result<_>>()?,
                ),
            });
        }
        Ok(Selection { axes, dropped })
    }

    /// Shape of the selected block (dropped axes included, with length 1).
    pub fn block_shape(&self) -> Vec<u64> {
        self.axes.iter().map(|a| a.len()).collect()
    }

    /// Shape of the result as NumPy would report it (single-index axes dropped).
    pub fn result_shape(&self) -> Vec<u64> {
        self.axes
            .iter()
            .zip(&self.dropped)
            .filter(|(_, d)| !**d)
            .map(|(a, _)| a.len())
            .collect()
    }

    /// Number of selected elements.
    pub fn count(&self) -> Result<usize> {
        volume(&self.block_shape())
    }

    /// Splits the selection into per-chunk work items.
    pub fn pieces(&self, chunks: &[u64]) -> Vec<Vec<Piece>> {
        self.axes
            .iter()
            .zip(chunks)
            .map(|(a, &c)| axis_pieces(a, c))
            .collect()
    }
}

/// A run of selected coordinates on one axis that lies in one chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Chunk index along the axis.
    pub chunk: u64,
    /// Position of the first coordinate in the selection's block.
    pub out: u64,
    /// Offset of the first coordinate inside the chunk.
    pub inn: u64,
    /// Number of coordinates.
    pub n: u64,
    /// Stride inside the chunk (the block stride is always 1).
    pub step: u64,
}

fn axis_pieces(a: &Resolved, c: u64) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    match a {
        Resolved::Range { start, step, count } => {
            let mut i = 0;
            while i < *count {
                let coord = start + i * step;
                let chunk = coord / c;
                let end_in_chunk = (chunk + 1) * c; // first coordinate past this chunk
                let n = ((end_in_chunk - coord).div_ceil(*step)).min(count - i);
                out.push(Piece {
                    chunk,
                    out: i,
                    inn: coord % c,
                    n,
                    step: *step,
                });
                i += n;
            }
        }
        Resolved::List(v) => {
            for (i, &coord) in v.iter().enumerate() {
                let (chunk, inn, i) = (coord / c, coord % c, i as u64);
                // Consecutive coordinates in one chunk extend the previous run, so an
                // index list copies whole runs like a slice does.
                if let Some(p) = out.last_mut() {
                    if p.chunk == chunk && p.inn + p.n == inn {
                        p.n += 1;
                        continue;
                    }
                }
                out.push(Piece {
                    chunk,
                    out: i,
                    inn,
                    n: 1,
                    step: 1,
                });
            }
        }
    }
    out
}

/// The part of a selection inside one chunk: per axis, the pieces in that chunk
/// (borrowed from the per-axis pieces the grouping was made from). Every combination
/// of one piece per axis is a box of elements to copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkPieces<'a> {
    /// The chunk.
    pub coord: ChunkCoord,
    /// Per axis, the pieces inside the chunk, in selection order.
    pub axes: Axes<&'a [Piece]>,
}

/// Per-axis values of a dataset: inline up to four axes, so that the per-call work of
/// small reads and writes does not allocate.
pub type Axes<T> = SmallVec<[T; 4]>;

/// Groups per-axis pieces by chunk: one [`ChunkPieces`] for every chunk the selection
/// touches, in C order of the chunks. Each axis's pieces are sorted by chunk in place
/// first (stably: the selection order inside a chunk is kept, so later duplicates win
/// on writes; the sort is skipped on the usual, already sorted, input).
pub fn group_by_chunk(pieces: &mut [Vec<Piece>]) -> Vec<ChunkPieces<'_>> {
    for axis in pieces.iter_mut() {
        if !axis.windows(2).all(|w| w[0].chunk <= w[1].chunk) {
            axis.sort_by_key(|p| p.chunk);
        }
    }
    let pieces: &[Vec<Piece>] = pieces;
    // Per axis: (chunk, start, end) of the runs of pieces in each chunk.
    let groups: Axes<SmallVec<[(u64, usize, usize); 2]>> = pieces
        .iter()
        .map(|axis| {
            let mut g: SmallVec<[(u64, usize, usize); 2]> = SmallVec::new();
            for (i, p) in axis.iter().enumerate() {
                match g.last_mut() {
                    Some(last) if last.0 == p.chunk => last.2 = i + 1,
                    _ => g.push((p.chunk, i, i + 1)),
                }
            }
            g
        })
        .collect();
    let total = groups.iter().map(|g| g.len()).product::<usize>();
    let mut result = Vec::with_capacity(total);
    if total == 0 {
        return result;
    }
    let mut idx: Axes<usize> = smallvec::smallvec![0; groups.len()];
    loop {
        let picked = idx.iter().zip(&groups).map(|(&i, g)| g[i]);
        result.push(ChunkPieces {
            coord: picked.clone().map(|(c, _, _)| c).collect(),
            axes: picked
                .zip(pieces)
                .map(|((_, a, b), axis)| &axis[a..b])
                .collect(),
        });
        if !odometer(&mut idx, |ax| groups[ax].len()) {
            return result;
        }
    }
}

/// Advances a C-order multi-index whose axis `ax` runs over `0..len(ax)`; false once
/// it wraps around past the last combination.
fn odometer<T>(idx: &mut [T], len: impl Fn(usize) -> T) -> bool
where
    T: Copy + PartialOrd + std::ops::AddAssign + From<u8>,
{
    for ax in (0..idx.len()).rev() {
        idx[ax] += T::from(1);
        if idx[ax] < len(ax) {
            return true;
        }
        idx[ax] = T::from(0);
    }
    false
}

/// Row-major strides (in elements) of a buffer of `dims`.
pub fn strides(dims: &[u64]) -> Vec<u64> {
    let mut s = vec![1u64; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Direction of [`ChunkPieces::copy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Chunk → selection block (read).
    ChunkToBlock,
    /// Selection block → chunk (write).
    BlockToChunk,
}

/// [`strides`], inline.
fn axes_strides(dims: &[u64]) -> Axes<u64> {
    let mut s: Axes<u64> = smallvec::smallvec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

impl ChunkPieces<'_> {
    /// Copies the chunk's part of the selection between a chunk buffer (edge-trimmed
    /// dims `chunk_dims`) and a selection block buffer (`block_dims`), in direction
    /// `dir` (`src` is the chunk for reads, the block for writes). A block of one
    /// element (`broadcast`) is repeated instead of indexed.
    #[allow(
        clippy::too_many_arguments,
        reason = "one copy routine for every direction, extent and broadcast case"
    )]
    pub fn copy(
        &self,
        dir: Direction,
        chunk_dims: &[u64],
        block_dims: &[u64],
        elem: usize,
        broadcast: bool,
        src: &[u8],
        dst: &mut [u8],
    ) {
        let nd = self.axes.len();
        if nd == 0 || self.axes.iter().any(|a| a.is_empty()) {
            return;
        }
        let cs = axes_strides(chunk_dims);
        let bs = axes_strides(block_dims);
        // Which piece on each axis, and the position inside it on the outer axes.
        let mut pick: Axes<usize> = smallvec::smallvec![0; nd];
        let mut combo: Axes<Piece> = self.axes.iter().map(|a| a[0]).collect();
        let mut idx: Axes<u64> = smallvec::smallvec![0; nd - 1];
        loop {
            loop {
                let mut coff = 0u64;
                let mut boff = 0u64;
                for ax in 0..nd - 1 {
                    let p = combo[ax];
                    coff += (p.inn + idx[ax] * p.step) * cs[ax];
                    boff += (p.out + idx[ax]) * bs[ax];
                }
                copy_run(
                    dir,
                    &combo[nd - 1],
                    cs[nd - 1],
                    bs[nd - 1],
                    (coff, boff),
                    elem,
                    broadcast,
                    src,
                    dst,
                );
                if !odometer(&mut idx, |ax| combo[ax].n) {
                    break;
                }
            }
            if !odometer(&mut pick, |ax| self.axes[ax].len()) {
                return;
            }
            for (c, (a, &i)) in combo.iter_mut().zip(self.axes.iter().zip(&pick)) {
                *c = a[i];
            }
        }
    }
}

/// Copies the elements of `sel`, resolved against `dims`, between a buffer of `dims`
/// taken whole as one chunk and the selection's block, in direction `dir`.
pub fn copy_selection(
    sel: &Selection,
    dims: &[u64],
    dir: Direction,
    elem: usize,
    src: &[u8],
    dst: &mut [u8],
) {
    let block = sel.block_shape();
    let mut pieces = sel.pieces(dims);
    for cp in group_by_chunk(&mut pieces) {
        cp.copy(dir, dims, &block, elem, false, src, dst);
    }
}

/// Copies one run along the last axis: piece `last`, starting at element offsets
/// `(chunk, block)` of the outer axes.
#[allow(
    clippy::too_many_arguments,
    reason = "the selection, both shapes and both buffers of one copy"
)]
fn copy_run(
    dir: Direction,
    last: &Piece,
    chunk_stride: u64,
    block_stride: u64,
    (coff, boff): (u64, u64),
    elem: usize,
    broadcast: bool,
    src: &[u8],
    dst: &mut [u8],
) {
    let c0 = (coff + last.inn * chunk_stride) as usize * elem;
    let b0 = if broadcast {
        0
    } else {
        (boff + last.out * block_stride) as usize * elem
    };
    let (chunk_step, block_step) = (
        last.step as usize * chunk_stride as usize * elem,
        if broadcast { 0 } else { elem },
    );
    if chunk_step == elem && block_step == elem {
        let len = last.n as usize * elem;
        let (s0, d0) = match dir {
            Direction::ChunkToBlock => (c0, b0),
            Direction::BlockToChunk => (b0, c0),
        };
        dst[d0..d0 + len].copy_from_slice(&src[s0..s0 + len]);
        return;
    }
    for j in 0..last.n as usize {
        let (c, b) = (c0 + j * chunk_step, b0 + j * block_step);
        let (s, d) = match dir {
            Direction::ChunkToBlock => (c, b),
            Direction::BlockToChunk => (b, c),
        };
        dst[d..d + elem].copy_from_slice(&src[s..s + elem]);
    }
}

/// A buffer of `count` elements, each a copy of `fill`.
pub fn filled(fill: &[u8], count: usize) -> Vec<u8> {
    if fill.iter().all(|&b| b == 0) {
        return vec![0; fill.len() * count];
    }
    let mut v = Vec::with_capacity(fill.len() * count);
    for _ in 0..count {
        v.extend_from_slice(fill);
    }
    v
}

/// Whether every element of `buf` equals `fill` bitwise.
pub fn is_all(buf: &[u8], fill: &[u8]) -> bool {
    if fill.iter().all(|&b| b == 0) {
        return buf.iter().all(|&b| b == 0);
    }
    buf.chunks_exact(fill.len()).all(|e| e == fill)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn extents_trim_at_edges() {
        assert_eq!(grid_dims(&[25], &[10]), vec![3]);
        assert_eq!(chunk_extent(&[25], &[10], &[2]).as_slice(), &[5]);
        assert_eq!(chunk_extent(&[3, 5], &[2, 3], &[1, 1]).as_slice(), &[1, 2]);
        assert_eq!(grid_dims(&[0, 3], &[2, 3]), vec![0, 1]);
    }

    #[test]
    fn slices_follow_python() {
        let s = Selection::resolve(
            &[AxisSel::Slice {
                start: Some(-3),
                stop: None,
                step: 1,
            }],
            &[10],
        )
        .unwrap();
        assert_eq!(
            s.axes[0],
            Resolved::Range {
                start: 7,
                step: 1,
                count: 3
            }
        );
        let s = Selection::resolve(
            &[AxisSel::Slice {
                start: Some(1),
                stop: Some(100),
                step: 3,
            }],
            &[10],
        )
        .unwrap();
        assert_eq!(
            s.axes[0],
            Resolved::Range {
                start: 1,
                step: 3,
                count: 3
            }
        );
        let s = Selection::resolve(
            &[AxisSel::Slice {
                start: Some(5),
                stop: Some(2),
                step: 1,
            }],
            &[10],
        )
        .unwrap();
        assert_eq!(s.axes[0].len(), 0);
        assert_eq!(
            Selection::resolve(&[AxisSel::Index(10)], &[10])
                .unwrap_err()
                .code(),
            "OUT_OF_BOUNDS"
        );
        assert_eq!(
            Selection::resolve(&[AxisSel::Index(-10)], &[10])
                .unwrap()
                .axes[0]
                .len(),
            1
        );
    }

    /// Reference: the offsets in a dense array of the selection's elements, in block
    /// (C) order.
    fn dense_offsets(shape: &[u64], sel: &Selection) -> Vec<usize> {
        let coords: Vec<Vec<u64>> = sel
            .axes
            .iter()
            .map(|a| match a {
                Resolved::Range { start, step, count } => {
                    (0..*count).map(|i| start + i * step).collect()
                }
                Resolved::List(v) => v.clone(),
            })
            .collect();
        let st = strides(shape);
        let mut out = Vec::new();
        let mut idx = vec![0usize; shape.len()];
        if coords.iter().any(|c| c.is_empty()) {
            return out;
        }
        loop {
            let off: u64 = idx
                .iter()
                .enumerate()
                .map(|(a, &i)| coords[a][i] * st[a])
                .sum();
            out.push(off as usize);
            if !odometer(&mut idx, |ax| coords[ax].len()) {
                return out;
            }
        }
    }

    /// The chunk `k` of a dense array, as its own buffer of little-endian u32s.
    fn cut(data: &[u32], shape: &[u64], chunks: &[u64], k: &[u64]) -> (Vec<u64>, Vec<u8>) {
        let ext = chunk_extent(shape, chunks, k);
        let st = strides(shape);
        let mut buf = Vec::new();
        for local in all_chunks(&ext) {
            let off: u64 = local
                .iter()
                .enumerate()
                .map(|(a, &i)| (k[a] * chunks[a] + i) * st[a])
                .sum();
            buf.extend_from_slice(&data[off as usize].to_le_bytes());
        }
        (ext.to_vec(), buf)
    }

    /// Gather the selection chunk by chunk, as the engine does.
    fn chunked_gather(data: &[u32], shape: &[u64], chunks: &[u64], sel: &Selection) -> Vec<u32> {
        let block_dims = sel.block_shape();
        let mut block = vec![0u8; volume(&block_dims).unwrap() * 4];
        let mut pieces = sel.pieces(chunks);
        for cp in group_by_chunk(&mut pieces) {
            let (ext, buf) = cut(data, shape, chunks, &cp.coord);
            cp.copy(
                Direction::ChunkToBlock,
                &ext,
                &block_dims,
                4,
                false,
                &buf,
                &mut block,
            );
        }
        block
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    /// Write `block` into the selection chunk by chunk, as staging does, and return
    /// the dense array.
    fn chunked_scatter(
        data: &[u32],
        shape: &[u64],
        chunks: &[u64],
        sel: &Selection,
        block: &[u32],
    ) -> Vec<u32> {
        let block_dims = sel.block_shape();
        let bytes: Vec<u8> = block.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = data.to_vec();
        let st = strides(shape);
        let mut pieces = sel.pieces(chunks);
        for cp in group_by_chunk(&mut pieces) {
            let (ext, mut buf) = cut(data, shape, chunks, &cp.coord);
            cp.copy(
                Direction::BlockToChunk,
                &ext,
                &block_dims,
                4,
                false,
                &bytes,
                &mut buf,
            );
            for (local, v) in all_chunks(&ext).zip(buf.chunks_exact(4)) {
                let off: u64 = local
                    .iter()
                    .enumerate()
                    .map(|(a, &i)| (cp.coord[a] * chunks[a] + i) * st[a])
                    .sum();
                out[off as usize] = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
            }
        }
        out
    }

    fn axis_sel(n: u64) -> impl Strategy<Value = AxisSel> {
        let n = n as i64;
        prop_oneof![
            Just(AxisSel::All),
            (-n..n).prop_map(AxisSel::Index),
            (
                proptest::option::of(-n - 2..n + 2),
                proptest::option::of(-n - 2..n + 2),
                1i64..4
            )
                .prop_map(|(start, stop, step)| AxisSel::Slice { start, stop, step }),
            proptest::collection::vec(-n..n, 0..6).prop_map(AxisSel::List),
            proptest::collection::vec(0..n, 0..12).prop_map(|mut v| {
                v.sort_unstable();
                AxisSel::List(v)
            }),
        ]
    }

    proptest! {
        #[test]
        fn chunked_reads_equal_dense_reads(
            (shape, chunks, sel) in proptest::collection::vec((1u64..9, 1u64..5), 1..4)
                .prop_flat_map(|dims| {
                    let shape: Vec<u64> = dims.iter().map(|d| d.0).collect();
                    let chunks: Vec<u64> = dims.iter().map(|d| d.1).collect();
                    let sels: Vec<_> = shape.iter().map(|&n| axis_sel(n)).collect();
                    (Just(shape), Just(chunks), sels)
                })
        ) {
            let total = volume(&shape).unwrap();
            let data: Vec<u32> = (0..total as u32).collect();
            let s = Selection::resolve(&sel, &shape).unwrap();
            let offsets = dense_offsets(&shape, &s);
            let dense: Vec<u32> = offsets.iter().map(|&o| data[o]).collect();
            prop_assert_eq!(chunked_gather(&data, &shape, &chunks, &s), dense);
            // Writes: later duplicates win, as NumPy's fancy assignment does.
            let block: Vec<u32> = (0..offsets.len() as u32).map(|i| 1_000_000 + i).collect();
            let mut expect = data.clone();
            for (&o, &v) in offsets.iter().zip(&block) {
                expect[o] = v;
            }
            prop_assert_eq!(chunked_scatter(&data, &shape, &chunks, &s, &block), expect);
        }
    }
}
