"""Random valid CNNs, exported from PyTorch, run through `fftconv run` and compared with PyTorch in float64: every
run must give PyTorch's output (max|y - ref| / max|ref| within TOL) — unless PyTorch's own float32 output misses it
too (by more than TOL/10: an ill-conditioned model, such as an instance normalisation of a constant plane), or, for a forced algorithm a layer cannot
take, a typed error (exit 1). A wrong output, a trap or an error on a valid model with `--algorithm auto` is a bug;
its model, input and command are kept in OUTDIR to reproduce it.

    /work/peers-venv/bin/python Bench/scripts/diff_fuzz.py SEED COUNT [OUTDIR]

Each network is 1–5 random blocks on a random input (1–48 channels, 5–64 rows and columns, now and then 112):
convolutions (kernels 1x1 to 13x13, 1x7 and 7x1, strides 1–4, padding, dilation, groups, bias or not, folded
BatchNorm, an activation — ReLU to Mish, ELU, SELU, Softplus, Tanh — sometimes an asymmetric Pad node before), depthwise layers (dilated too), MobileNetV2's
inverted residuals (and, one network in seven, its stem and first blocks at 56–224), SqueezeNet's fire modules,
GoogLeNet's four branches, ResNet's basic blocks and stride-2 blocks with a 1x1 shortcut, squeeze-and-excitation,
max and average pools (ceil mode too), a convolution + ReLU + 3x3 stride-2 max pool (the stem fusion), a 2x2
transposed convolution, nearest and bilinear Resize, a U-Net level with its skip Concat, ShuffleNet's grouped 1x1 and
channel shuffle; style transfer's and CycleGAN's reflection- or replication-padded convolutions with instance
normalisation and their residual blocks, sub-pixel convolutions (PixelShuffle) and PixelUnshuffle; sometimes a classifier head (global average pool or the whole map flattened, then linear layers).
One network in twenty (ZOO=fraction to change it) is a torchvision model with seeded random weights at a random
input size from 64 to 256 (classifiers, and segmentation models whose output is resized to the input). One in five
also gives an inner block's output as a second model output (a value both read on and kept). Exports: TorchScript at
opset 11, 13 or 17, or, one in five where onnxscript is installed, the torch.export-based exporter (PyTorch's default
since 2.9; opset 18 and later, weights in a .data file). Each model runs with 1–4 threads, a random `--algorithm`
(mostly auto), `--planner estimate`, `measure` or `exhaustive` or the choices `fftconv tune` wrote to a tuning file,
one auto run in five under a `--memory-budget` of 0.001 to 1 MB, and in three runs of ten on 2–3 images with the
batch dimension open and a random `--batch-schedule`. Needs torch and onnx (the peers' venv) and a release build (FFTCONV=path runs another build's `fftconv`). Prints one line per run and a summary; exits 1 when a run failed.
"""
import contextlib
import importlib.util
import io
import json
import os
import re
import warnings
import random
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BIN = os.environ.get("FFTCONV", os.path.join(ROOT, ".build", "release", "fftconv"))  # FFTCONV=… runs another build
DYNAMO = importlib.util.find_spec("onnxscript") is not None
# Relative error allowed against float64: Winograd F(6x6) and FFT lose a few digits (Docs/Algorithms.md).
TOL = 2e-3
ACTS = [None, nn.ReLU, nn.ReLU6, lambda: nn.LeakyReLU(0.1), nn.Hardswish, nn.Sigmoid, nn.SiLU, nn.Hardsigmoid,
        lambda: nn.ELU(0.7), nn.SELU, lambda: nn.CELU(1.3), nn.Softplus, nn.Mish, nn.Softsign, nn.Tanh]


def act(rng):
    a = rng.choice(ACTS)
    return [] if a is None else [a()]


def conv_bn(rng, cin, cout, k, s=1, p=0, d=1, g=1, bn=None, acts=None):
    layers = [nn.Conv2d(cin, cout, k, s, p, dilation=d, groups=g, bias=rng.random() < 0.7)]
    if bn if bn is not None else rng.random() < 0.5:
        layers.append(nn.BatchNorm2d(cout))
    return layers + (act(rng) if acts is None else acts)


def out_size(n, k, s, p, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


class Add(nn.Module):
    def __init__(self, body, post=None):
        super().__init__()
        self.body, self.post = body, post or nn.Identity()

    def forward(self, x):
        return self.post(self.body(x) + x)


class Residual(nn.Module):
    def __init__(self, body, shortcut):
        super().__init__()
        self.body, self.shortcut = body, shortcut

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class Skip(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return torch.cat([x, self.body(x)], 1)


class Shuffle(nn.Module):
    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class Tapped(nn.Module):
    """The blocks in a row, returning the last one's output and, as a second model output, block `tap`'s — a value
    later layers read that must also be kept whole (no fusion may absorb it)."""

    def __init__(self, blocks, tap):
        super().__init__()
        self.blocks, self.tap = blocks, tap

    def forward(self, x):
        kept = None
        for k, b in enumerate(self.blocks):
            x = b(x)
            if k == self.tap:
                kept = x
        return x, kept


class Branches(nn.Module):
    def __init__(self, branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


class SE(nn.Module):
    def __init__(self, gate):
        super().__init__()
        self.gate = gate

    def forward(self, x):
        return x * self.gate(x)


class Fire(nn.Module):
    def __init__(self, squeeze, e1, e3):
        super().__init__()
        self.squeeze, self.e1, self.e3 = squeeze, e1, e3

    def forward(self, x):
        s = self.squeeze(x)
        return torch.cat([self.e1(s), self.e3(s)], 1)


def channels(rng):
    return rng.choice([1, 3, 4, 8, 12, 16, 16, 24, 32, 32, 40, 48, 64, 96, rng.randint(1, 70)])


def block(rng, c, h, w):
    """A random block on c×h×w: (module, c', h', w'), or None when it does not fit."""
    kind = rng.choice(["conv", "conv", "conv", "dw", "ir", "ir", "fire", "basic", "down", "pool", "convpool", "up",
                       "resize", "unet", "shuffle", "inception", "se", "styleconv", "styleres", "pixelshuffle"])
    try:
        b = make(rng, kind, c, h, w)
    except RuntimeError:  # a pool whose window does not fit (PyTorch says so)
        return None
    return None if b is None else (kind,) + b


def make(rng, kind, c, h, w):
    if kind == "conv":
        kh, kw = rng.choice([(1, 1), (1, 1), (3, 3), (3, 3), (3, 3), (5, 5), (7, 7), (2, 2), (4, 4), (1, 7), (7, 1),
                             (1, 3), (3, 1), (9, 9), (11, 11), (13, 13)])
        sh = sw = rng.choice([1, 1, 2, 4] if kh >= 9 else [1, 1, 2])
        if rng.random() < 0.1:
            sh, sw = rng.choice([(1, 2), (2, 1), (3, 3)])
        d = rng.choice([2, 3]) if kh == kw == 3 and rng.random() < 0.2 else (2 if kh == kw == 5 and rng.random() < 0.1 else 1)
        ph = rng.choice([0, (kh - 1) * d // 2, (kh - 1) * d // 2, kh // 2 + 1])
        pw = ph if kh == kw else rng.choice([0, (kw - 1) * d // 2])
        cout = channels(rng)
        g = rng.choice([2, 3, 4, 8, c]) if rng.random() < 0.3 else 1
        if c % g or cout % g:
            g = 1
        oh, ow = out_size(h, kh, sh, ph, d), out_size(w, kw, sw, pw, d)
        if oh < 1 or ow < 1:
            return None
        layers = conv_bn(rng, c, cout, (kh, kw), (sh, sw), (ph, pw), d, g)
        if rng.random() < 0.15:  # an asymmetric Pad node before the convolution (TensorFlow-style "same")
            l, r, t, b = (rng.randint(0, 2) for _ in range(4))
            layers.insert(0, nn.ZeroPad2d((l, r, t, b)))
            oh, ow = out_size(h + t + b, kh, sh, ph, d), out_size(w + l + r, kw, sw, pw, d)
            if oh < 1 or ow < 1:
                return None
        return nn.Sequential(*layers), cout, oh, ow
    if kind == "dw":
        k = rng.choice([3, 3, 5]); s = rng.choice([1, 2]); m = rng.choice([1, 1, 2])
        d = rng.choice([2, 4]) if k == 3 and s == 1 and rng.random() < 0.2 else 1  # DeepLab's dilated depthwise layers
        p = k // 2 * d
        oh, ow = out_size(h, k, s, p, d), out_size(w, k, s, p, d)
        return nn.Sequential(*conv_bn(rng, c, c * m, k, s, p, d, g=c)), c * m, oh, ow
    if kind == "ir":
        t = rng.choice([1, 4, 6]); s = rng.choice([1, 1, 2]); mid = c * t
        cout = c if s == 1 and rng.random() < 0.6 else channels(rng)
        layers = ([] if t == 1 else conv_bn(rng, c, mid, 1, bn=True, acts=[nn.ReLU6()])) \
            + conv_bn(rng, mid, mid, 3, s, 1, g=mid, bn=True, acts=[nn.ReLU6()]) + conv_bn(rng, mid, cout, 1, bn=True, acts=[])
        body = nn.Sequential(*layers)
        oh, ow = out_size(h, 3, s, 1), out_size(w, 3, s, 1)
        return (Add(body) if s == 1 and cout == c else body), cout, oh, ow
    if kind == "fire":
        sq = rng.choice([8, 16, 24, 32, 48, 64]); e1 = rng.choice([16, 32, 64, 128]); e3 = rng.choice([16, 32, 64, 128])
        m = Fire(nn.Sequential(nn.Conv2d(c, sq, 1), nn.ReLU()), nn.Sequential(nn.Conv2d(sq, e1, 1), nn.ReLU()),
                 nn.Sequential(nn.Conv2d(sq, e3, 3, padding=1), nn.ReLU()))
        return m, e1 + e3, h, w
    if kind == "basic":
        body = nn.Sequential(*conv_bn(rng, c, c, 3, 1, 1, bn=True, acts=[nn.ReLU()]), *conv_bn(rng, c, c, 3, 1, 1, bn=True, acts=[]))
        return Add(body, nn.ReLU()), c, h, w
    if kind == "pool":
        k = rng.choice([2, 3]); s = rng.choice([1, 2, 2]); p = rng.choice([0, 0, k // 2]) if k == 3 else 0
        ceil = rng.random() < 0.3
        if rng.random() < 0.7:
            m = nn.MaxPool2d(k, s, p, ceil_mode=ceil)
        else:
            m = nn.AvgPool2d(k, s, p, ceil_mode=ceil, count_include_pad=rng.random() < 0.5)
        with torch.no_grad():
            y = m(torch.zeros(1, c, h, w))
        return m, c, y.shape[2], y.shape[3]
    if kind == "convpool":
        k = rng.choice([3, 5, 7, 11]); s = rng.choice([1, 2, 4]) if k == 11 else rng.choice([1, 2]); p = k // 2
        cout = channels(rng)
        m = nn.Sequential(nn.Conv2d(c, cout, k, s, p), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=rng.random() < 0.5))
        with torch.no_grad():
            oh, ow = out_size(h, k, s, p), out_size(w, k, s, p)
            if oh < 3 or ow < 3:
                return None
            y = m(torch.zeros(1, c, h, w))
        return m, cout, y.shape[2], y.shape[3]
    if kind == "down":  # ResNet's first block of a stage: stride 2, the shortcut a 1x1 stride-2 convolution
        cout = channels(rng)
        return Residual(nn.Sequential(*conv_bn(rng, c, cout, 3, 2, 1, bn=True, acts=[nn.ReLU()]),
                                      *conv_bn(rng, cout, cout, 3, 1, 1, bn=True, acts=[])),
                        nn.Sequential(*conv_bn(rng, c, cout, 1, 2, 0, bn=True, acts=[]))), cout, out_size(h, 3, 2, 1), out_size(w, 3, 2, 1)
    if kind == "resize":
        mode = rng.choice(["nearest", "bilinear"])
        m = nn.Upsample(scale_factor=2, mode=mode, **({} if mode == "nearest" else {"align_corners": rng.random() < 0.3}))
        return m, c, 2 * h, 2 * w
    if kind == "unet":  # conv, down, conv, up, Concat with the block's input
        if h % 2 or w % 2:
            return None
        mid = channels(rng)
        up = nn.ConvTranspose2d(mid, mid, 2, 2) if rng.random() < 0.5 else nn.Upsample(scale_factor=2, mode="nearest")
        return Skip(nn.Sequential(*conv_bn(rng, c, mid, 3, 1, 1, acts=[nn.ReLU()]), nn.MaxPool2d(2),
                                  *conv_bn(rng, mid, mid, 3, 1, 1, acts=[nn.ReLU()]), up)), c + mid, h, w
    if kind == "shuffle":  # ShuffleNet's grouped 1x1 and channel shuffle (Reshape, Transpose, Reshape)
        g = rng.choice([2, 3, 4])
        if c % g:
            return None
        cout = g * rng.choice([4, 8, 16])
        return nn.Sequential(*conv_bn(rng, c, cout, 1, g=g, bn=True, acts=[nn.ReLU()]), Shuffle(g)), cout, h, w
    if kind == "inception":  # GoogLeNet's four branches: 1x1; 1x1 → 3x3; 1x1 → 5x5 (or 3x3); 3x3 max pool → 1x1
        a, b, cc, d = (rng.choice([8, 16, 24, 32, 64]) for _ in range(4))
        k = rng.choice([3, 5])
        return Branches([nn.Sequential(*conv_bn(rng, c, a, 1, bn=True, acts=[nn.ReLU()])),
                         nn.Sequential(*conv_bn(rng, c, 16, 1, bn=True, acts=[nn.ReLU()]), *conv_bn(rng, 16, b, 3, 1, 1, bn=True, acts=[nn.ReLU()])),
                         nn.Sequential(*conv_bn(rng, c, 8, 1, bn=True, acts=[nn.ReLU()]), *conv_bn(rng, 8, cc, k, 1, k // 2, bn=True, acts=[nn.ReLU()])),
                         nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), *conv_bn(rng, c, d, 1, bn=True, acts=[nn.ReLU()]))]), a + b + cc + d, h, w
    if kind == "se":  # MobileNetV3's squeeze-and-excitation: global pool, 1x1, ReLU, 1x1, hard sigmoid, scale
        r = max(1, c // 4)
        return SE(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, r, 1), nn.ReLU(), nn.Conv2d(r, c, 1),
                                rng.choice([nn.Hardsigmoid, nn.Sigmoid])())), c, h, w
    if kind == "styleconv":  # style transfer's and CycleGAN's: reflection (or replication) pad, conv, instance norm
        k = rng.choice([3, 3, 7, 9]); st = rng.choice([1, 1, 2]); cout = channels(rng)
        oh, ow = out_size(h + k // 2 * 2, k, st, 0), out_size(w + k // 2 * 2, k, st, 0)
        if k // 2 >= min(h, w) or oh * ow < 2:
            return None
        pad = nn.ReflectionPad2d(k // 2) if rng.random() < 0.7 else nn.ReplicationPad2d(k // 2)
        return nn.Sequential(pad, nn.Conv2d(c, cout, k, st), nn.InstanceNorm2d(cout, affine=rng.random() < 0.5), *act(rng)), cout, oh, ow
    if kind == "styleres":  # their residual block: pad, 3x3, instance norm, ReLU, pad, 3x3, instance norm, add
        if min(h, w) < 2:
            return None
        body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c, affine=True), nn.ReLU(),
                             nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c, affine=True))
        return Add(body), c, h, w
    if kind == "pixelshuffle":  # super-resolution's sub-pixel convolution, or PixelUnshuffle's space to depth
        r = rng.choice([2, 3])
        if rng.random() < 0.3 and h % 2 == 0 and w % 2 == 0:
            return nn.PixelUnshuffle(2), 4 * c, h // 2, w // 2
        cout = rng.choice([1, 3, 4, 8])
        return nn.Sequential(nn.Conv2d(c, cout * r * r, 3, 1, 1), *act(rng), nn.PixelShuffle(r)), cout, r * h, r * w
    if kind == "up":
        cout = channels(rng)
        return nn.Sequential(nn.ConvTranspose2d(c, cout, 2, 2), *act(rng)), cout, 2 * h, 2 * w
    return None


def mobile(rng):
    """MobileNetV2's first stages at a random size (its 1x1 + depthwise pairs in bands at 112², split by rows on
    threads at 56², the depthwise + 1x1 pair of its first block): a stem, then inverted residuals."""
    size = rng.choice([56, 112, 224, 160, 98])
    mods = [nn.Sequential(*conv_bn(rng, 3, 32, 3, 2, 1, bn=True, acts=[nn.ReLU6()]))]
    c, h, desc = 32, out_size(size, 3, 2, 1), ["stem"]
    for t, cout, s in [(1, 16, 1), (6, 24, 2), (6, 24, 1), (6, 32, 2)][:rng.randint(1, 4)]:
        mid = c * t
        layers = ([] if t == 1 else conv_bn(rng, c, mid, 1, bn=True, acts=[nn.ReLU6()])) \
            + conv_bn(rng, mid, mid, 3, s, 1, g=mid, bn=True, acts=[nn.ReLU6()]) + conv_bn(rng, mid, cout, 1, bn=True, acts=[])
        mods.append(Add(nn.Sequential(*layers)) if s == 1 and c == cout else nn.Sequential(*layers))
        c, h = cout, out_size(h, 3, s, 1)
        desc.append(f"ir{t}->{c}x{h}x{h}")
    return nn.Sequential(*mods), (3, size, size), desc


ZOO = ["resnet18", "mobilenet_v2", "squeezenet1_1", "shufflenet_v2_x0_5", "mnasnet0_5", "mobilenet_v3_small",
       "googlenet", "efficientnet_b0", "regnet_y_400mf", "densenet121", "resnext50_32x4d", "lraspp_mobilenet_v3_large",
       "deeplabv3_mobilenet_v3_large"]


def zoo(rng, seed):
    """A torchvision network (seeded random weights, `make_torchvision_models.build`) at a random input size."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_torchvision_models as mtv
    name = rng.choice(ZOO)
    h = rng.randint(64, 256)
    w = h if rng.random() < 0.5 else rng.randint(64, 256)
    return mtv.build(mtv.import_torchvision(), name, seed), (3, h, w), [name]


def network(rng):
    if rng.random() < 0.15:
        return mobile(rng)
    c = rng.choice([1, 3, 3, 3, 8, 16, 24, 32, 48])
    h = rng.choice([5, 7, 9, 13, 14, 16, 20, 27, 28, 31, 32, 40, 56, 57, 64] + ([112] if rng.random() < 0.15 else []))
    w = h if rng.random() < 0.7 else rng.randint(5, 64)
    shape = (c, h, w)
    mods, desc = [], []
    for _ in range(rng.randint(1, 5)):
        for _try in range(10):
            b = block(rng, c, h, w)
            if b is None:
                continue
            kind, m, c2, h2, w2 = b
            if h2 < 1 or w2 < 1 or c2 * h2 * w2 > 2_000_000 or h2 > 128 or w2 > 128:
                continue
            mods.append(m); desc.append(f"{kind}->{c2}x{h2}x{w2}"); c, h, w = c2, h2, w2
            break
    if rng.random() < 0.3:
        if rng.random() < 0.5:
            mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, rng.choice([10, 100, 1000]))]
        else:  # AlexNet's and VGG's: the whole map flattened, two linear layers
            mods += [nn.Flatten(), nn.Linear(c * h * w, 64), nn.ReLU(), nn.Dropout(), nn.Linear(64, rng.choice([10, 1000]))]
        desc.append("head")
    return nn.Sequential(*mods), shape, desc


def init(model, g):
    for name, p in model.named_parameters():
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32) * (1.0 / max(1, p[0].numel()) ** 0.5))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
        if isinstance(m, nn.InstanceNorm2d) and m.affine:
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    out = sys.argv[3] if len(sys.argv) > 3 else "/tmp/fftconv-diff"
    os.makedirs(out, exist_ok=True)
    rng = random.Random(seed)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    failures, runs, worst, ill = 0, 0, 0.0, 0
    paths = {}  # each step's algorithm, its numbers taken out: what the runs exercised
    for i in range(count):
        tag = f"s{seed}-{i}"
        g = torch.Generator().manual_seed(seed * 100003 + i)
        if rng.random() < float(os.environ.get("ZOO", "0.05")):
            model, shape, desc = zoo(rng, seed * 100003 + i)
        else:
            model, shape, desc = network(rng)
            if not len(model):
                continue
            init(model, g)
        # One network in five also gives a block's output before the last as a second output.
        if isinstance(model, nn.Sequential) and len(model) > 1 and rng.random() < 0.2:
            tap = rng.randrange(len(model) - 1)
            model, desc = Tapped(model, tap), desc + [f"(+output after block {tap})"]
        model.eval()
        batch = rng.choice([2, 3]) if rng.random() < 0.3 else 1
        x = torch.randn((batch,) + shape, generator=g)
        path = os.path.join(out, tag + ".onnx")
        names = ["output", "kept"] if isinstance(model, Tapped) else ["output"]
        dyn = {n: {0: "n"} for n in ["input"] + names} if batch > 1 or rng.random() < 0.2 else None
        # One export in five through the torch.export-based exporter (PyTorch's default since 2.9: opset 18 and later,
        # weights in an external .data file), where onnxscript is installed.
        dynamo = DYNAMO and rng.random() < 0.2
        try:
            if dynamo:
                kw = dict(dynamo=True, input_names=["input"], output_names=names)
            else:
                kw = dict(dynamo=False, opset_version=rng.choice([11, 13, 13, 17]), do_constant_folding=rng.random() < 0.7,
                          input_names=["input"], output_names=names)
            if dyn:
                kw["dynamic_axes"] = dyn
            with contextlib.redirect_stdout(io.StringIO()):
                torch.onnx.export(model, (x[:1],), path, **kw)
        except Exception as e:  # an export PyTorch itself refuses is not ours to test
            print(f"{tag} export failed: {type(e).__name__}")
            continue
        with torch.no_grad():
            refs32 = model(x)  # PyTorch's own float32 result: where it misses float64 too, the model is ill-conditioned
            refs32 = [t.numpy() for t in refs32] if isinstance(refs32, tuple) else [refs32.numpy()]
            refs = model.double()(x.double())
            refs = [t.numpy() for t in refs] if isinstance(refs, tuple) else [refs.numpy()]
        xin = os.path.join(out, tag + ".input.npy")
        youts = [os.path.join(out, f"{tag}.y{k}.npy") for k in range(len(refs))]
        np.save(xin, x.numpy().astype(np.float32))
        alg = rng.choice(["auto"] * 6 + ["direct", "gemm", "fft", "winograd", "plain"])
        threads = rng.choice([1, 1, 2, 2, 3, 4])
        planner = rng.choice(["estimate"] * 8 + ["measure"] * 3 + ["exhaustive", "tuned", "tuned"]) if alg == "auto" else "estimate"
        cmd = [BIN, "run", path, "--input", xin, *sum((["--output", y] for y in youts), []), "--threads", str(threads), "--algorithm", alg, "--profile"]
        if planner == "tuned":  # `fftconv tune` first, then the run replays its choices from the file
            tuning = os.path.join(out, tag + ".tuning.json")
            tune = [BIN, "tune", path, "--output", tuning, "--threads", str(threads), "--input-shape", "x".join(map(str, x.shape))]
            t = subprocess.run(tune, capture_output=True, text=True, timeout=300)
            if t.returncode != 0:
                failures += 1
                print(f"{tag} FAIL tune exit {t.returncode}: {t.stderr.strip()[-200:]}")
                continue
            cmd += ["--tuning", tuning]
        else:
            cmd += ["--planner", planner]
        if batch > 1:
            cmd += ["--batch-schedule", rng.choice(["images", "whole"])]
        # One auto run in five under a per-layer memory budget (layers step down to smaller Winograd tiles, smaller FFT
        # tiles or direct); drawn from its own generator, so that a seed's models stay those it drew before.
        budget_rng, budget = random.Random(tag + "-budget"), ""
        if alg == "auto" and budget_rng.random() < 0.2:
            budget = str(budget_rng.choice([0.001, 0.01, 0.05, 0.2, 1.0]))
            cmd += ["--memory-budget", budget]
        runs += 1
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            failures += 1
            print(f"{tag} HANG {' '.join(cmd[1:])} | {' '.join(desc)}")
            continue
        status = ""
        if r.returncode == 1 and (alg != "auto" or "nsupported" in r.stderr):
            status = "unsupported: " + r.stderr.strip().splitlines()[-1][:120] if r.stderr.strip() else "exit 1"
            ok = True
        elif r.returncode != 0:
            ok = False
            status = f"exit {r.returncode}: " + (r.stderr.strip().splitlines()[-1][:200] if r.stderr.strip() else "")
        else:
            ok, status = True, ""
            for y, ref, ref32 in zip((np.load(y) for y in youts), refs, refs32):
                if y.shape != ref.shape:
                    ok, status = False, f"shape {y.shape} != {ref.shape}"
                    break
                scale = max(float(np.abs(ref).max()), 1e-6)
                err = float(np.abs(y.astype(np.float64) - ref).max()) / scale
                err32 = float(np.abs(ref32.astype(np.float64) - ref).max()) / scale
                if np.isfinite(err) and err > TOL and err32 > TOL / 10:
                    # Float32 itself cannot give this output (an instance normalisation of a constant plane divides
                    # rounding noise by √ε): PyTorch's float32 misses it too. Not counted against us.
                    ill += 1
                    status += f"ill-conditioned (PyTorch float32 err {err32:.1e}, ours {err:.1e}) "
                    continue
                ok = ok and bool(np.isfinite(err) and err <= TOL)
                worst = max(worst, err) if np.isfinite(err) and err <= TOL else worst
                status += f"err {err:.1e} "
        if r.returncode == 0:
            for line in r.stdout.splitlines():
                parts = line.split("%  ", 1)
                if len(parts) == 2 and parts[1].strip():
                    key = re.sub(r"\d+", "#", parts[1].strip())
                    paths[key] = paths.get(key, 0) + 1
        if not ok:
            failures += 1
            with open(os.path.join(out, tag + ".cmd.json"), "w") as f:
                json.dump({"cmd": cmd, "desc": desc, "status": status}, f)
        else:
            for p in (path, path + ".data", xin, os.path.join(out, tag + ".tuning.json")):
                if os.path.exists(p):
                    os.remove(p)
        for y in youts:
            if os.path.exists(y):
                os.remove(y)
        print(f"{tag} {'ok  ' if ok else 'FAIL'} {status} | {'dynamo ' if dynamo else ''}t{threads} {alg} {planner}{' budget ' + budget + ' MB' if budget else ''} b{batch} | {shape} {' '.join(desc)}", flush=True)
    for key, n in sorted(paths.items(), key=lambda kv: -kv[1]):
        print(f"{n:6d}  {key}")
    print(f"{runs} runs, {failures} failed, worst relative error of the passing runs {worst:.1e}"
          + (f"; {ill} outputs ill-conditioned (PyTorch's float32 misses float64 as well), not compared" if ill else ""))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
