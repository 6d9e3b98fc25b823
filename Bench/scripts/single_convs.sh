#!/usr/bin/env bash
# FFTConv's side of the single-convolution comparison with ONNX Runtime (issue 4's and 5's targets): every
# 1x1, 3x3, depthwise and AlexNet layer of ../shared/peers' conv_* models, with the algorithm the planner
# picks for it, at 1 and 2 threads. ORT's side on the same host and day:
#   /work/peers-venv/bin/python ../shared/peers/bench_peers.py --runtimes onnxruntime --target-s 1 \
#     --models conv_k1_64x56,conv_1x1_256to64x56,conv_k3_64x56,conv_dw3x3_144x56,conv_alexnet_c2,conv_alexnet_c3,conv_alexnet_c4,conv_alexnet_c5
#
#   bash Bench/scripts/single_convs.sh > convs.txt      (build first: swift build -c release)
set -euo pipefail
BENCH="$(dirname "$0")/../../.build/release/fftconv-bench"
for threads in 1 2; do
  echo "# threads $threads"
  run() { "$BENCH" layer --threads "$threads" "$@" | tail -n +4; }
  run --input 1x64x56x56 --filters 64x64x1x1 --algorithm direct --loops 500                     # conv_k1_64x56
  run --input 1x256x56x56 --filters 64x256x1x1 --algorithm direct --loops 100                   # conv_1x1_256to64x56
  run --input 1x64x56x56 --filters 64x64x3x3 --padding 1 --algorithm winograd --loops 100       # conv_k3_64x56
  run --input 1x144x56x56 --filters 144x1x3x3 --padding 1 --groups 144 --algorithm depthwise --loops 500  # conv_dw3x3_144x56
  run --input 1x64x27x27 --filters 192x64x5x5 --padding 2 --algorithm fft,direct --loops 50     # conv_alexnet_c2
  run --input 1x192x13x13 --filters 384x192x3x3 --padding 1 --algorithm winograd --winograd-tiles 2 --loops 100  # c3
  run --input 1x384x13x13 --filters 256x384x3x3 --padding 1 --algorithm winograd --winograd-tiles 2 --loops 100  # c4
  run --input 1x256x13x13 --filters 256x256x3x3 --padding 1 --algorithm winograd --winograd-tiles 2 --loops 100  # c5
done
