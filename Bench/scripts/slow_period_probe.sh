#!/usr/bin/env bash
# Is the host in a 2-thread slow period? Alternates the cross-core probe (cross_core_probe.c: read bandwidth across
# the cores, and a cache line's round trip) and `fftconv-bench peak` (both cores' FMA rate together) with 2- and
# 1-thread runs of one or more models (default SqueezeNet), ROUNDS times; prints "time  peak-2T GFLOP/s  model-2T-ms
# model-1T-ms ... | cross-core GB/s; same-core GB/s; round trip". A round whose probe reads ~25 GB/s and ~340 ns is in
# a slow period, ~75 GB/s and ~60 ns in a normal one (Zen 4 host kind); a peak far below twice one core's (~233 of
# 117 GFLOP/s) means the two cores do not each get a whole core's FMA units.
#
#   bash Bench/scripts/slow_period_probe.sh [ROUNDS] [MODEL.onnx ...]    (default 20; build first: swift build -c release)
#
# With PEER=onnxruntime (or ncnn, openvino) each model under $PEERS_DATA/models is also timed in that runtime at 2 threads
# (../shared/peers/bench_peers.py, ≥ 1 s) after FFTConv's runs: a fifth column per model, to see whom a slow period hurts.
#
# e.g. MobileNetV2's stem alone (cut with cut_model.py) against the whole network, Docs/Kernels.md seventeenth session.
set -euo pipefail
ROUNDS="${1:-20}"; shift || true
DIR="$(cd "$(dirname "$0")" && pwd)"
BENCH="$DIR/../../.build/release/fftconv-bench"
MODELS=("${@:-${PEERS_DATA:-/work/peers-data}/models/squeezenet1_1/model.onnx}")
PROBE="$(mktemp)"
OUT="$(mktemp)"
PY="${PEERS_PYTHON:-/work/peers-venv/bin/python}"
PEERS="$DIR/../../../shared/peers/bench_peers.py"
"${CC:-clang}" -O2 -pthread -o "$PROBE" "$DIR/cross_core_probe.c"
for _ in $(seq "$ROUNDS"); do
  p=$("$PROBE" | sed 's/1 MB written by the other core: //')
  s=" $("$BENCH" peak | tail -1 | awk '{print $3}')"
  for model in "${MODELS[@]}"; do
    for threads in 2 1; do
      s="$s $("$BENCH" net "$model" --threads "$threads" --loops 200 --warmup-seconds 0.1 --json | python3 -c "import json,sys; print(round(json.load(sys.stdin)[0]['median_ms'], 3))")"
    done
    if [ -n "${PEER:-}" ]; then
      name="$(basename "$(dirname "$model")")"
      "$PY" "$PEERS" --runtimes "$PEER" --target-s 1 --models "$name" --threads 2 --no-wait --out "$OUT" > /dev/null 2>&1
      s="$s $(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['latency'][sys.argv[2]]['2'][sys.argv[3]]['median_ms'], 3))" "$OUT" "$PEER" "$name")"
    fi
  done
  echo "$(date +%T)$s | $p"
done
rm -f "$PROBE" "$OUT"
