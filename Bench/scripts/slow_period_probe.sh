#!/usr/bin/env bash
# Is the host in a 2-thread slow period? Alternates the cross-core probe (cross_core_probe.c: read bandwidth across
# the cores, and a cache line's round trip) with 2-thread runs of one or more models (default SqueezeNet), ROUNDS
# times; prints "time  model-2T-ms ... | cross-core GB/s; same-core GB/s; round trip". A round whose probe reads
# ~25 GB/s and ~340 ns is in a slow period, ~75 GB/s and ~60 ns in a normal one (Zen 4 host kind).
#
#   bash Bench/scripts/slow_period_probe.sh [ROUNDS] [MODEL.onnx ...]    (default 20; build first: swift build -c release)
#
# e.g. MobileNetV2's stem alone (cut with cut_model.py) against the whole network, Docs/Kernels.md seventeenth session.
set -euo pipefail
ROUNDS="${1:-20}"; shift || true
DIR="$(cd "$(dirname "$0")" && pwd)"
BENCH="$DIR/../../.build/release/fftconv-bench"
MODELS=("${@:-${PEERS_DATA:-/work/peers-data}/models/squeezenet1_1/model.onnx}")
PROBE="$(mktemp)"
"${CC:-clang}" -O2 -pthread -o "$PROBE" "$DIR/cross_core_probe.c"
for _ in $(seq "$ROUNDS"); do
  p=$("$PROBE" | sed 's/1 MB written by the other core: //')
  s=""
  for model in "${MODELS[@]}"; do
    s="$s $("$BENCH" net "$model" --threads 2 --loops 200 --warmup-seconds 0.1 --json | python3 -c "import json,sys; print(round(json.load(sys.stdin)[0]['median_ms'], 3))")"
  done
  echo "$(date +%T)$s | $p"
done
rm -f "$PROBE"
