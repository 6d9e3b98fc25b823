#!/usr/bin/env python3
"""ONNX Runtime's per-node times on one model, to set beside `fftconv-bench net MODEL --profile`.

    /work/peers-venv/bin/python Bench/scripts/ort_node_profile.py MODEL.onnx [THREADS] [RUNS]

Runs the model RUNS times (default 200) with ORT's profiler on, at THREADS intra-op threads (default 1), all
graph optimizations on (as ../shared/peers/bench_peers.py runs it), and prints each node's median kernel time
in ms, then their sum. The input is MODEL's directory's input.npy when present, else uniform random. Profiling
adds a little per-node overhead: compare per-node times, not the sum with a timed run.
"""
import collections, json, os, sys, tempfile

import numpy as np
import onnxruntime as ort

model = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 200
so = ort.SessionOptions()
so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
so.enable_profiling = True
so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
inp = session.get_inputs()[0]
path = os.path.join(os.path.dirname(model), "input.npy")
x = np.load(path) if os.path.exists(path) else np.random.rand(*inp.shape).astype(np.float32)
for _ in range(runs):
    session.run(None, {inp.name: x})
events = json.load(open(session.end_profiling()))
times = collections.OrderedDict()
for e in events:
    if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
        times.setdefault((e["name"][: -len("_kernel_time")], e["args"].get("op_name")), []).append(e["dur"])
total = 0.0
for (name, op), durations in times.items():
    durations.sort()
    median = durations[len(durations) // 2] / 1000
    total += median
    print(f"{name[:60]:60s} {op:18s} {median:.3f}")
print(f"sum of node medians {total:.3f} ms")
