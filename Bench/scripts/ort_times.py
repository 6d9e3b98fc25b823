#!/usr/bin/env python3
"""ONNX Runtime's time for one-node models (make_pool_models.py), 1 thread: the minimum and median of 2000
`session.run` calls in µs, Python's call overhead included (a few µs). The peer's side of pool_times.sh.

    /work/peers-venv/bin/python Bench/scripts/ort_times.py DIR NAME...
"""
import sys
import time

import numpy as np
import onnxruntime as ort


def main():
    directory, names = sys.argv[1], sys.argv[2:]
    for name in names:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(f"{directory}/{name}.onnx", options, providers=["CPUExecutionProvider"])
        x = np.random.rand(*session.get_inputs()[0].shape).astype(np.float32)
        for _ in range(200):
            session.run(None, {"x": x})
        times = []
        for _ in range(2000):
            t = time.perf_counter()
            session.run(None, {"x": x})
            times.append(time.perf_counter() - t)
        times.sort()
        print("%-6s ORT min %7.1f  median %7.1f us" % (name, times[0] * 1e6, times[len(times) // 2] * 1e6))


if __name__ == "__main__":
    main()
