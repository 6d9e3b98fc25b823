#!/usr/bin/env bash
# Times the one-node models of make_pool_models.py (pools, LRN) at 1 thread: for each, the minimum and the median of
# 4000 calls in µs (`fftconv-bench net … --json`); POOLS="…" for some of them. Alternate two builds by calling it once per build, round after round.
#
#   bash Bench/scripts/pool_times.sh MODEL_DIR [BENCH_BINARY]
set -euo pipefail
DIR="$1"; BIN="${2:-.build/release/fftconv-bench}"
for m in ${POOLS:-c32 ax64 sq128 ax192 sq256 r64 g192 g480 g832 d256 d512 i3 lrn96 lrn256}; do
  "$BIN" net "$DIR/$m.onnx" --threads 1 --loops 4000 --json 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin)[0]
print('%-6s min %6.1f  median %6.1f us' % ('$m', d['min_ms'] * 1e3, d['median_ms'] * 1e3))"
done
