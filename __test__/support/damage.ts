// Damage done to sample files with h5py, shared by the damaged-file and storage-mark
// specs.

/**
 * h5py code (with `f` open in 'r+') that rebuilds v2/x of a two-version sample (x:
 * 100 float64 in chunks of 10) with its chunk at [50, 60) mapped to raw_data rows
 * 500..510, past the end of raw_data.
 */
export const MAP_CHUNK_5_TO_ROW_500 = `d = f['_version_data/versions/v2/x']
maps = d.virtual_sources()
attrs = dict(d.attrs)
lay = h5py.VirtualLayout(shape=(100,), dtype='f8')
src = h5py.VirtualSource('.', '/_version_data/x/raw_data', shape=(1000,))
for m in maps:
    (vs,), (ve,) = m.vspace.get_select_bounds()
    (ss,), (se,) = m.src_space.get_select_bounds()
    if vs == 50:
        ss, se = 500, 509
    lay[vs:ve + 1] = src[ss:se + 1]
del f['_version_data/versions/v2/x']
nd = f['_version_data/versions/v2'].create_virtual_dataset('x', lay, fillvalue=0.0)
for k, v in attrs.items():
    nd.attrs[k] = v`
