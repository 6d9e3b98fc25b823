"""Where ncnn spends a network's time: run it in a loop under `perf`, then bin the samples of its stripped library.

    # 1. ncnn (the peers' fp32 model, options as ../shared/peers/bench_peers.py sets them) for SECONDS under perf
    perf record -F 1000 -o ncnn.data /work/peers-venv/bin/python Bench/scripts/ncnn_stage_profile.py run vgg16 1 40
    # 2. samples per 2 KB of ncnn's code, largest first (the library has no symbols)
    perf report -i ncnn.data --no-children --stdio --sort dso,symbol -g none \\
        | python3 Bench/scripts/ncnn_stage_profile.py bin
    # 3. what a bin is: its instruction mix (a GEMM kernel is FMAs with broadcasts, a Winograd transform adds,
    #    subtractions and FMAs, packing shuffles)
    objdump -d --no-show-raw-insn --start-address=0xADDR --stop-address=0xADDR+0x800 NCNN_SO | awk '{print $2}' \\
        | sort | uniq -c | sort -rn | head

The run prints the median latency of its calls; model loading is in the samples too (a few % over 40 s).
Needs the peers' venv (ncnn) and the converted model in /work/peers-data/ncnn/NAME (bench_peers.py makes it).
"""
import collections
import sys
import time


def run(name, threads, seconds):
    import ncnn
    import numpy as np
    d = f"/work/peers-data/ncnn/{name}"
    net = ncnn.Net()
    net.opt.num_threads = threads
    net.opt.use_fp16_packed = False
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    net.opt.use_vulkan_compute = False
    if net.load_param(d + "/model.fp32.ncnn.param") != 0 or net.load_model(d + "/model.fp32.ncnn.bin") != 0:
        sys.exit("cannot load " + d)
    x = np.ascontiguousarray(np.load(f"/work/peers-data/models/{name}/input.npy")[0])
    times = []
    start = time.time()
    while time.time() - start < seconds:
        t = time.perf_counter()
        ex = net.create_extractor()
        ex.input("in0", ncnn.Mat(x))
        ret, _ = ex.extract("out0")
        if ret != 0:
            sys.exit(f"extract returned {ret}")
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"{name} {threads} thread(s): {len(times)} calls, median {1000 * times[len(times) // 2]:.2f} ms")


def binned():
    bins = collections.Counter()
    for line in sys.stdin:
        f = line.split()
        if len(f) < 4 or not f[0].endswith("%"):
            continue
        share = float(f[0].rstrip("%"))
        if "ncnn" in f[1] and f[3].startswith("0x"):
            bins["ncnn 0x%x" % (int(f[3], 16) // 2048 * 2048)] += share
        else:
            bins[f[1] + " " + f[3]] += share
    for key, share in bins.most_common(20):
        print(f"{share:6.2f}%  {key}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif len(sys.argv) == 2 and sys.argv[1] == "bin":
        binned()
    else:
        sys.exit(__doc__)
