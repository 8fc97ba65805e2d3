"""Checks a shard written by the project from the h5py side, against the layout of
docs/shard-format.md (version 1): root attributes, /classes, /images, and the
groups of the declared task, with offsets consistent. Exit code 1 on any problem. Used by
scripts/test.sh.
"""
import io
import sys

import h5py
import numpy as np


def fail(path, msg):
    sys.exit(f"{path}: {msg}")


def check(path):
    with h5py.File(path, "r") as f:
        a = f.attrs
        if a.get("format") != "m2f-shard" or int(a.get("version", 0)) != 1:
            fail(path, "format/version attributes")
        n, task = int(a["num_samples"]), a["task"]
        names = [s.decode() if isinstance(s, bytes) else s for s in f["classes/names"][()]]
        k = len(names)
        if f["classes/source_ids"].dtype != np.int64 or f["classes/isthing"].shape != (k,):
            fail(path, "classes")
        off = f["images/offsets"][()]
        if off.shape != (n + 1,) or off[0] != 0 or np.any(np.diff(off) < 0) or off[-1] != f["images/bytes"].shape[0]:
            fail(path, "images/offsets")
        if f["images/shape"].shape != (n, 3) or f["images/shape"].dtype != np.int32:
            fail(path, "images/shape")
        if f["images"].attrs["encoding"] not in ("raw", "png", "jpeg"):
            fail(path, "images encoding")
        groups = {"panoptic": ["panoptic", "segments"], "semantic": ["semantic"], "instance": ["segments"],
                  "detection": ["segments"], "image_labels": ["labels"]}[task]
        for g in groups:
            if g not in f:
                fail(path, f"missing /{g} for task {task}")
        if "segments" in f:
            c = f["segments/class"][()]
            if c.dtype != np.int32 or (len(c) and (c.min() < 0 or c.max() >= k)):
                fail(path, "segments/class")
            if f["segments/bbox"].shape != (len(c), 4):
                fail(path, "segments/bbox")
        print(f"h5py reads {path}: {a['dataset']} ({task}), {n} samples, {k} classes")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        check(p)
