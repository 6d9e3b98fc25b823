#!/usr/bin/env bash
# Every distinct 3x3 convolution of VGG16 (224x224 input, batch 1): direct against Winograd F(2x2), F(4x4)
# and F(6x6), with each one's error against the double-precision reference. Data of Docs/Algorithms.md.
#
#   bash Bench/scripts/winograd_vgg.sh [THREADS] > winograd.json     (build first: swift build -c release)
set -euo pipefail
BENCH="$(dirname "$0")/../../.build/release/fftconv-bench"
THREADS="${1:-1}"
echo "["
first=1
for shape in "3 64 224" "64 64 224" "64 128 112" "128 128 112" "128 256 56" "256 256 56" "256 512 28" "512 512 28" "512 512 14"; do
  set -- $shape
  rows=$("$BENCH" layer --input "1x$1x$3x$3" --filters "$2x$1x3x3" --padding 1 --algorithm direct,winograd \
          --winograd-tiles 2,4,6 --threads "$THREADS" --loops 10 --json)
  body=$(echo "$rows" | python3 -c "import json,sys; r=json.load(sys.stdin); [x.update(layer='$1->$2 @$3') for x in r]; print(json.dumps(r)[1:-1])")
  if [ $first = 0 ]; then echo ","; fi
  first=0
  echo "$body"
done
echo "]"
