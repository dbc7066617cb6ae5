//! Hashing a dataset's chunks for a commit, in parallel, where they lie: written
//! chunks in memory, the others cut from the dataset's initial data.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::error::{bail, Result};
use crate::grid::{self, ChunkCoord};
use crate::stage::dataset::cut_chunk;
use crate::stage::dataset::StagedDataset;
use crate::strings::hash_elements;

/// A written chunk after hashing.
pub(crate) struct Hashed {
    pub(crate) coord: ChunkCoord,
    pub(crate) ext: Vec<u64>,
    pub(crate) hash: [u8; 32],
    pub(crate) fill_only: bool,
    /// The chunk's elements; `None`: in the dataset's initial data.
    pub(crate) data: Option<Vec<u8>>,
}

impl Hashed {
    /// The chunk's elements, edge-trimmed.
    pub(crate) fn bytes<'a>(&'a self, ds: &'a StagedDataset) -> Result<Cow<'a, [u8]>> {
        if let Some(d) = &self.data {
            return Ok(Cow::Borrowed(d));
        }
        match ds.staged_chunk(&self.coord)? {
            Some(b) => Ok(b),
            None => bail!(
                InternalError,
                "chunk {:?} of a staged dataset is missing at commit",
                self.coord
            ),
        }
    }
}

/// A dataset's chunks as a commit stores them: hashed up front, or in batches of
/// about [`SLOT_BATCH_BYTES`] each hashed while the batch before is written (the
/// initial data of a dataset with no storage yet, where nothing needs every hash
/// before the first write).
pub(crate) enum Chunks {
    Hashed(Vec<Hashed>),
    Streamed(Vec<Vec<(ChunkCoord, Option<Vec<u8>>)>>),
}

/// Hashes a dataset's chunks (written ones in `Some`, the others cut from its initial
/// data), in parallel.
pub(crate) fn hash_chunks(
    ds: &StagedDataset,
    items: Vec<(ChunkCoord, Option<Vec<u8>>)>,
) -> Result<Vec<Hashed>> {
    let full = &ds.meta.chunks;
    items
        .into_par_iter()
        .map(|(coord, data)| {
            let ext = grid::chunk_extent(&ds.meta.shape, full, &coord);
            let (fill_only, hash) = {
                let bytes = match &data {
                    Some(d) => Cow::Borrowed(&d[..]),
                    None => cut_chunk(
                        ds.source.as_ref().map_or(&[][..], |s| s.0.bytes()),
                        &ds.meta.shape,
                        full,
                        &coord,
                        ds.meta.dtype.size(),
                    )?,
                };
                // A full-size chunk entirely fill value is left unmapped (reads give
                // the fill). An all-fill edge chunk is stored, as Python's staged
                // engine does, so both libraries deduplicate the same chunks.
                let fill_only = *ext == **full && grid::is_all(&bytes, &ds.meta.fill);
                let hash = if fill_only {
                    [0; 32]
                } else {
                    hash_elements(ds.hash, &ds.meta.dtype, &bytes, &ds.pool, &ext)
                };
                (fill_only, hash)
            };
            Ok(Hashed {
                coord,
                ext: ext.to_vec(),
                hash,
                fill_only,
                data,
            })
        })
        .collect()
}
