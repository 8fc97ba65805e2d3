"""m2f-tiny in PyTorch: the same-run baseline of `train bench step`.

An independent PyTorch implementation of the model of docs/m2f-tiny.md (the
project's copy of the parity fixtures pins it down: `--check` runs the parity batch through it
with the reference weights and compares with the reference outputs), trained for the reference
benchmark iteration exactly as `train bench step` times it: batch 2 of 256 x 256 images, 8
rectangle targets each, K = 133; forward, Hungarian matching (12544 uniform points, scipy),
losses (importance-sampled points, deep supervision over 7 sets), backward, clipping at 0.01,
AdamW (PyTorch's multi-tensor `foreach` versions of both, its fastest on the CPU). Median of
`--repeats` iterations after `--warmup`, on `--threads` threads.

    python scripts/bench/pytorch_step.py [--check] [--json OUT.json]

`train bench step --python PYTHON` runs it after its own iterations and prints both.

Needs torch, numpy, scipy (and h5py for --check).
"""
import argparse
import json
import math
import os
import resource
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

D, HEADS, LEVELS, POINTS, QUERIES, FFN, LAYERS, EMBED = 128, 4, 3, 4, 50, 512, 6, 384


def group_norm(channels, groups):
    return nn.GroupNorm(groups, channels, eps=1e-5)


class ConvNorm(nn.Module):
    def __init__(self, cin, cout, k, stride=1, bias=False, groups=32):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=bias)
        self.norm = group_norm(cout, groups)

    def forward(self, x):
        return self.norm(self.conv(x))


class Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self.norm1 = group_norm(32, 8)
        self.conv2 = nn.Conv2d(32, 64, 3, 2, 1, bias=False)
        self.norm2 = group_norm(64, 8)

    def forward(self, x):
        return F.relu(self.norm2(self.conv2(F.relu(self.norm1(self.conv1(x))))))


class BasicBlock(nn.Module):
    def __init__(self, a, b, s):
        super().__init__()
        self.conv1 = nn.Conv2d(a, b, 3, s, 1, bias=False)
        self.norm1 = group_norm(b, 8)
        self.conv2 = nn.Conv2d(b, b, 3, 1, 1, bias=False)
        self.norm2 = group_norm(b, 8)
        self.shortcut = ConvNorm(a, b, 1, s, groups=8) if (a != b or s != 1) else None

    def forward(self, x):
        y = self.norm2(self.conv2(F.relu(self.norm1(self.conv1(x)))))
        return F.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Stem()
        self.res2, self.res3 = BasicBlock(64, 64, 1), BasicBlock(64, 128, 2)
        self.res4, self.res5 = BasicBlock(128, 256, 2), BasicBlock(256, 512, 2)

    def forward(self, x):
        r2 = self.res2(self.stem(x))
        r3 = self.res3(r2)
        r4 = self.res4(r3)
        return r2, r3, r4, self.res5(r4)


def sine_position(n, h, w):
    """[n, 128, h, w]: 64 y features then 64 x features, normalised positions in (0, 2 pi]."""
    y = (torch.arange(h, dtype=torch.float32) + 1) / (h + 1e-6) * 2 * math.pi
    x = (torch.arange(w, dtype=torch.float32) + 1) / (w + 1e-6) * 2 * math.pi
    i = torch.arange(64, dtype=torch.float32)
    dim_t = 10000 ** (2 * torch.div(i, 2, rounding_mode="floor") / 64)

    def encode(v):
        p = v[:, None] / dim_t
        return torch.stack((p[:, 0::2].sin(), p[:, 1::2].cos()), dim=2).flatten(1)

    py = encode(y)[:, None, :].expand(h, w, 64)
    px = encode(x)[None, :, :].expand(h, w, 64)
    return torch.cat((py, px), dim=2).permute(2, 0, 1)[None].expand(n, -1, -1, -1)


class MSDeformAttn(nn.Module):
    def __init__(self):
        super().__init__()
        self.sampling_offsets = nn.Linear(D, HEADS * LEVELS * POINTS * 2)
        self.attention_weights = nn.Linear(D, HEADS * LEVELS * POINTS)
        self.value_proj = nn.Linear(D, D)
        self.output_proj = nn.Linear(D, D)

    def forward(self, query, reference, src, shapes):
        n, lq, _ = query.shape
        dh = D // HEADS
        value = self.value_proj(src).view(n, -1, HEADS, dh)
        offsets = self.sampling_offsets(query).view(n, lq, HEADS, LEVELS, POINTS, 2)
        weights = self.attention_weights(query).view(n, lq, HEADS, LEVELS * POINTS).softmax(-1)
        normaliser = torch.tensor([[w, h] for h, w in shapes], dtype=torch.float32)
        locations = reference[:, :, None, None, None, :] + offsets / normaliser[None, None, None, :, None, :]
        grids = 2 * locations - 1
        sampled = []
        for l, (v, (h, w)) in enumerate(zip(value.split([h * w for h, w in shapes], dim=1), shapes)):
            v = v.flatten(2).transpose(1, 2).reshape(n * HEADS, dh, h, w)
            g = grids[:, :, :, l].transpose(1, 2).flatten(0, 1)
            sampled.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False))
        weights = weights.transpose(1, 2).reshape(n * HEADS, 1, lq, LEVELS * POINTS)
        out = (torch.stack(sampled, dim=-2).flatten(-2) * weights).sum(-1).view(n, D, lq)
        return self.output_proj(out.transpose(1, 2))


class EncoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = MSDeformAttn()
        self.norm1 = nn.LayerNorm(D)
        self.linear1, self.linear2 = nn.Linear(D, FFN), nn.Linear(FFN, D)
        self.norm2 = nn.LayerNorm(D)

    def forward(self, src, pos, reference, shapes):
        src = self.norm1(src + self.self_attn(src + pos, reference, src, shapes))
        return self.norm2(src + self.linear2(F.relu(self.linear1(src))))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer() for _ in range(2)])


class PixelDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.level_embed = nn.Parameter(torch.zeros(LEVELS, D))
        self.input_proj = nn.ModuleList([ConvNorm(c, D, 1, bias=True) for c in (512, 256, 128)])
        self.encoder = Encoder()
        self.lateral_conv = ConvNorm(64, D, 1)
        self.output_conv = ConvNorm(D, D, 3)
        self.mask_features = nn.Conv2d(D, D, 1)

    def forward(self, r2, r3, r4, r5):
        maps = [p(x) for p, x in zip(self.input_proj, (r5, r4, r3))]
        n = r2.shape[0]
        shapes = [m.shape[2:] for m in maps]
        src = torch.cat([m.flatten(2).transpose(1, 2) for m in maps], 1)
        pos = torch.cat([(sine_position(n, h, w) + self.level_embed[l][None, :, None, None]).flatten(2).transpose(1, 2)
                         for l, (h, w) in enumerate(shapes)], 1)
        refs = []
        for h, w in shapes:
            ys, xs = torch.meshgrid((torch.arange(h, dtype=torch.float32) + 0.5) / h,
                                    (torch.arange(w, dtype=torch.float32) + 0.5) / w, indexing="ij")
            refs.append(torch.stack((xs.flatten(), ys.flatten()), -1))
        reference = torch.cat(refs, 0)[None].expand(n, -1, -1)
        for layer in self.encoder.layers:
            src = layer(src, pos, reference, shapes)
        outs = [s.transpose(1, 2).reshape(n, D, h, w) for s, (h, w) in zip(src.split([h * w for h, w in shapes], 1), shapes)]
        y = self.lateral_conv(r2) + F.interpolate(outs[2], size=r2.shape[2:], mode="bilinear", align_corners=False)
        y = F.relu(self.output_conv(y))
        return self.mask_features(y), outs


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(D, D) for _ in range(4))

    def forward(self, q, k, v, blocked=None):
        n, lq, _ = q.shape
        dh = D // HEADS
        q = (self.q_proj(q) / math.sqrt(dh)).view(n, lq, HEADS, dh).transpose(1, 2)
        k = self.k_proj(k).view(n, -1, HEADS, dh).transpose(1, 2)
        v = self.v_proj(v).view(n, -1, HEADS, dh).transpose(1, 2)
        scores = q @ k.transpose(2, 3)
        if blocked is not None:
            scores = scores.masked_fill(blocked[:, None], float("-inf"))
        out = scores.softmax(-1) @ v
        return self.out_proj(out.transpose(1, 2).reshape(n, lq, D))


class DecoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.cross_attn, self.self_attn = Attention(), Attention()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D)
        self.linear1, self.linear2 = nn.Linear(D, FFN), nn.Linear(FFN, D)

    def forward(self, tgt, query_pos, memory, pos, blocked):
        tgt = self.norm1(tgt + self.cross_attn(tgt + query_pos, memory + pos, memory, blocked))
        q = tgt + query_pos
        tgt = self.norm2(tgt + self.self_attn(q, q, tgt))
        return self.norm3(tgt + self.linear2(F.relu(self.linear1(tgt))))


class MaskMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(D, D) for _ in range(3)])

    def forward(self, x):
        return self.layers[2](F.relu(self.layers[1](F.relu(self.layers[0](x)))))


class Predictor(nn.Module):
    def __init__(self):
        super().__init__()
        self.background_embed = nn.Parameter(torch.zeros(EMBED))
        self.query_feat, self.query_embed = nn.Embedding(QUERIES, D), nn.Embedding(QUERIES, D)
        self.level_embed = nn.Embedding(LEVELS, D)
        self.layers = nn.ModuleList([DecoderLayer() for _ in range(LAYERS)])
        self.decoder_norm = nn.LayerNorm(D)
        self.class_proj = nn.Linear(D, EMBED)
        self.mask_embed = MaskMLP()

    def head(self, tgt, mask_features, embeddings):
        x = self.decoder_norm(tgt)
        proj = F.normalize(self.class_proj(x), dim=-1, eps=1e-12)
        classes = torch.cat((F.normalize(embeddings, dim=-1, eps=1e-12),
                             F.normalize(self.background_embed, dim=0, eps=1e-12)[None]), 0)
        logits = proj @ classes.t() / 0.07
        masks = torch.einsum("bqc,bchw->bqhw", self.mask_embed(x), mask_features)
        return logits, masks

    def forward(self, maps, mask_features, embeddings, stored_masks=None):
        n = mask_features.shape[0]
        memory = [(m.flatten(2) + self.level_embed.weight[l][None, :, None]).transpose(1, 2) for l, m in enumerate(maps)]
        pos = [sine_position(n, *m.shape[2:]).flatten(2).transpose(1, 2) for m in maps]
        tgt = self.query_feat.weight[None].expand(n, -1, -1)
        query_pos = self.query_embed.weight[None].expand(n, -1, -1)
        outputs = [self.head(tgt, mask_features, embeddings)]
        for i, layer in enumerate(self.layers):
            l = i % LEVELS
            if stored_masks is not None:
                blocked = stored_masks[i]
            else:
                resized = F.interpolate(outputs[-1][1].detach(), size=maps[l].shape[2:], mode="bilinear", align_corners=False)
                blocked = resized.flatten(2) < 0          # sigmoid < 0.5 strictly
                blocked[blocked.all(-1)] = False
            tgt = layer(tgt, query_pos, memory[l], pos[l], blocked)
            outputs.append(self.head(tgt, mask_features, embeddings))
        return outputs


class M2FTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone, self.pixel_decoder, self.predictor = Backbone(), PixelDecoder(), Predictor()
        self.register_buffer("mean", torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1), persistent=False)

    def forward(self, images_u8, embeddings, stored_masks=None):
        x = (images_u8.float() - self.mean) / self.std
        r2, r3, r4, r5 = self.backbone(x)
        mask_features, maps = self.pixel_decoder(r2, r3, r4, r5)
        return self.predictor(maps, mask_features, embeddings, stored_masks)


# ---- matching and losses (Mask2Former's rules, docs/losses.md) ----

def point_sample(maps, points):
    """maps [N, 1, H, W], points [N, P, 2] in the unit square -> [N, P]."""
    return F.grid_sample(maps, 2 * points[:, :, None] - 1, mode="bilinear", align_corners=False)[:, 0, :, 0]


@torch.no_grad()
def match(logits, masks, targets, points=12544):
    out = []
    for b, (classes, target_masks) in enumerate(targets):
        prob = logits[b].softmax(-1)
        cost_class = -prob[:, classes]
        pts = torch.rand(1, points, 2)
        pred = point_sample(masks[b][:, None], pts.expand(masks.shape[1], -1, -1))
        tgt = point_sample(target_masks[:, None], pts.expand(target_masks.shape[0], -1, -1))
        pos = F.binary_cross_entropy_with_logits(pred, torch.ones_like(pred), reduction="none")
        neg = F.binary_cross_entropy_with_logits(pred, torch.zeros_like(pred), reduction="none")
        cost_mask = (pos @ tgt.t() + neg @ (1 - tgt).t()) / points
        s = pred.sigmoid()
        cost_dice = 1 - (2 * s @ tgt.t() + 1) / (s.sum(-1)[:, None] + tgt.sum(-1)[None] + 1)
        cost = 2 * cost_class + 5 * cost_mask + 5 * cost_dice
        rows, cols = linear_sum_assignment(cost.numpy())
        out.append((torch.as_tensor(rows), torch.as_tensor(cols)))
    return out


def losses(logits, masks, targets, indices, num_masks, points=12544, oversample=3, importance=0.75):
    k1 = logits.shape[-1]
    target_classes = torch.full(logits.shape[:2], k1 - 1, dtype=torch.long)
    for b, ((classes, _), (rows, cols)) in enumerate(zip(targets, indices)):
        target_classes[b, rows] = classes[cols]
    weight = torch.ones(k1)
    weight[-1] = 0.1
    ce = F.cross_entropy(logits.transpose(1, 2), target_classes, weight)
    pred = torch.cat([masks[b, rows] for b, (rows, _) in enumerate(indices)])[:, None]
    tgt = torch.cat([targets[b][1][cols] for b, (_, cols) in enumerate(indices)])[:, None]
    with torch.no_grad():
        n = pred.shape[0]
        candidates = torch.rand(n, points * oversample, 2)
        uncertainty = -point_sample(pred, candidates).abs()
        kept = int(importance * points)
        idx = uncertainty.topk(kept, dim=1)[1]
        chosen = torch.gather(candidates, 1, idx[..., None].expand(-1, -1, 2))
        coords = torch.cat((chosen, torch.rand(n, points - kept, 2)), 1)
        labels = point_sample(tgt, coords)
    x = point_sample(pred, coords)
    bce = F.binary_cross_entropy_with_logits(x, labels, reduction="none").mean(1).sum() / num_masks
    s = x.sigmoid()
    dice = (1 - (2 * (s * labels).sum(-1) + 1) / (s.sum(-1) + labels.sum(-1) + 1)).sum() / num_masks
    return 2 * ce + 5 * bce + 5 * dice


def load_weights(model, path):
    import h5py
    with h5py.File(path, "r") as f:
        state = {k: torch.from_numpy(f[k][()]) for k in f.keys()}
    own = model.state_dict()
    missing = set(own) - set(state)
    assert not missing, f"{path}: no values for {sorted(missing)[:5]}"
    model.load_state_dict({k: state[k].reshape(own[k].shape) for k in own})


def check(args):
    """Forward on the parity batch with the reference weights; compare with the reference."""
    import h5py
    model = M2FTiny()
    load_weights(model, os.path.join(args.parity, "m2f_tiny_init.h5"))
    with h5py.File(os.path.join(args.parity, "m2f_tiny_batch.h5"), "r") as b, \
            h5py.File(os.path.join(args.parity, "m2f_tiny_ref.h5"), "r") as r:
        images = torch.from_numpy(b["images_u8"][()])
        embeddings = torch.from_numpy(b["class_embeddings"][()])
        stored = [torch.from_numpy(r[f"attn_masks/{i}"][()]).bool() for i in range(LAYERS)]
        with torch.no_grad():
            outputs = model(images, embeddings, stored)
        worst = 0.0
        for i, (logits, masks) in enumerate(outputs):
            worst = max(worst, (logits - torch.from_numpy(r[f"pred_logits/{i}"][()])).abs().max().item(),
                        (masks - torch.from_numpy(r[f"pred_masks/{i}"][()])).abs().max().item())
    print(f"parity: largest difference from the reference outputs {worst:.2e} (tolerance 1e-4)")
    if worst > 1e-4:
        raise SystemExit("parity check failed: this is not the reference model")


def rectangle_targets(images, count, size, classes, gen):
    out = []
    for _ in range(images):
        masks = torch.zeros(count, size, size)
        for j in range(count):
            h, w = 16 + int(torch.randint(160, (1,), generator=gen)), 16 + int(torch.randint(160, (1,), generator=gen))
            y0, x0 = int(torch.randint(size - h, (1,), generator=gen)), int(torch.randint(size - w, (1,), generator=gen))
            masks[j, y0:y0 + h, x0:x0 + w] = 1
        out.append((torch.randint(classes, (count,), generator=gen), masks))
    return out


def bench(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(3)
    gen = torch.Generator().manual_seed(3)
    model = M2FTiny()
    decay, no_decay, backbone_decay, backbone_no_decay = [], [], [], []
    for name, p in model.named_parameters():
        norm_or_table = (".norm" in name or "norm1" in name or "norm2" in name or "norm3" in name
                         or "decoder_norm" in name or name.endswith("level_embed") or "level_embed." in name
                         or "query_feat" in name or "query_embed" in name or "background_embed" in name)
        (backbone_no_decay if name.startswith("backbone") and norm_or_table else
         backbone_decay if name.startswith("backbone") else no_decay if norm_or_table else decay).append(p)
    optimizer = torch.optim.AdamW([
        {"params": decay, "lr": 1e-4, "weight_decay": 0.05}, {"params": no_decay, "lr": 1e-4, "weight_decay": 0},
        {"params": backbone_decay, "lr": 1e-5, "weight_decay": 0.05},
        {"params": backbone_no_decay, "lr": 1e-5, "weight_decay": 0}], betas=(0.9, 0.999), eps=1e-8, foreach=True)
    images = (torch.rand(2, 3, 256, 256, generator=gen) * 255).to(torch.uint8)
    embeddings = torch.randn(133, EMBED, generator=gen)
    targets = rectangle_targets(2, 8, 256, 133, gen)
    num_masks = 16
    phases = {k: [] for k in ("iteration_s", "forward_s", "matching_s", "losses_s", "backward_s", "optimizer_s")}
    for it in range(args.warmup + args.repeats):
        t0 = time.perf_counter()
        outputs = model(images, embeddings)
        t1 = time.perf_counter()
        indices = [match(logits, masks, targets) for logits, masks in outputs]
        t2 = time.perf_counter()
        total = sum(losses(logits, masks, targets, idx, num_masks) for (logits, masks), idx in zip(outputs, indices))
        t3 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        t4 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.01, foreach=True)
        optimizer.step()
        t5 = time.perf_counter()
        if it >= args.warmup:
            for k, v in zip(phases, (t5 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                phases[k].append(v)
    inference = []
    with torch.no_grad():
        for it in range(args.warmup + args.repeats):
            t0 = time.perf_counter()
            model(images, embeddings)
            if it >= args.warmup:
                inference.append(time.perf_counter() - t0)
    result = {k: statistics.median(v) for k, v in phases.items()}
    result["inference_s"] = statistics.median(inference)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["torch_version"] = torch.__version__
    result["threads"] = torch.get_num_threads()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="first compare the model with the parity fixtures")
    parser.add_argument("--parity", default=os.path.join(os.path.dirname(__file__), "../../Tests/ModelsTests/Fixtures/parity"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", help="write the medians (seconds) and peak RSS here")
    parser.add_argument("--print-json", action="store_true", help="print only the JSON (for `train bench step`)")
    args = parser.parse_args()
    if args.check:
        check(args)
    result = bench(args)
    if args.print_json:
        print(json.dumps(result))
        return
    for k, v in result.items():
        print(f"{k:16s} {v * 1e3:9.1f} ms" if k.endswith("_s") else f"{k:16s} {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
