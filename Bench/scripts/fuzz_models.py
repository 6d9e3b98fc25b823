"""Mutates the test fixtures' ONNX models and runs each mutant through `fftconv run`: every run must end in an output
(exit 0) or a typed error (exit 1) — a trap, an abort or a hang is a bug, and its model is kept to reproduce it.

    /work/peers-venv/bin/python Bench/scripts/fuzz_models.py SEED COUNT [OUTDIR]

Mutations (one to three per mutant): integer and float attributes set to extremes (±2³¹, 2⁴⁰, NaN, ∞), attribute lists
shortened, lengthened or changed, initializer dims, data types and raw bytes changed or cut, small initializers' and
Constant nodes' values set to extremes or NaN, node inputs dropped or rewired, nodes removed or given another op type,
the graph input's shape changed, random bytes of the file flipped; each run with 1 or 2 threads, a random
`--algorithm`, and sometimes `--planner measure`; three in ten with the batch dimension opened and 2–4 images fed
(the image-by-image schedule; thirty-fourth session: 2,400 mutants, seeds 34–36, without a trap). Needs the `onnx` package (the peers' venv has it) and a release build.
Thirty-third session: 4,350 mutants found four traps — a Reshape without its shape input (twice), a Conv +
BatchNormalization whose statistics did not have one value per channel, a stride of 2³¹ whose stride-rounded layout
asked the allocator for 8 TB — all typed errors since (`testMutatedGraphsAreTypedErrors`); then 13,900 more (seeds 6,
8–12, the last three with `--algorithm` and `--planner` varied) ran without one.
"""
import glob
import os
import random
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIX = os.path.join(ROOT, "Tests", "FFTConvTests", "Fixtures")
BIN = os.path.join(ROOT, ".build", "release", "fftconv")
if len(sys.argv) < 3:
    sys.exit(__doc__)
SEED, N = int(sys.argv[1]), int(sys.argv[2])
OUT = sys.argv[3] if len(sys.argv) > 3 else "/tmp/fftconv-fuzz"
os.makedirs(OUT, exist_ok=True)
random.seed(SEED)
models = sorted(m for m in glob.glob(FIX + "/*.onnx") if os.path.exists(m.rsplit(".", 1)[0] + ".input.npy"))
INTS = [-2**31, -7, -1, 0, 1, 2, 3, 5, 1000, 2**31 - 1, 2**40]
def mutate(m):
    g = m.graph
    kind = random.choice(["attr", "attr", "dims", "raw", "input", "op", "remove", "gshape", "dtype", "attrlist", "bytes", "values", "values", "nanvals"])
    if kind in ("values", "nanvals"):
        ts = [t for t in g.initializer if t.data_type in (onnx.TensorProto.INT64, onnx.TensorProto.FLOAT) and np.prod(t.dims) <= 16]
        for n in g.node:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.t and a.t.data_type in (onnx.TensorProto.INT64, onnx.TensorProto.FLOAT): ts.append(a.t)
        if not ts: return "none"
        t = random.choice(ts); arr = numpy_helper.to_array(t).copy()
        if arr.size == 0: return "none"
        if kind == "nanvals":
            arr = arr.astype(np.float32); arr.flat[random.randrange(arr.size)] = random.choice([np.nan, np.inf, -np.inf, 1e30, -1e30])
        else:
            arr.flat[random.randrange(arr.size)] = random.choice([-2**62, -2**31, -5, -1, 0, 1, 2**31 - 1, 2**62]) if arr.dtype == np.int64 else random.choice([0.0, -1.0, 1e9])
        t.CopyFrom(numpy_helper.from_array(arr, t.name))
        return f"{kind} {t.name}"
    if kind == "attr":
        nodes = [n for n in g.node if any(a.type == onnx.AttributeProto.INT or a.type == onnx.AttributeProto.FLOAT for a in n.attribute)]
        if not nodes: return "none"
        n = random.choice(nodes); a = random.choice([a for a in n.attribute if a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.FLOAT)])
        if a.type == onnx.AttributeProto.INT: a.i = random.choice(INTS)
        else: a.f = random.choice([float('nan'), float('inf'), -1.0, 0.0, 1e30])
        return f"attr {n.op_type}.{a.name}"
    if kind == "attrlist":
        nodes = [n for n in g.node if any(a.type == onnx.AttributeProto.INTS for a in n.attribute)]
        if not nodes: return "none"
        n = random.choice(nodes); a = random.choice([a for a in n.attribute if a.type == onnx.AttributeProto.INTS])
        r = random.random()
        if r < 0.3 and len(a.ints): del a.ints[-1]
        elif r < 0.6: a.ints.append(random.choice(INTS))
        elif len(a.ints): a.ints[random.randrange(len(a.ints))] = random.choice(INTS)
        return f"ints {n.op_type}.{a.name}={list(a.ints)}"
    if kind == "dims":
        if not g.initializer: return "none"
        t = random.choice(g.initializer)
        if t.dims and random.random() < 0.7: t.dims[random.randrange(len(t.dims))] = random.choice(INTS)
        elif t.dims: del t.dims[-1]
        return f"dims {t.name}"
    if kind == "raw":
        ts = [t for t in g.initializer if t.raw_data]
        if not ts: return "none"
        t = random.choice(ts); t.raw_data = t.raw_data[: random.randrange(len(t.raw_data) + 1)]
        return f"raw {t.name}"
    if kind == "dtype":
        if not g.initializer: return "none"
        t = random.choice(g.initializer); t.data_type = random.choice([0, 2, 6, 7, 10, 11, 16, 99])
        return f"dtype {t.name}"
    if kind == "input":
        n = random.choice(g.node)
        if n.input and random.random() < 0.5: n.input[random.randrange(len(n.input))] = random.choice(["", "nonexistent"] + [x for nn in g.node for x in nn.output])
        elif n.input: del n.input[-1]
        return f"input {n.op_type}"
    if kind == "op":
        n = random.choice(g.node); n.op_type = random.choice(["Conv", "Relu", "Add", "Concat", "MaxPool", "Gemm", "Reshape", "Flatten", "BatchNormalization", "Mul", "GlobalAveragePool", "Transpose", "Clip", "Sigmoid", "Split", "Pad", "Resize"])
        return f"op -> {n.op_type}"
    if kind == "remove":
        i = random.randrange(len(g.node)); op = g.node[i].op_type; del g.node[i]
        return f"remove {op}"
    if kind == "gshape":
        d = g.input[0].type.tensor_type.shape.dim
        if d: d[random.randrange(len(d))].dim_value = random.choice([0, 1, 2, 3, 1000])
        return "gshape"
    return "bytes"
crashes = 0
for it in range(N):
    src = random.choice(models)
    base = src.rsplit('.', 1)[0]
    inp = base + ".input.npy"
    m = onnx.load(src)
    desc = []
    for _ in range(random.randint(1, 3)):
        try: desc.append(mutate(m))
        except Exception as e: desc.append(f"mutator error {type(e).__name__}")
    if random.random() < 0.3 and m.graph.input and m.graph.input[0].type.tensor_type.shape.dim:
        # A batch: the input's first dimension opened and 2-4 images fed (the image-by-image schedule, BatchSplit).
        for v in list(m.graph.input[:1]) + list(m.graph.output):
            if v.type.tensor_type.shape.dim: v.type.tensor_type.shape.dim[0].dim_param = "N"
        x = np.load(inp)
        n = random.randint(2, 4)
        inp = f"{OUT}/batch-{SEED}.npy"
        np.save(inp, np.concatenate([x * (1 + 0.5 * i) for i in range(n)]).astype(np.float32))
        desc.append(f"batch {n}")
    data = m.SerializeToString()
    if "bytes" in desc:
        b = bytearray(data)
        for _ in range(random.randint(1, 8)):
            b[random.randrange(len(b))] = random.randrange(256)
        data = bytes(b)
    path = f"{OUT}/mutant-{SEED}.onnx"
    open(path, "wb").write(data)
    try:
        r = subprocess.run([BIN, "run", path, "--input", inp, "--output", f"{OUT}/out-{SEED}.npy", "--threads", str(random.choice([1, 2])), "--algorithm", random.choice(["auto", "auto", "fft", "winograd", "direct", "gemm", "depthwise", "plain"])] + (["--planner", "measure"] if random.random() < 0.2 else []),
                           capture_output=True, timeout=60)
        rc = r.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    if rc not in (0, 1):
        crashes += 1
        keep = f"{OUT}/crash-{SEED}-{it}.onnx"
        open(keep, "wb").write(data)
        err = r.stderr.decode()[-300:] if rc != "timeout" else ""
        print(f"CRASH rc={rc} {os.path.basename(src)} {desc} -> {keep}\n   {err}", flush=True)
print(f"done {N}, crashes {crashes}")
