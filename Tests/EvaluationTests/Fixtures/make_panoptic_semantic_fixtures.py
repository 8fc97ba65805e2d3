"""Makes the panoptic and semantic fixtures of EvaluationTests:

- panoptic/: COCO panoptic ground truth and predictions (JSON + RGB PNGs) with things and
  stuff, crowd regions, void in both, predictions lying mostly on void or crowd, a category
  with only false positives and one absent everywhere; panoptic_expected.json is what
  panopticapi's pq_compute (panopticapi-lite) reports.
- semantic/: label maps (grayscale and one palette PNG) with the ignore label 255, a class
  predicted but absent from the ground truth, predictions >= num_classes;
  semantic_expected.json holds mmsegmentation's IoUMetric numbers (its formulas: torch.histc
  areas summed over the set, nanmean), computed here with NumPy, and Detectron2's.

Run once:  python3 make_panoptic_semantic_fixtures.py   (numpy, pillow, panopticapi-lite)
"""
import contextlib
import io
import json
import os

import numpy as np
from PIL import Image
from panopticapi.evaluation import pq_compute

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(17)


def id2rgb(ids):
    return np.stack([ids % 256, (ids // 256) % 256, ids // 65536], -1).astype(np.uint8)


# ---- panoptic ------------------------------------------------------------------------------
pan = os.path.join(here, "panoptic")
os.makedirs(os.path.join(pan, "gt"), exist_ok=True)
os.makedirs(os.path.join(pan, "pred"), exist_ok=True)
categories = [{"id": 1, "name": "person", "isthing": 1}, {"id": 2, "name": "car", "isthing": 1},
              {"id": 5, "name": "dog", "isthing": 1}, {"id": 10, "name": "sky", "isthing": 0},
              {"id": 11, "name": "grass", "isthing": 0}, {"id": 12, "name": "water", "isthing": 0}]
gt_anns, pred_anns, images = [], [], []
for img in range(8):
    H, W = int(rng.integers(30, 60)), int(rng.integers(30, 60))
    gt = np.zeros((H, W), np.uint32)
    segs = []
    # stuff bands
    gt[: H // 3] = 1000 + img
    segs.append({"id": 1000 + img, "category_id": 10, "iscrowd": 0})
    gt[H // 3:] = 2000 + img
    segs.append({"id": 2000 + img, "category_id": 11, "iscrowd": 0})
    # things (rectangles), one crowd sometimes
    for k in range(int(rng.integers(1, 5))):
        y0, x0 = int(rng.integers(0, H - 8)), int(rng.integers(0, W - 8))
        h, w = int(rng.integers(4, H - y0)), int(rng.integers(4, W - x0))
        sid = 100 * (k + 1) + img * 7 + 3
        gt[y0:y0 + h, x0:x0 + w] = sid
        segs.append({"id": sid, "category_id": int(rng.choice([1, 2])), "iscrowd": int(k == 0 and img % 3 == 0)})
    gt[rng.uniform(size=(H, W)) < 0.05] = 0                         # void speckles
    gt[:2, :] = 0                                                   # void border
    present = set(np.unique(gt).tolist())
    segs = [s for s in segs if s["id"] in present]
    for s in segs:
        s["area"] = int((gt == s["id"]).sum())
        ys, xs = np.nonzero(gt == s["id"])
        s["bbox"] = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
    # prediction: gt with shifted boundaries, some segments dropped, some relabelled, extras
    pred = gt.copy()
    shift = int(rng.integers(-3, 4))
    pred = np.roll(pred, shift, axis=1)
    pred[rng.uniform(size=(H, W)) < 0.03] = 0
    pred_segs = []
    mapping = {}
    for s in segs:
        if rng.uniform() < 0.15:
            pred[pred == s["id"]] = 0                               # missed
            continue
        new_id = int(s["id"] * 3 + 1)
        mapping[s["id"]] = new_id
        pred[pred == s["id"]] = new_id
        cat = s["category_id"]
        if rng.uniform() < 0.15:
            cat = int(rng.choice([1, 2, 5, 12]))                    # wrong class
        pred_segs.append({"id": new_id, "category_id": cat})
    # an extra prediction on the void border (mostly void: not a false positive)
    pred[:2, : W // 2] = 77777
    pred_segs.append({"id": 77777, "category_id": 5})
    # an extra false positive in the middle
    pred[H // 2: H // 2 + 3, W // 2: W // 2 + 4] = 88888 + img
    pred_segs.append({"id": 88888 + img, "category_id": int(rng.choice([1, 5, 12]))})
    present = set(np.unique(pred).tolist())
    pred_segs = [s for s in pred_segs if s["id"] in present]
    name = f"{img:03d}.png"
    Image.fromarray(id2rgb(gt)).save(os.path.join(pan, "gt", name))
    Image.fromarray(id2rgb(pred)).save(os.path.join(pan, "pred", name))
    images.append({"id": img, "file_name": f"{img:03d}.jpg", "height": H, "width": W})
    gt_anns.append({"image_id": img, "file_name": name, "segments_info": segs})
    pred_anns.append({"image_id": img, "file_name": name, "segments_info": pred_segs})
with open(os.path.join(pan, "gt.json"), "w") as f:
    json.dump({"images": images, "annotations": gt_anns, "categories": categories}, f)
with open(os.path.join(pan, "pred.json"), "w") as f:
    json.dump({"annotations": pred_anns}, f)
with contextlib.redirect_stdout(io.StringIO()):
    res = pq_compute(os.path.join(pan, "gt.json"), os.path.join(pan, "pred.json"),
                     os.path.join(pan, "gt"), os.path.join(pan, "pred"))
expected = {k: res[k] for k in ("All", "Things", "Stuff")}
expected["per_class"] = {str(k): v for k, v in res["per_class"].items()}
with open(os.path.join(here, "panoptic_expected.json"), "w") as f:
    json.dump(expected, f, indent=1)

# ---- semantic ------------------------------------------------------------------------------
sem = os.path.join(here, "semantic")
os.makedirs(os.path.join(sem, "gt"), exist_ok=True)
os.makedirs(os.path.join(sem, "pred"), exist_ok=True)
num_classes = 6
total = {k: np.zeros(num_classes, np.int64) for k in ("inter", "union", "pred", "label")}
for img in range(5):
    H, W = int(rng.integers(20, 40)), int(rng.integers(20, 40))
    label = rng.choice([0, 1, 2, 4, 255], size=(H, W), p=[0.3, 0.3, 0.2, 0.1, 0.1]).astype(np.uint8)   # 3 and 5 never labelled
    pred = label.copy()
    noise = rng.uniform(size=(H, W)) < 0.3
    pred[noise] = rng.choice([0, 1, 2, 3, 4, 9], size=int(noise.sum()))     # 3: predicted only; 9: >= num_classes
    pred[pred == 255] = 1
    name = f"{img:03d}.png"
    if img == 2:
        # palette label map: PIL's mode P, values are palette indices
        im = Image.fromarray(label, mode="P")
        im.putpalette([(i * 53) % 256 for i in range(768)])
        im.save(os.path.join(sem, "gt", name))
    else:
        Image.fromarray(label, mode="L").save(os.path.join(sem, "gt", name))
    Image.fromarray(pred, mode="L").save(os.path.join(sem, "pred", name))
    # mmsegmentation IoUMetric.intersect_and_union with torch.histc(bins=n, min=0, max=n-1)
    mask = label != 255
    p, l = pred[mask].astype(np.int64), label[mask].astype(np.int64)
    inter = p[p == l]
    hist = lambda v: np.bincount(v[(v >= 0) & (v <= num_classes - 1)], minlength=num_classes)
    ai, ap, al = hist(inter), hist(p), hist(l)
    total["inter"] += ai; total["pred"] += ap; total["label"] += al; total["union"] += ap + al - ai
with np.errstate(divide="ignore", invalid="ignore"):
    iou = total["inter"] / total["union"]
    acc = total["inter"] / total["label"]
    valid = total["label"] > 0
    semantic = {
        "num_classes": num_classes,
        "mmseg": {"aAcc": float(total["inter"].sum() / total["label"].sum()), "mIoU": float(np.nanmean(iou)),
                  "mAcc": float(np.nanmean(acc)), "iou": [None if np.isnan(v) else float(v) for v in iou],
                  "acc": [None if np.isnan(v) else float(v) for v in acc]},
        "detectron2": {"mIoU": float(np.mean(iou[valid])), "mAcc": float(np.mean(acc[valid])),
                       "aAcc": float(total["inter"].sum() / total["label"].sum())},
    }
with open(os.path.join(here, "semantic_expected.json"), "w") as f:
    json.dump(semantic, f, indent=1)
print(json.dumps(expected["All"]), json.dumps(semantic["mmseg"]["mIoU"]))
