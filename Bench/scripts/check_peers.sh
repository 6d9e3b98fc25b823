#!/usr/bin/env bash
# Runs the peers' full-size ONNX models with `fftconv run` (planner estimate and measure, 1 and 2 threads) and
# compares each output with PyTorch's ref.npy: max|y − ref| / max|ref| and top-1 agreement.
#
#   bash Bench/scripts/check_peers.sh [MODELS_DIR] [NAMES...]   (needs numpy: the peers venv's python by default)
#
# MODELS_DIR defaults to $PEERS_DATA/models (/work/peers-data/models), NAMES to the peers' five networks; the
# torchvision models of make_torchvision_models.py: `bash Bench/scripts/check_peers.sh /work/torchvision-data/models
# mobilenet_v3_small …`. Exits non-zero if any run is off (error above 1e-4 · max|ref| or another top-1).
set -euo pipefail
MODELS="${1:-${PEERS_DATA:-/work/peers-data}/models}"
shift || true
NAMES=("${@:-alexnet vgg16 resnet18 mobilenet_v2 squeezenet1_1}")
PY="${PYTHON:-/work/peers-venv/bin/python}"
RUN="$(dirname "$0")/../../.build/release/fftconv"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
FAILED=0
for model in ${NAMES[*]}; do
  for planner in estimate measure; do
    for threads in 1 2; do
      "$RUN" run "$MODELS/$model/model.onnx" --input "$MODELS/$model/input.npy" --output "$OUT/y.npy" \
        --planner "$planner" --threads "$threads"
      "$PY" -c "
import numpy as np, sys
y = np.load('$OUT/y.npy'); r = np.load('$MODELS/$model/ref.npy')
err = float(np.abs(y - r).max() / np.abs(r).max())
top = bool((y.reshape(y.shape[0], -1).argmax(1) == r.reshape(r.shape[0], -1).argmax(1)).all())
print(f'$model $planner {$threads}T: rel err {err:.2e}, same top-1 {top}, ok {err <= 1e-4 and top}')
sys.exit(0 if err <= 1e-4 and top else 1)
" || FAILED=1
    done
  done
done
exit $FAILED
