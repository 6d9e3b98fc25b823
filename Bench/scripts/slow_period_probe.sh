#!/usr/bin/env bash
# Is the host in a 2-thread slow period? Alternates the cross-core read probe (cross_core_probe.c) with SqueezeNet
# at 2 threads, ROUNDS times; prints "time  squeezenet-2T-ms | cross-core GB/s; same-core GB/s".
#
#   bash Bench/scripts/slow_period_probe.sh [ROUNDS]      (default 20; build first: swift build -c release)
set -euo pipefail
ROUNDS="${1:-20}"
DIR="$(cd "$(dirname "$0")" && pwd)"
BENCH="$DIR/../../.build/release/fftconv-bench"
MODEL="${PEERS_DATA:-/work/peers-data}/models/squeezenet1_1/model.onnx"
PROBE="$(mktemp)"
"${CC:-clang}" -O2 -pthread -o "$PROBE" "$DIR/cross_core_probe.c"
for _ in $(seq "$ROUNDS"); do
  p=$("$PROBE" | sed 's/1 MB written by the other core: //')
  s=$("$BENCH" net "$MODEL" --threads 2 --loops 200 --warmup-seconds 0.2 --json | python3 -c "import json,sys; print(round(json.load(sys.stdin)[0]['median_ms'], 3))")
  echo "$(date +%T) $s | $p"
done
rm -f "$PROBE"
