"""Makes torch_ops.json: forward values and gradients of the autograd's ops computed by
PyTorch, for AutogradTests/TorchParityTests.swift.

Run once (CPU torch in a virtualenv):  python3 make_torch_ops.py
Each case stores its inputs, the op's parameters, the output, and the gradients of
L = sum(output * w) with respect to every input, for a stored random w.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)
rng = np.random.default_rng(20261122)
cases = []


def t(shape, low=-1.0, high=1.0):
    return torch.tensor(rng.uniform(low, high, size=shape).astype(np.float32), requires_grad=True)


def enc(x):
    x = x.detach().numpy().astype(np.float32)
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1)]}


def add(name, op, params, inputs, fn):
    out = fn(*inputs.values())
    w = torch.tensor(rng.uniform(-1, 1, size=tuple(out.shape)).astype(np.float32))
    (out * w).sum().backward()
    cases.append({
        "name": name, "op": op, "params": params,
        "inputs": {k: enc(v) for k, v in inputs.items()},
        "output": enc(out), "weights": enc(w),
        "grads": {k: enc(v.grad) for k, v in inputs.items()},
    })


add("matmul", "matmul", {}, {"a": t((3, 4)), "b": t((4, 5))}, lambda a, b: a @ b)
add("bmm_transB", "matmul_transB", {}, {"a": t((2, 3, 4)), "b": t((2, 5, 4))}, lambda a, b: a @ b.transpose(-1, -2))

for i, (n, cin, h, w, cout, k, s, p, d, g, bias) in enumerate([
        (2, 3, 9, 7, 4, 3, 2, 1, 1, 1, True),
        (1, 4, 8, 8, 6, 3, 1, 2, 2, 2, False),
        (2, 8, 5, 6, 8, 3, 1, 1, 1, 8, True),
        (2, 5, 6, 4, 3, 1, 2, 0, 1, 1, True)]):
    inputs = {"x": t((n, cin, h, w)), "weight": t((cout, cin // g, k, k))}
    if bias:
        inputs["bias"] = t((cout,))
    params = {"stride": s, "padding": p, "dilation": d, "groups": g}
    add(f"conv2d_{i}", "conv2d", params, inputs,
        lambda x, wt, b=None: F.conv2d(x, wt, b, stride=s, padding=p, dilation=d, groups=g))

add("softmax_axis1", "softmax", {"axis": 1}, {"x": t((2, 5, 3), -3, 3)}, lambda x: torch.softmax(x, 1))
add("log_softmax_last", "log_softmax", {"axis": -1}, {"x": t((4, 6), -3, 3)}, lambda x: torch.log_softmax(x, -1))
add("layer_norm", "layer_norm", {"eps": 1e-5}, {"x": t((2, 3, 8), -2, 2), "weight": t((8,)), "bias": t((8,))},
    lambda x, wt, b: F.layer_norm(x, (8,), wt, b, 1e-5))
add("group_norm", "group_norm", {"groups": 4, "eps": 1e-5},
    {"x": t((2, 8, 5, 4), -2, 2), "weight": t((8,)), "bias": t((8,))},
    lambda x, wt, b: F.group_norm(x, 4, wt, b, 1e-5))

for name, size in [("up", (11, 9)), ("down", (3, 5)), ("odd", (7, 13))]:
    add(f"bilinear_{name}", "resize_bilinear", {"size": list(size)}, {"x": t((2, 3, 5, 7))},
        lambda x: F.interpolate(x, size=size, mode="bilinear", align_corners=False))
    add(f"nearest_{name}", "resize_nearest", {"size": list(size)}, {"x": t((2, 3, 5, 7))},
        lambda x: F.interpolate(x, size=size, mode="nearest"))

add("grid_sample", "grid_sample", {}, {"input": t((2, 3, 6, 7)), "grid": t((2, 4, 5, 2), -1.2, 1.2)},
    lambda x, grid: F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False))

mask = rng.uniform(size=(2, 1, 3, 5)) < 0.3
mask[..., 0] = False  # no fully blocked row
add("attention_masked", "attention", {"blocked": {"shape": [2, 1, 3, 5], "data": [bool(v) for v in mask.reshape(-1)]}},
    {"q": t((2, 2, 3, 4)), "k": t((2, 2, 5, 4)), "v": t((2, 2, 5, 3))},
    lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=~torch.tensor(mask)))

add("log_sigmoid_softplus", "log_sigmoid", {}, {"x": torch.tensor([-80.0, -20.0, -1.0, 0.0, 0.5, 20.0, 80.0], requires_grad=True)},
    lambda x: F.logsigmoid(x))
add("softplus", "softplus", {}, {"x": torch.tensor([-80.0, -20.0, -1.0, 0.0, 0.5, 20.0, 80.0], requires_grad=True)},
    lambda x: F.softplus(x))

# AdamW: three steps from given parameters and gradients, two groups.
p1, p2 = t((5,)), t((3,))
grads = [[t((5,)).detach(), t((3,)).detach()] for _ in range(3)]
start = [enc(p1), enc(p2)]
opt = torch.optim.AdamW([{"params": [p1], "weight_decay": 0.05, "lr": 1e-2},
                         {"params": [p2], "weight_decay": 0.0, "lr": 1e-3}], lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
for g1, g2 in grads:
    p1.grad, p2.grad = g1.clone(), g2.clone()
    opt.step()
adamw = {"start": start, "grads": [[enc(a), enc(b)] for a, b in grads],
         "groups": [{"lr": 1e-2, "weight_decay": 0.05}, {"lr": 1e-3, "weight_decay": 0.0}],
         "end": [enc(p1), enc(p2)]}

# Multi-scale deformable attention, by Deformable DETR's reference (ms_deform_attn_core_pytorch).
def ms_deform_attn_core_pytorch(value, value_spatial_shapes, sampling_locations, attention_weights):
    N_, S_, M_, D_ = value.shape
    _, Lq_, M_, L_, P_, _ = sampling_locations.shape
    value_list = value.split([H_ * W_ for H_, W_ in value_spatial_shapes], dim=1)
    sampling_grids = 2 * sampling_locations - 1
    sampling_value_list = []
    for lid_, (H_, W_) in enumerate(value_spatial_shapes):
        value_l_ = value_list[lid_].flatten(2).transpose(1, 2).reshape(N_ * M_, D_, H_, W_)
        sampling_grid_l_ = sampling_grids[:, :, :, lid_].transpose(1, 2).flatten(0, 1)
        sampling_value_l_ = F.grid_sample(value_l_, sampling_grid_l_, mode="bilinear", padding_mode="zeros", align_corners=False)
        sampling_value_list.append(sampling_value_l_)
    attention_weights = attention_weights.transpose(1, 2).reshape(N_ * M_, 1, Lq_, L_ * P_)
    output = (torch.stack(sampling_value_list, dim=-2).flatten(-2) * attention_weights).sum(-1).view(N_, M_ * D_, Lq_)
    return output.transpose(1, 2).contiguous()


shapes = [(2, 3), (4, 5), (3, 1)]
S = sum(h * w for h, w in shapes)
aw_logits = torch.tensor(rng.normal(size=(2, 6, 2, 3, 4)).astype(np.float32))
aw = torch.softmax(aw_logits.view(2, 6, 2, 12), -1).view(2, 6, 2, 3, 4).detach().requires_grad_(True)
add("deformable_attention", "deformable_attention", {"shapes": [list(s) for s in shapes]},
    {"value": t((2, S, 2, 5)), "locations": t((2, 6, 2, 3, 4, 2), -0.1, 1.1), "weights": aw},
    lambda v, loc, a: ms_deform_attn_core_pytorch(v, shapes, loc, a))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ops.json")
with open(out, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases, "adamw": adamw}, f)
print(f"wrote {len(cases)} cases to {out}")
