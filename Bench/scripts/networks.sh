#!/usr/bin/env bash
# Whole-network latency of the peers' ONNX models (../shared/peers, make_models.py) with every planner mode
# and every fixed algorithm, at 1 and 2 threads: the data behind Docs/Networks.md and Docs/Planner.md.
#
#   bash Bench/scripts/networks.sh [MODELS_DIR] > networks.jsonl
#
# One JSON object per line (fftconv-bench net --json). Build first: swift build -c release.
# Each row warms for 0.3 s first, as ../shared/peers/bench_peers.py warms ONNX Runtime.
# Each 2-thread row also carries "probe_before_us" and "probe_after_us": cross_step_probe.c's "both-cross" µs per
# step just before and after it (~43 normal, 250–300 in a slow spell on the Zen 4 host kind; Docs/Design.md,
# "Threads"), so that rows timed in a spell can be told apart (PROBE=0 leaves them out).
set -euo pipefail
MODELS="${1:-${PEERS_DATA:-/work/peers-data}/models}"
BENCH="$(dirname "$0")/../../.build/release/fftconv-bench"
HOST_PROBE_BIN=""
if [ "${PROBE:-1}" != 0 ]; then source "$(dirname "$0")/host_probe.sh"; trap 'rm -f "$HOST_PROBE_BIN"' EXIT; fi
probe() { if [ -n "$HOST_PROBE_BIN" ] && [ "$1" -gt 1 ]; then host_probe; else echo None; fi; }
for model in alexnet vgg16 resnet18 mobilenet_v2 squeezenet1_1; do
  for threads in 1 2; do
    for config in "--planner estimate" "--planner measure" "--algorithm direct" "--algorithm gemm" "--algorithm fft" "--algorithm winograd"; do
      before=$(probe "$threads")
      # shellcheck disable=SC2086
      row=$("$BENCH" net "$MODELS/$model/model.onnx" --threads "$threads" --loops 15 --warmup 3 --warmup-seconds 0.3 $config --json)
      after=$(probe "$threads")
      echo "$row" | python3 -c "import json,sys; r=json.load(sys.stdin)[0]; r['model']='$model'; r['config']='$config'; r['probe_before_us']=$before; r['probe_after_us']=$after; print(json.dumps(r))"
    done
  done
done
