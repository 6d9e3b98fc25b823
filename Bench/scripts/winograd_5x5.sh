#!/usr/bin/env bash
# 5x5 stride-1 convolutions ("same" padding, batch 1): FFT, direct, Winograd F(2x2, 5x5) and F(4x4, 5x5), each with
# its error against the double-precision reference. AlexNet's conv2, GoogLeNet's 5x5 branches and a few others.
# Data of Docs/Algorithms.md ("5x5 filters") and of the estimate rule for 5x5 layers (Docs/Planner.md).
#
#   bash Bench/scripts/winograd_5x5.sh [THREADS] > winograd5.json     (build first: swift build -c release)
#   python3 Bench/scripts/layer_table.py winograd5.json                  (the Markdown table)
set -euo pipefail
BENCH="$(dirname "$0")/../../.build/release/fftconv-bench"
THREADS="${1:-1}"
echo "["
first=1
for shape in "64 192 27" "96 256 27" "16 32 28" "32 96 28" "16 48 14" "24 64 14" "32 128 7" "48 128 7" \
             "256 256 14" "128 128 56" "64 64 112" "16 16 56" "64 128 10" "16 32 10" "4 8 28" "3 32 64"; do
  set -- $shape
  loops=$(( 200000000 / ($1 * $2 * $3 * $3) + 50 )); [ "$loops" -gt 2000 ] && loops=2000
  rows=$("$BENCH" layer --input "1x$1x$3x$3" --filters "$2x$1x5x5" --padding 2 --activation relu \
          --algorithm fft,direct,winograd --winograd-tiles 2,4 --threads "$THREADS" --loops "$loops" --json 2>/dev/null)
  body=$(echo "$rows" | python3 -c "import json,sys; r=json.load(sys.stdin); [x.update(layer='$1->$2 @$3') for x in r]; print(json.dumps(r)[1:-1])")
  if [ $first = 0 ]; then echo ","; fi
  first=0
  echo "$body"
done
echo "]"
