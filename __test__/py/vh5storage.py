"""The data groups of a versioned-hdf5 file, shared by the Python helpers of the specs."""

import h5py


def data_groups(f):
    """(dataset path, group) of every group under _version_data that holds a raw_data,
    sorted by path, nested paths included ('a' and 'a/b')."""
    out = []

    def visit(g, prefix):
        for name in sorted(g.keys()):
            if prefix == '' and name == 'versions':
                continue
            obj = g[name]
            if not isinstance(obj, h5py.Group):
                continue
            if 'raw_data' in obj:
                out.append((prefix + name, obj))
            visit(obj, prefix + name + '/')

    visit(f['_version_data'], '')
    return out
