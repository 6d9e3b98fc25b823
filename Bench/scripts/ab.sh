#!/usr/bin/env bash
# Alternates two or more `fftconv-bench … --json` commands for ROUNDS rounds and prints, per command, every round's
# median, then the median of the medians and the minimum of the minima — the way this project judges a change on a
# host that drifts by ±10% within minutes (two builds, or one build with and without an option, side by side).
#
#   bash Bench/scripts/ab.sh ROUNDS 'CMD A' 'CMD B' [...]
#
# Each CMD is a full command line printing fftconv-bench's JSON array (first row's median_ms and min_ms are read),
# e.g. two builds copied aside, or an option on and off:
#
#   cp .build/release/fftconv-bench /tmp/bench_new     # after building the change (and /tmp/bench_old before it)
#   bash Bench/scripts/ab.sh 6 '/tmp/bench_old net /tmp/vgg_b1.onnx --loops 20 --json' \
#                              '/tmp/bench_new net /tmp/vgg_b1.onnx --loops 20 --json'
#   bash Bench/scripts/ab.sh 6 '.build/release/fftconv-bench net M.onnx --loops 20 --json' \
#                              '.build/release/fftconv-bench net M.onnx --loops 20 --no-fusion --json'
#
# Environment assignments work at the front of a command ('FFTCONV_KEEP_TENSORS=1 .build/release/fftconv-bench …').
# The order of the commands rotates from round to round, so none always runs first.
set -euo pipefail
if [ $# -lt 3 ]; then sed -n '2,19p' "$0"; exit 2; fi
ROUNDS="$1"; shift
COMMANDS=("$@")
N=${#COMMANDS[@]}
OUT="$(mktemp)"
for round in $(seq 0 $((ROUNDS - 1))); do
  for k in $(seq 0 $((N - 1))); do
    i=$(( (k + round) % N ))
    row=$(env -S "${COMMANDS[$i]}" | python3 -c "import json,sys; d=json.load(sys.stdin)[0]; print(d['median_ms'], d['min_ms'])")
    echo "$i $row" >> "$OUT"
  done
done
python3 - "$OUT" "${COMMANDS[@]}" <<'PY'
import statistics, sys
out, commands = sys.argv[1], sys.argv[2:]
rows = [line.split() for line in open(out)]
for i, command in enumerate(commands):
    mine = [(float(m), float(n)) for j, m, n in rows if int(j) == i]
    medians = " ".join(f"{m:.3f}" for m, _ in mine)
    print(f"[{i}] {command}\n    medians {medians}\n    median of medians {statistics.median(m for m, _ in mine):.3f} ms,"
          f" min of minima {min(n for _, n in mine):.3f} ms")
PY
rm -f "$OUT"
