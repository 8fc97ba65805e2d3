"""Makes torch_losses.json: the losses and the matcher cost of LossesTests computed with
PyTorch by Mask2Former's own formulas (point_sample, sigmoid_ce_loss, dice_loss,
batch_sigmoid_ce_loss, batch_dice_loss), Detectron2's sigmoid focal loss, weighted
cross-entropy, ScaleDet's hard/soft label losses, Detic's max-size image-label loss and the
BoxInst projection loss, with the gradients of each loss. Rules: docs/losses.md.

Run once:  python3 make_torch_losses.py   (CPU torch)
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(11)


def t(shape, low=-3.0, high=3.0, grad=True):
    return torch.tensor(rng.uniform(low, high, size=shape).astype(np.float32), requires_grad=grad)


def enc(x):
    x = x.detach().numpy().astype(np.float32) if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1)]}


def point_sample(inp, coords):  # Mask2Former / detectron2 point_sample: coords in [0,1]
    return F.grid_sample(inp, 2.0 * coords.unsqueeze(2) - 1.0, align_corners=False).squeeze(3)


out = {}

# Point-level mask losses (M masks, P points).
M, P, num_masks = 3, 40, 5.0
x = t((M, P))
tgt = torch.tensor((rng.uniform(size=(M, P)) < 0.4).astype(np.float32))
tgt[0, :5] = 0.5  # fractional targets (bilinear reads near mask edges)
bce = F.binary_cross_entropy_with_logits(x, tgt, reduction="none").mean(1).sum() / num_masks
s = x.sigmoid()
dice = (1 - (2 * (s * tgt).sum(-1) + 1) / (s.sum(-1) + tgt.sum(-1) + 1)).sum() / num_masks
ce_ = F.binary_cross_entropy_with_logits(x, tgt, reduction="none")
p_t = s * tgt + (1 - s) * (1 - tgt)
focal = (ce_ * ((1 - p_t) ** 2) * (0.25 * tgt + 0.75 * (1 - tgt))).mean(1).sum() / num_masks
entry = {"logits": enc(x), "targets": enc(tgt), "num_masks": num_masks}
for name, loss in [("bce", bce), ("dice", dice), ("focal", focal)]:
    g, = torch.autograd.grad(loss, x, retain_graph=True)
    entry[name] = float(loss.detach())
    entry[name + "_grad"] = enc(g)
out["mask_losses"] = entry

# Weighted cross-entropy over K+1 (no-object last, weight 0.1).
N, K = 7, 5
logits = t((N, K + 1))
targets = [0, 5, 5, 2, 4, 5, 1]
weight = torch.ones(K + 1)
weight[-1] = 0.1
ce = F.cross_entropy(logits, torch.tensor(targets), weight)
g, = torch.autograd.grad(ce, logits)
out["cross_entropy"] = {"logits": enc(logits), "targets": targets, "value": float(ce.detach()), "grad": enc(g)}

# ScaleDet hard and soft label losses over a unified space of U classes.
U, D = 6, 8
emb = F.normalize(torch.tensor(rng.normal(size=(U, D)).astype(np.float32)), dim=1)
S = emb @ emb.T
cos = t((4, U), -1, 1)
unified = [1, 4, 4, 0]
hard = F.binary_cross_entropy_with_logits(cos / 0.07, F.one_hot(torch.tensor(unified), U).float(),
                                          reduction="none").sum(1).mean()
gh, = torch.autograd.grad(hard, cos)
soft = ((cos - S[unified]) ** 2).mean(1).mean()
gs, = torch.autograd.grad(soft, cos)
out["scaledet"] = {"embeddings": enc(emb), "similarity": enc(S), "cosines": enc(cos), "targets": unified,
                   "temperature": 0.07, "hard": float(hard.detach()), "hard_grad": enc(gh), "soft": float(soft.detach()), "soft_grad": enc(gs)}

# Detic image-label loss, max-size rule.
B, Q, Kd, H, W = 2, 4, 5, 6, 7
cls = t((B, Q, Kd))
masks = t((B, Q, H, W), grad=False)
labels = [[1, 3], [4]]
total = 0
for b in range(B):
    area = (masks[b] > 0).flatten(1).sum(1)
    q = int(torch.argmax(area))  # first maximum
    onehot = F.one_hot(torch.tensor(labels[b]), Kd).float()
    total = total + F.binary_cross_entropy_with_logits(cls[b, q].expand(len(labels[b]), Kd), onehot,
                                                       reduction="sum") / len(labels[b])
image_label = total / B
gi, = torch.autograd.grad(image_label, cls)
out["image_label"] = {"class_logits": enc(cls), "mask_logits": enc(masks), "labels": labels,
                      "value": float(image_label.detach()), "grad": enc(gi)}

# Box projection loss (BoxInst / DaTaSeg).
Mb, Hb, Wb = 3, 8, 9
ml = t((Mb, Hb, Wb))
boxes = [(1.2, 0.5, 6.7, 4.0), (0.0, 2.0, 9.0, 8.0), (3.0, 3.0, 4.0, 5.5)]
bm = torch.zeros(Mb, Hb, Wb)
for i, (x0, y0, x1, y1) in enumerate(boxes):
    bm[i, max(0, math.floor(y0)):min(Hb, math.ceil(y1)), max(0, math.floor(x0)):min(Wb, math.ceil(x1))] = 1
sb = ml.sigmoid()


def dproj(p, tt):
    return 1 - 2 * (p * tt).sum(1) / ((p * p).sum(1) + (tt * tt).sum(1) + 1e-5)


proj = (dproj(sb.max(1).values, bm.max(1).values) + dproj(sb.max(2).values, bm.max(2).values)).mean()
gp, = torch.autograd.grad(proj, ml)
out["box_projection"] = {"mask_logits": enc(ml), "boxes": [list(b) for b in boxes], "value": float(proj.detach()), "grad": enc(gp)}

# Matcher cost (Mask2Former HungarianMatcher.memory_efficient_forward) with given points.
Qm, Tm, Km, Hm, Wm, Pm = 6, 3, 4, 8, 10, 64
pl = t((Qm, Km + 1), grad=False)
pm = t((Qm, Hm, Wm), grad=False)
tm = torch.tensor((rng.uniform(size=(Tm, 2 * Hm, 2 * Wm)) < 0.5).astype(np.float32))
tc = [2, 0, 2]
coords = torch.tensor(rng.uniform(size=(1, Pm, 2)).astype(np.float32))
out_mask = point_sample(pm[:, None], coords.repeat(Qm, 1, 1)).squeeze(1)
tgt_mask = point_sample(tm[:, None], coords.repeat(Tm, 1, 1)).squeeze(1)
pos = F.binary_cross_entropy_with_logits(out_mask, torch.ones_like(out_mask), reduction="none")
neg = F.binary_cross_entropy_with_logits(out_mask, torch.zeros_like(out_mask), reduction="none")
cost_mask = (torch.einsum("nc,mc->nm", pos, tgt_mask) + torch.einsum("nc,mc->nm", neg, 1 - tgt_mask)) / Pm
sig = out_mask.sigmoid()
cost_dice = 1 - (2 * torch.einsum("nc,mc->nm", sig, tgt_mask) + 1) / (sig.sum(-1)[:, None] + tgt_mask.sum(-1)[None, :] + 1)
cost_class = -pl.softmax(-1)[:, tc]
C = 5.0 * cost_mask + 2.0 * cost_class + 5.0 * cost_dice
out["matcher_cost"] = {"logits": enc(pl), "pred_masks": enc(pm), "target_masks": enc(tm), "target_classes": tc,
                       "points": enc(coords[0]), "cost": enc(C)}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_losses.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
