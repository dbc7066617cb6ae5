"""What storageStats() should report for a versioned file, found with h5py alone: the
chunk index of each raw_data (get_num_chunks / get_chunk_info) and the virtual
sources of every committed version's datasets (which slots they map).

Usage: python storage_stats.py FILE   (prints the expected chunk figures of StorageStats
as JSON; the space figures come from h5stat)
"""

import json
import os
import sys

import h5py

path = sys.argv[1]
out = {"fileBytes": os.path.getsize(path), "storedBytes": 0, "liveBytes": 0, "datasets": []}
with h5py.File(path, "r") as f:
    vd = f["_version_data"]
    live = {}  # dataset path -> set of first rows its committed versions map

    def mapped(version):
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.is_virtual:
                rows = live.setdefault(name, set())
                for m in obj.virtual_sources():
                    start, _ = m.src_space.get_select_bounds()
                    rows.add(start[0])
        version.visititems(visit)

    for name, g in vd["versions"].items():
        if name != "__first_version__" and bool(g.attrs.get("committed", False)):
            mapped(g)

    groups = []

    def find(name, obj):
        if isinstance(obj, h5py.Group) and "raw_data" in obj and not name.startswith("versions"):
            groups.append(name)
    vd.visititems(find)
    for name in sorted(groups):
        raw = vd[name]["raw_data"]
        c0 = raw.chunks[0]
        n = raw.id.get_num_chunks()
        infos = [raw.id.get_chunk_info(i) for i in range(n)]
        rows = live.get(name, set())
        d = {
            "path": name,
            "slots": -(-raw.shape[0] // c0),
            "storedChunks": n,
            "storedBytes": sum(i.size for i in infos),
            "liveSlots": len(rows),
            "liveBytes": sum(i.size for i in infos if i.chunk_offset[0] in rows),
            "heapStrings": raw.dtype.kind == "O",
        }
        out["storedBytes"] += d["storedBytes"]
        out["liveBytes"] += d["liveBytes"]
        out["datasets"].append(d)
print(json.dumps(out))
