//! The hash-table rows a commit appends, written after the data they name, then
//! `largest_index`, the table's commit marker.

use crate::attrs::AttrValue;
use crate::codec;
use crate::error::{bail, Result};
use crate::file::{DataGroup, Inner};
use crate::h5::{self, HashRow};
use crate::layout::{attr, HASH_ROW_BYTES};
use crate::stage::commit::slots::probe_offset;

/// Hash-table rows a commit appends for one dataset path, written after its data.
pub(crate) struct TableUpdate {
    pub(crate) path: String,
    pub(crate) first_new: u64,
    pub(crate) rows: Vec<HashRow>,
    pub(crate) next: u64,
    /// New slots (first row, extent, elements) for the read cache once committed.
    pub(crate) cache: Vec<(u64, Vec<u64>, Vec<u8>)>,
}

/// At most this many bytes of a commit's new chunks per dataset go to the read cache
/// (a large ingest would only evict what reads use).
pub(crate) const READ_CACHE_FILL_BYTES: usize = 8 << 20;

pub(crate) fn apply_table_update(f: &mut Inner, u: &TableUpdate) -> Result<()> {
    let Some(dg) = f.data_group(&u.path)? else {
        bail!(
            InternalError,
            "the storage of '{}' vanished during a commit",
            u.path
        );
    };
    write_table_rows(dg, u)?;
    // largest_index last: it is the format's commit marker for the table.
    h5::write_attr(
        &dg.table,
        attr::LARGEST_INDEX,
        &AttrValue::Int(u.next as i64),
    )?;
    dg.largest_index = u.next;
    for r in &u.rows {
        dg.index.entry(r.hash).or_insert(r.start as u64);
    }
    f.note_table_rows(&u.path, &u.rows);
    Ok(())
}

/// Writes a commit's new hash-table rows. When the table's rows are known in memory
/// and its pipeline is LZF alone, the chunks holding the new rows are written whole
/// and uncompressed, with LZF marked skipped in the chunk's filter mask (LZF is an
/// optional filter, so every reader accepts a chunk it skipped). This spares
/// compressing a chunk of hashes (192 KiB at the format's 4,096 rows) on every commit,
/// at a cost on disk: LZF would shrink a full chunk of hashes to about 160 KB, since
/// the rows' start and stop columns compress, so tables written here are about a
/// fifth larger than libhdf5 would store them.
pub(crate) fn write_table_rows(dg: &mut DataGroup, u: &TableUpdate) -> Result<()> {
    let (lzf_only, rows_per_chunk) = match dg.table_layout {
        Some(l) => l,
        None => {
            let lzf_only =
                matches!(&h5::pipeline(&dg.table)?[..], [s] if s.id == codec::FILTER_LZF);
            let rows_per_chunk = match h5::ds_chunk_dims(&dg.table)?.as_deref() {
                Some(&[n]) if n > 0 => n,
                _ => 0,
            };
            *dg.table_layout.insert((lzf_only, rows_per_chunk))
        }
    };
    let Some(tb) = dg
        .table_bytes
        .as_mut()
        .filter(|_| lzf_only && rows_per_chunk > 0)
    else {
        dg.table_bytes = None;
        return h5::write_hash_rows(&dg.table, u.first_new, &u.rows);
    };
    tb.resize(u.first_new as usize * HASH_ROW_BYTES, 0);
    tb.extend_from_slice(&h5::rows_to_bytes(&u.rows));
    let total = u.next;
    h5::ds_set_extent(&dg.table, &[total.max(1)])?;
    if u.rows.is_empty() {
        return Ok(());
    }
    let chunk_bytes = rows_per_chunk as usize * HASH_ROW_BYTES;
    let last = (total - 1) / rows_per_chunk;
    let len = tb.len();
    for c in u.first_new / rows_per_chunk..=last {
        let (from, to) = (c as usize * chunk_bytes, (c as usize + 1) * chunk_bytes);
        // The last chunk is padded with zero rows in place (and cut back after), so
        // no chunk-sized buffer is allocated and copied per commit.
        if to > tb.len() {
            tb.resize(to, 0);
        }
        let written = h5::write_chunk(&dg.table, &[c * rows_per_chunk], 1, &tb[from..to]);
        tb.truncate(len);
        written?;
    }
    // Written with LZF skipped, which libhdf5 did not note (see
    // `h5::refresh_chunk_lookup`).
    h5::refresh_chunk_lookup(
        &dg.table,
        &probe_offset(last * rows_per_chunk, &[rows_per_chunk]),
    )
}
