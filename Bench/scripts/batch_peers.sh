#!/usr/bin/env bash
# Batches: FFTConv's two batch schedules and ONNX Runtime timed back to back, model by model, thread count by thread
# count, for ROUNDS rounds (pairs taken within seconds, as interleaved_ort.sh does at batch 1).
#
#   bash Bench/scripts/batch_peers.sh [ROUNDS] [BATCH] [MODELS...]     (default: 2 rounds, batch 8, the five models)
#
# Prints "round model threads whole W images I ORT O ratio I/O" (median ms per call of the batch; `whole`: every
# step on the batch, `images`: image by image, the default — NetworkOptions.batchSchedule). The peers' models are
# copied with their batch dimension left open (open_batch.py) into $BATCH_DATA (default /tmp/fftconv-batch-models).
# FFTConv: `net --input-shape BATCHx3x224x224`, 0.3 s warm-up; ORT: ort_batch.py, 0.3 s warm-up, ≥ 2 s timed.
# Build first: swift build -c release.
set -euo pipefail
ROUNDS="${1:-2}"; BATCH="${2:-8}"; shift 2 || shift $#
MODELS=("${@:-alexnet vgg16 resnet18 mobilenet_v2 squeezenet1_1}")
DATA="${PEERS_DATA:-/work/peers-data}/models"
PY="${PEERS_PYTHON:-/work/peers-venv/bin/python}"
DIR="$(cd "$(dirname "$0")" && pwd)"
BENCH="$DIR/../../.build/release/fftconv-bench"
OPEN="${BATCH_DATA:-/tmp/fftconv-batch-models}"
mkdir -p "$OPEN"
median() { python3 -c "import json,sys; print(round(json.load(sys.stdin)[0]['median_ms'], 3))"; }
for model in ${MODELS[*]}; do
  [ -f "$OPEN/$model.onnx" ] || "$PY" "$DIR/open_batch.py" "$DATA/$model/model.onnx" "$OPEN/$model.onnx"
done
for round in $(seq "$ROUNDS"); do
  for model in ${MODELS[*]}; do
    loops=20; case "$model" in alexnet|resnet18) loops=8;; vgg16) loops=3;; esac
    for threads in 1 2; do
      run() { "$BENCH" net "$OPEN/$model.onnx" --input-shape "${BATCH}x3x224x224" --threads "$threads" --loops "$loops" \
                --warmup 1 --warmup-seconds 0.3 --batch-schedule "$1" --json | median; }
      whole=$(run whole); images=$(run images)
      ort=$("$PY" "$DIR/ort_batch.py" "$OPEN/$model.onnx" "$threads" "$BATCH" | cut -d' ' -f1)
      python3 -c "print('$round $model ${threads}T whole $whole images $images ORT $ort ratio %.2f' % ($images / $ort))"
    done
  done
done
