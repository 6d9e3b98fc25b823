#!/usr/bin/env bash
# Whole-network latency of the peers' ONNX models (../shared/peers, make_models.py) with every planner mode
# and every fixed algorithm, at 1 and 2 threads: the data behind Docs/Networks.md and Docs/Planner.md.
#
#   bash Bench/scripts/networks.sh [MODELS_DIR] > networks.jsonl
#
# One JSON object per line (fftconv-bench net --json). Build first: swift build -c release.
# Each row warms for 0.3 s first, as ../shared/peers/bench_peers.py warms ONNX Runtime.
set -euo pipefail
MODELS="${1:-${PEERS_DATA:-/work/peers-data}/models}"
BENCH="$(dirname "$0")/../../.build/release/fftconv-bench"
for model in alexnet vgg16 resnet18 mobilenet_v2 squeezenet1_1; do
  for threads in 1 2; do
    for config in "--planner estimate" "--planner measure" "--algorithm direct" "--algorithm gemm" "--algorithm fft" "--algorithm winograd"; do
      # shellcheck disable=SC2086
      "$BENCH" net "$MODELS/$model/model.onnx" --threads "$threads" --loops 15 --warmup 3 --warmup-seconds 0.3 $config --json \
        | python3 -c "import json,sys; r=json.load(sys.stdin)[0]; r['model']='$model'; r['config']='$config'; print(json.dumps(r))"
    done
  done
done
