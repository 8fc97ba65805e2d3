"""Makes the COCO fixtures of EvaluationTests with pycocotools (the COCO API):

- mask_api.json: polygons and boxes rasterised by maskUtils.frPyObjects (+ merge), their
  compressed counts strings, areas, boxes, IoUs (with crowd flags) and merges.
- coco_gt.json, coco_results_bbox.json, coco_results_segm.json: a small COCO set with crowds,
  several polygons per object, an image without ground truth, a category without ground truth,
  score ties, more than 100 detections in an image, all area ranges.
- coco_expected.json: COCOeval's 12 summary numbers and per-category AP for bbox and segm.

Run once:  python3 make_coco_fixtures.py   (numpy, pycocotools)
"""
import contextlib
import io
import json
import os

import numpy as np
import pycocotools
from pycocotools import mask as maskUtils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(5)


def polygon(cx, cy, r, n, jitter=0.35):
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * (1 + rng.uniform(-jitter, jitter, n))
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    return [round(float(v), 2) for v in pts.reshape(-1)]


def to_json_rle(rle):
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


# ---- mask API cases -------------------------------------------------------------------------
h, w = 37, 53
shapes = []
for i in range(25):
    n = int(rng.integers(3, 12))
    shapes.append([polygon(rng.uniform(-5, w + 5), rng.uniform(-5, h + 5), rng.uniform(1, 20), n)])
shapes.append([[0, 0, 53, 0, 53, 37, 0, 37]])                     # the whole image
shapes.append([[10.5, 10.5, 10.5, 10.5, 10.5, 10.5]])             # degenerate
shapes.append([polygon(15, 15, 8, 6), polygon(35, 20, 6, 5)])     # two parts
boxes = [[3.2, 4.7, 10.1, 7.9], [0, 0, 53, 37], [-4, 30, 10, 20], [20, 10, 0.4, 0.3]]
rles = [maskUtils.merge(maskUtils.frPyObjects(s, h, w)) for s in shapes]
rles += maskUtils.frPyObjects(np.array(boxes, dtype=np.float64), h, w)
crowd = [int(v) for v in rng.integers(0, 2, len(rles))]
ious = maskUtils.iou(rles, rles, crowd)
union = maskUtils.merge(rles[:5], intersect=False)
inter = maskUtils.merge([rles[i] for i in (0, 1)], intersect=True)
mask_api = {
    "height": h, "width": w, "polygons": shapes, "boxes": boxes,
    "counts": [r["counts"].decode("ascii") for r in rles],
    "areas": [int(a) for a in maskUtils.area(rles)],
    "bboxes": [[float(v) for v in b] for b in maskUtils.toBbox(rles)],
    "crowd": crowd, "ious": [[float(v) for v in row] for row in ious],
    "union_of_first_5": union["counts"].decode("ascii"),
    "intersection_of_first_2": inter["counts"].decode("ascii"),
    "decoded_first": maskUtils.decode(rles[0]).reshape(-1, order="F").tolist(),
}
with open(os.path.join(here, "mask_api.json"), "w") as f:
    json.dump(mask_api, f)

# ---- a small COCO set -----------------------------------------------------------------------
categories = [{"id": c, "name": f"c{c}"} for c in (1, 3, 7, 9)]    # 9 has no ground truth
images, annotations = [], []
aid = 1
for img in range(1, 13):
    H, W = int(rng.integers(120, 260)), int(rng.integers(120, 260))
    images.append({"id": img * 10, "height": H, "width": W, "file_name": f"{img}.jpg"})
    if img == 5:
        continue                                                   # no ground truth at all
    for _ in range(int(rng.integers(1, 7))):
        cat = int(rng.choice([1, 3, 7]))
        r = float(np.exp(rng.uniform(np.log(3), np.log(70))))
        cx, cy = rng.uniform(r, W - r), rng.uniform(r, H - r)
        parts = [polygon(cx, cy, r, int(rng.integers(5, 14)))]
        if rng.uniform() < 0.25:
            parts.append(polygon(cx + r, cy, r / 2, 6))
        rle = maskUtils.merge(maskUtils.frPyObjects(parts, H, W))
        crowd = int(rng.uniform() < 0.12)
        seg = parts
        if crowd:
            m = maskUtils.decode(rle)
            flat = m.reshape(-1, order="F")
            counts, prev, run = [], 0, 0
            for v in flat:
                if v != prev:
                    counts.append(run); run = 0; prev = v
                run += 1
            counts.append(run)
            seg = {"size": [H, W], "counts": counts}
        annotations.append({"id": aid, "image_id": img * 10, "category_id": cat, "iscrowd": crowd,
                            "area": float(maskUtils.area(rle)), "bbox": [float(v) for v in maskUtils.toBbox(rle)],
                            "segmentation": seg})
        aid += 1
gt = {"images": images, "annotations": annotations, "categories": categories}
with open(os.path.join(here, "coco_gt.json"), "w") as f:
    json.dump(gt, f)

# Detections: jittered copies of ground truth, false positives, ties, >100 in one image.
bbox_results, segm_results = [], []
img_size = {i["id"]: (i["height"], i["width"]) for i in images}


def add(image_id, cat, rle, score):
    H, W = img_size[image_id]
    b = [round(float(v), 2) for v in maskUtils.toBbox(rle)]
    bbox_results.append({"image_id": image_id, "category_id": cat, "bbox": b, "score": score})
    segm_results.append({"image_id": image_id, "category_id": cat, "segmentation": to_json_rle(rle), "score": score})


for a in annotations:
    H, W = img_size[a["image_id"]]
    for _ in range(int(rng.integers(0, 3))):
        x, y, bw, bh = a["bbox"]
        dx, dy = rng.normal(0, 0.15 * bw), rng.normal(0, 0.15 * bh)
        poly = [[x + dx, y + dy, x + dx + bw * rng.uniform(0.7, 1.2), y + dy, x + dx + bw, y + dy + bh * rng.uniform(0.8, 1.2), x + dx, y + dy + bh]]
        rle = maskUtils.merge(maskUtils.frPyObjects(poly, H, W))
        cat = a["category_id"] if rng.uniform() < 0.85 else int(rng.choice([1, 3, 7, 9]))
        add(a["image_id"], cat, rle, round(float(rng.uniform(0.05, 1.0)), 2))   # rounded: ties
for image in images:
    H, W = image["height"], image["width"]
    n = 130 if image["id"] == 30 else int(rng.integers(0, 6))
    for _ in range(n):
        poly = [polygon(rng.uniform(0, W), rng.uniform(0, H), rng.uniform(2, 40), 7)]
        rle = maskUtils.merge(maskUtils.frPyObjects(poly, H, W))
        add(image["id"], int(rng.choice([1, 3, 7, 9])), rle, round(float(rng.uniform(0, 0.6)), 1))
for name, res in [("bbox", bbox_results), ("segm", segm_results)]:
    with open(os.path.join(here, f"coco_results_{name}.json"), "w") as f:
        json.dump(res, f)

expected = {"pycocotools_version": pycocotools.__version__ if hasattr(pycocotools, "__version__") else "2.0.x"}
for iou_type in ("bbox", "segm"):
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(os.path.join(here, "coco_gt.json"))
        coco_dt = coco_gt.loadRes(os.path.join(here, f"coco_results_{iou_type}.json"))
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate(); ev.accumulate(); ev.summarize()
    per_cat = {}
    for k, cat in enumerate(ev.params.catIds):
        p = ev.eval["precision"][:, :, k, 0, 2]
        per_cat[str(cat)] = float(np.mean(p[p > -1])) if (p > -1).any() else -1.0
    expected[iou_type] = {"stats": [float(v) for v in ev.stats], "per_category": per_cat}
with open(os.path.join(here, "coco_expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
print(len(annotations), "annotations,", len(bbox_results), "detections")
print(json.dumps(expected, indent=1)[:800])
