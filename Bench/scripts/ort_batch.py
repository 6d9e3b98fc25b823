"""Times ONNX Runtime on a batch: median and minimum milliseconds per call.

    python Bench/scripts/ort_batch.py MODEL.onnx THREADS BATCH [SECONDS]

As ../shared/peers/bench_peers.py sets ORT up (intra-op threads, one inter-op thread, all graph optimisations,
0.3 s warm-up), on random input of shape BATCH x (the model's input without its first dimension); timed calls for
SECONDS (default 2), at least 5. The model's first input dimension must be open (Bench/scripts/open_batch.py).
"""
import sys
import time

import numpy as np
import onnxruntime as ort

model, threads, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
first = session.get_inputs()[0]
shape = [batch] + [d if isinstance(d, int) else 224 for d in first.shape[1:]]
x = np.random.default_rng(0).random(shape, dtype=np.float32)
start = time.time()
while time.time() - start < 0.3:
    session.run(None, {first.name: x})
times = []
start = time.time()
while time.time() - start < seconds or len(times) < 5:
    t = time.perf_counter()
    session.run(None, {first.name: x})
    times.append(time.perf_counter() - t)
print(f"{np.median(times) * 1e3:.3f} {min(times) * 1e3:.3f}")
