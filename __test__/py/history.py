"""The Python side of the history specs (history-*.spec.ts), run with .venv26
(versioned-hdf5 2.6.0) or .venv (2.4.0).

Usage:
    python history.py delete FILE NAME[,NAME...]   delete_versions on FILE
    python history.py read FILE                    every version read through the library
    python history.py diff FILE DATASET V1 V2      get_diff's changed boxes
    python history.py make FILE                    a file written by Python (see make())
    python history.py modify FILE DATASET JSON     modify_metadata(**JSON) on FILE

Prints one JSON value on stdout. `read` gives {"current": str, "versions": {name:
{"prev": str, "datasets": {path: {"shape": [...], "dtype": str, "data": [...]}}}},
"storage": {path: {"largest_index": int, "raw_rows": int, "live": int}}}, where `live`
counts the distinct slots the versions map.
"""

import json
import sys

import h5py
import numpy as np
from versioned_hdf5 import VersionedHDF5File, delete_versions, modify_metadata

from dump_versions import flat, text
from vh5names import dtype_name


def storage(f):
    out = {}
    versions = f['_version_data/versions']
    def visit(g, prefix):
        for name in sorted(g):
            if prefix == '' and name == 'versions':
                continue
            obj = g[name]
            if not isinstance(obj, h5py.Group):
                continue
            if 'raw_data' in obj:
                path = prefix + name
                live = set()
                for v in versions:
                    if v == '__first_version__' or path not in versions[v]:
                        continue
                    ds = versions[v][path]
                    if ds.is_virtual:
                        for vs in ds.virtual_sources():
                            live.add(vs.src_space.get_select_bounds()[0][0])
                out[path] = {
                    'largest_index': int(obj['hash_table'].attrs['largest_index']),
                    'raw_rows': int(obj['raw_data'].shape[0]),
                    'live': len(live),
                }
            visit(obj, prefix + name + '/')
    visit(f['_version_data'], '')
    return out


def read(path):
    with h5py.File(path, 'r') as f:
        vf = VersionedHDF5File(f)
        versions = f['_version_data/versions']
        out = {'current': text(versions.attrs['current_version']), 'versions': {}}
        for name in sorted(vf.versions):
            g = vf[name]
            ds = {}
            def visit(grp, prefix):
                for k in sorted(grp):
                    obj = grp[k]
                    if hasattr(obj, 'shape') and hasattr(obj, 'dtype'):
                        arr = np.asarray(obj[()])
                        ds[prefix + k] = {
                            'shape': [int(n) for n in arr.shape],
                            'dtype': dtype_name(obj.dtype),
                            'data': flat(arr),
                        }
                    else:
                        visit(obj, prefix + k + '/')
            visit(g, '')
            out['versions'][name] = {'prev': text(versions[name].attrs['prev_version']), 'datasets': ds}
        out['storage'] = storage(f)
        return out


def diff(path, name, v1, v2):
    with h5py.File(path, 'r') as f:
        vf = VersionedHDF5File(f)
        d = vf.get_diff(name, v1, v2)
        boxes = []
        for key in d:
            raw = key.raw if hasattr(key, 'raw') else key
            boxes.append([[int(s.start), int(s.stop)] for s in raw])
        return sorted(boxes)


def make(path):
    """Versions p1..p5 of a float dataset x (25 elements, chunks 10, edge chunk), a
    string dataset s and a 2-D int dataset g/m (fill 9); p3 is marked for deletion
    with the value 777.25 in x, written nowhere else."""
    with h5py.File(path, 'w') as f:
        vf = VersionedHDF5File(f)
        with vf.stage_version('p1') as g:
            g.create_dataset('x', data=np.arange(25, dtype='f8'), chunks=(10,))
            g.create_dataset('s', data=np.array(['a', 'b', 'c', 'd', 'e'], dtype=object),
                             dtype=h5py.string_dtype(), chunks=(2,))
            g.create_group('g').create_dataset('m', data=np.full((5, 7), 9, dtype='i4'),
                                               chunks=(2, 3), fillvalue=9)
        with vf.stage_version('p2') as g:
            g['x'][3] = 30.5
            g['g/m'][4, 6] = 1
        with vf.stage_version('p3') as g:
            g['x'][22] = 777.25
            g['s'][4] = 'zzz'
        with vf.stage_version('p4') as g:
            g['x'][5] = 50.5
        with vf.stage_version('p5', prev_version='p2') as g:
            g['x'][0] = -1.0
    return {'ok': True}


def main(argv):
    cmd = argv[1]
    if cmd == 'delete':
        with h5py.File(argv[2], 'r+') as f:
            delete_versions(f, argv[3].split(','))
        out = {'ok': True}
    elif cmd == 'read':
        out = read(argv[2])
    elif cmd == 'diff':
        out = diff(argv[2], argv[3], argv[4], argv[5])
    elif cmd == 'make':
        out = make(argv[2])
    elif cmd == 'modify':
        kw = json.loads(argv[4])
        if 'chunks' in kw and isinstance(kw['chunks'], list):
            kw['chunks'] = tuple(kw['chunks'])
        with h5py.File(argv[2], 'r+') as f:
            modify_metadata(f, argv[3], **kw)
        out = {'ok': True}
    else:
        sys.exit(f'unknown command {cmd}')
    json.dump(out, sys.stdout, allow_nan=False)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main(sys.argv)
