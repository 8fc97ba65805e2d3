"""Makes small version-1 shards with h5py, written from docs/shard-format.md alone,
for DatasetsTests (the project must read what other tools write):

- h5py_panoptic-00000.h5: 3 samples, raw images, panoptic maps + segment table, and semantic maps
- h5py_instance-00000.h5: 2 samples, PNG-encoded images, segments with RLE masks
- h5py_labels-00000.h5: 2 samples, image-level labels only

Run once:  python3 make_h5py_shards.py   (numpy, h5py, pillow)
"""
import io
import os

import h5py
import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(3)
str_dt = h5py.string_dtype()


def root(f, dataset, task, n, names, isthing):
    f.attrs["format"] = "m2f-shard"
    f.attrs["version"] = 1
    f.attrs["dataset"] = dataset
    f.attrs["task"] = task
    f.attrs["num_samples"] = n
    f.create_dataset("classes/names", data=names, dtype=str_dt)
    f.create_dataset("classes/source_ids", data=np.arange(1, len(names) + 1, dtype=np.int64) * 10)
    f.create_dataset("classes/isthing", data=np.array(isthing, dtype=np.uint8))


def images(f, imgs, encoding):
    blobs = []
    for im in imgs:
        if encoding == "raw":
            blobs.append(im.reshape(-1))
        else:
            buf = io.BytesIO(); Image.fromarray(im).save(buf, format="PNG")
            blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
    f.create_dataset("images/bytes", data=np.concatenate(blobs), compression="gzip", shuffle=True)
    f.create_dataset("images/offsets", data=np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64))
    f.create_dataset("images/shape", data=np.array([im.shape for im in imgs], dtype=np.int32))
    f.create_dataset("images/source_id", data=np.arange(100, 100 + len(imgs), dtype=np.int64))
    f["images"].attrs["encoding"] = encoding


def rle_counts(mask):
    flat = mask.reshape(-1, order="F")
    counts, prev, run = [], 0, 0
    for v in flat:
        if v != prev:
            counts.append(run); run = 0; prev = v
        run += 1
    counts.append(run)
    return counts


# panoptic (+ semantic)
sizes = [(6, 8), (5, 5), (7, 4)]
imgs = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
with h5py.File(os.path.join(here, "h5py_panoptic-00000.h5"), "w") as f:
    root(f, "toy_panoptic", "panoptic", 3, ["cat", "dog", "grass", "sky"], [1, 1, 0, 0])
    images(f, imgs, "raw")
    pan, sem, seg_rows, offs = [], [], [], [0]
    for (h, w) in sizes:
        ids = np.zeros((h, w), np.uint32)
        ids[: h // 2] = 7; ids[h // 2:] = 9; ids[1:3, 1:3] = 300
        rows = [(7, 3, 0), (9, 2, 0), (300, 0, 0)]
        pan.append(ids.reshape(-1))
        s = np.full((h, w), 255, np.uint8); s[ids == 7] = 3; s[ids == 9] = 2; s[ids == 300] = 0
        sem.append(s.reshape(-1))
        for sid, cls, crowd in rows:
            ys, xs = np.nonzero(ids == sid)
            seg_rows.append((sid, cls, crowd, len(ys), [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]))
        offs.append(offs[-1] + len(rows))
    f.create_dataset("panoptic/bytes", data=np.concatenate(pan), compression="gzip")
    f.create_dataset("panoptic/offsets", data=np.cumsum([0] + [len(p) for p in pan]).astype(np.int64))
    f.create_dataset("semantic/bytes", data=np.concatenate(sem))
    f.create_dataset("semantic/offsets", data=np.cumsum([0] + [len(p) for p in sem]).astype(np.int64))
    f["semantic"].attrs["ignore_label"] = 255
    f.create_dataset("segments/offsets", data=np.array(offs, np.int64))
    f.create_dataset("segments/id", data=np.array([r[0] for r in seg_rows], np.int32))
    f.create_dataset("segments/class", data=np.array([r[1] for r in seg_rows], np.int32))
    f.create_dataset("segments/iscrowd", data=np.array([r[2] for r in seg_rows], np.uint8))
    f.create_dataset("segments/area", data=np.array([r[3] for r in seg_rows], np.int64))
    f.create_dataset("segments/bbox", data=np.array([r[4] for r in seg_rows], np.float32))

# instance with PNG images
sizes = [(9, 7), (4, 6)]
imgs = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
with h5py.File(os.path.join(here, "h5py_instance-00000.h5"), "w") as f:
    root(f, "toy_instance", "instance", 2, ["person", "car"], [1, 1])
    images(f, imgs, "png")
    rles, rows, offs = [], [], [0]
    for k, (h, w) in enumerate(sizes):
        for j in range(2):
            m = np.zeros((h, w), np.uint8); m[j: j + 3, 1: 4 + j] = 1
            rles.append(rle_counts(m))
            ys, xs = np.nonzero(m)
            rows.append((j, j % 2, 0, int(m.sum()), [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]))
        offs.append(offs[-1] + 2)
    f.create_dataset("segments/offsets", data=np.array(offs, np.int64))
    f.create_dataset("segments/id", data=np.array([r[0] for r in rows], np.int32))
    f.create_dataset("segments/class", data=np.array([r[1] for r in rows], np.int32))
    f.create_dataset("segments/iscrowd", data=np.array([r[2] for r in rows], np.uint8))
    f.create_dataset("segments/area", data=np.array([r[3] for r in rows], np.int64))
    f.create_dataset("segments/bbox", data=np.array([r[4] for r in rows], np.float32))
    f.create_dataset("segments/rle", data=np.concatenate([np.array(r, np.uint32) for r in rles]))
    f.create_dataset("segments/rle_offsets", data=np.cumsum([0] + [len(r) for r in rles]).astype(np.int64))

# image labels
imgs = [rng.integers(0, 256, (3, 4, 3), dtype=np.uint8) for _ in range(2)]
with h5py.File(os.path.join(here, "h5py_labels-00000.h5"), "w") as f:
    root(f, "toy_labels", "image_labels", 2, ["apple", "pear", "plum"], [1, 1, 1])
    images(f, imgs, "raw")
    f.create_dataset("labels/class", data=np.array([0, 2, 1], np.int32))
    f.create_dataset("labels/offsets", data=np.array([0, 2, 3], np.int64))
print("ok")
