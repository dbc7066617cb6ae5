//! Chunk-grid geometry and selections. Pure logic: no HDF5 here.
//!
//! A dataset of `shape` is tiled by chunks of `chunks`; chunk `k` (one coordinate per
//! axis) covers `[k_i*c_i, min((k_i+1)*c_i, n_i))` on axis i. Chunk buffers are always
//! edge-trimmed and C-ordered. A selection resolves, per axis, into *pieces*: runs of
//! selected coordinates that fall into one chunk, so that reads and writes touch only
//! the chunks they need and copy whole rows where they can.

use crate::error::{bail, Result};

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
pub fn chunk_extent(shape: &[u64], chunks: &[u64], k: &[u64]) -> Vec<u64> {
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
    let mut out = Vec::new();
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
                out.push(Piece {
                    chunk: coord / c,
                    out: i as u64,
                    inn: coord % c,
                    n: 1,
                    step: 1,
                });
            }
        }
    }
    out
}

/// Groups per-axis pieces by chunk: returns, for every chunk the selection touches,
/// the list of piece combinations (one piece per axis) inside it.
pub fn group_by_chunk(pieces: &[Vec<Piece>]) -> Vec<(ChunkCoord, Vec<Vec<Piece>>)> {
    use std::collections::BTreeMap;
    if pieces
        .iter()
        .all(|axis| axis.windows(2).all(|w| w[0].chunk < w[1].chunk))
    {
        // Ranges (the common case): one piece per chunk on every axis, in chunk order,
        // so the chunks are the product of the pieces, without sorting or grouping.
        return product_of_pieces(pieces);
    }
    let mut per_axis: Vec<BTreeMap<u64, Vec<Piece>>> = Vec::with_capacity(pieces.len());
    for axis in pieces {
        let mut m: BTreeMap<u64, Vec<Piece>> = BTreeMap::new();
        for p in axis {
            m.entry(p.chunk).or_default().push(*p);
        }
        per_axis.push(m);
    }
    let keys: Vec<Vec<u64>> = per_axis
        .iter()
        .map(|m| m.keys().copied().collect())
        .collect();
    let mut result = Vec::new();
    if keys.iter().any(|k| k.is_empty()) {
        return result;
    }
    let mut idx = vec![0usize; keys.len()];
    loop {
        let coord: ChunkCoord = idx.iter().zip(&keys).map(|(&i, k)| k[i]).collect();
        // Cartesian product of this chunk's pieces on every axis.
        let lists: Vec<&Vec<Piece>> = coord.iter().zip(&per_axis).map(|(c, m)| &m[c]).collect();
        let mut combos: Vec<Vec<Piece>> = vec![Vec::new()];
        for l in lists {
            combos = combos
                .into_iter()
                .flat_map(|pre| {
                    l.iter().map(move |p| {
                        let mut v = pre.clone();
                        v.push(*p);
                        v
                    })
                })
                .collect();
        }
        result.push((coord, combos));
        // Advance the odometer.
        let mut ax = keys.len();
        loop {
            if ax == 0 {
                return result;
            }
            ax -= 1;
            idx[ax] += 1;
            if idx[ax] < keys[ax].len() {
                break;
            }
            idx[ax] = 0;
        }
    }
}

/// [`group_by_chunk`] for axes whose pieces lie in distinct chunks, in order.
fn product_of_pieces(pieces: &[Vec<Piece>]) -> Vec<(ChunkCoord, Vec<Vec<Piece>>)> {
    let total = pieces.iter().map(Vec::len).product::<usize>();
    let mut result = Vec::with_capacity(total);
    if total == 0 {
        return result;
    }
    let mut idx = vec![0usize; pieces.len()];
    loop {
        let combo: Vec<Piece> = idx.iter().zip(pieces).map(|(&i, ax)| ax[i]).collect();
        result.push((combo.iter().map(|p| p.chunk).collect(), vec![combo]));
        let mut ax = pieces.len();
        loop {
            if ax == 0 {
                return result;
            }
            ax -= 1;
            idx[ax] += 1;
            if idx[ax] < pieces[ax].len() {
                break;
            }
            idx[ax] = 0;
        }
    }
}

/// Row-major strides (in elements) of a buffer of `dims`.
pub fn strides(dims: &[u64]) -> Vec<u64> {
    let mut s = vec![1u64; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Direction of [`copy_pieces`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Chunk → selection block (read).
    ChunkToBlock,
    /// Selection block → chunk (write).
    BlockToChunk,
}

/// Copies the elements described by one piece combination between a chunk buffer
/// (edge-trimmed dims `chunk_dims`) and a selection block buffer (`block_dims`), in
/// direction `dir` (`src` is the chunk for reads, the block for writes). A block of
/// one element (`broadcast`) is repeated instead of indexed.
#[allow(clippy::too_many_arguments)]
pub fn copy_pieces(
    dir: Direction,
    chunk_dims: &[u64],
    block_dims: &[u64],
    combo: &[Piece],
    elem: usize,
    broadcast: bool,
    src: &[u8],
    dst: &mut [u8],
) {
    let cs = strides(chunk_dims);
    let bs = strides(block_dims);
    let nd = combo.len();
    if nd == 0 {
        return;
    }
    let last = combo[nd - 1];
    let run_contig = last.step == 1 && !broadcast;
    let mut idx = vec![0u64; nd - 1];
    loop {
        let mut coff = 0u64;
        let mut boff = 0u64;
        for ax in 0..nd - 1 {
            let p = combo[ax];
            coff += (p.inn + idx[ax] * p.step) * cs[ax];
            boff += (p.out + idx[ax]) * bs[ax];
        }
        coff += last.inn * cs[nd - 1];
        boff += last.out * bs[nd - 1];
        let (c0, b0) = (
            coff as usize * elem,
            if broadcast { 0 } else { boff as usize * elem },
        );
        if run_contig {
            let len = last.n as usize * elem;
            let (s0, d0) = if dir == Direction::ChunkToBlock {
                (c0, b0)
            } else {
                (b0, c0)
            };
            dst[d0..d0 + len].copy_from_slice(&src[s0..s0 + len]);
        } else {
            for j in 0..last.n as usize {
                let c = c0 + j * last.step as usize * elem;
                let b = if broadcast { 0 } else { b0 + j * elem };
                let (s, d) = if dir == Direction::ChunkToBlock {
                    (c, b)
                } else {
                    (b, c)
                };
                dst[d..d + elem].copy_from_slice(&src[s..s + elem]);
            }
        }
        // Next outer index.
        let mut ax = nd - 1;
        loop {
            if ax == 0 {
                return;
            }
            ax -= 1;
            idx[ax] += 1;
            if idx[ax] < combo[ax].n {
                break;
            }
            idx[ax] = 0;
        }
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
        assert_eq!(chunk_extent(&[25], &[10], &[2]), vec![5]);
        assert_eq!(chunk_extent(&[3, 5], &[2, 3], &[1, 1]), vec![1, 2]);
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

    /// Reference: gather the selection from a dense array directly.
    fn dense_gather(data: &[u32], shape: &[u64], sel: &Selection) -> Vec<u32> {
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
            out.push(data[off as usize]);
            let mut ax = shape.len();
            loop {
                if ax == 0 {
                    return out;
                }
                ax -= 1;
                idx[ax] += 1;
                if idx[ax] < coords[ax].len() {
                    break;
                }
                idx[ax] = 0;
            }
        }
    }

    /// Gather the selection chunk by chunk, as the engine does.
    fn chunked_gather(data: &[u32], shape: &[u64], chunks: &[u64], sel: &Selection) -> Vec<u32> {
        let block_dims = sel.block_shape();
        let mut block = vec![0u8; volume(&block_dims).unwrap() * 4];
        let st = strides(shape);
        for (k, combos) in group_by_chunk(&sel.pieces(chunks)) {
            let ext = chunk_extent(shape, chunks, &k);
            let mut buf = Vec::new();
            for local in all_chunks(&ext) {
                let off: u64 = local
                    .iter()
                    .enumerate()
                    .map(|(a, &i)| (k[a] * chunks[a] + i) * st[a])
                    .sum();
                buf.extend_from_slice(&data[off as usize].to_le_bytes());
            }
            for combo in combos {
                copy_pieces(
                    Direction::ChunkToBlock,
                    &ext,
                    &block_dims,
                    &combo,
                    4,
                    false,
                    &buf,
                    &mut block,
                );
            }
        }
        block
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
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
            prop_assert_eq!(chunked_gather(&data, &shape, &chunks, &s), dense_gather(&data, &shape, &s));
        }
    }
}
