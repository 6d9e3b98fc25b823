#!/usr/bin/env bash
# What the host's slow spells leave of a 2-thread run whose cores share no data: each round runs
# cross_step_probe.c (its "both-cross" µs per step: ~43 normal, ~250–300 in a spell), FFTConv's built-in network
# at 2 threads, the same network on the upper and lower halves of the image (1x3x(H/2)xW) as two 1-thread
# processes at once (pinned to CPUs 0 and 1: what a split by rows through the whole network, with no data
# crossing between the cores, could at best take), the network at 1 thread, and the probe again. Prints
# "time  probe-before probe-after | 2T ms | halves-at-once ms ms | 1T ms" (medians).
#
#   bash Bench/scripts/split_halves_probe.sh [ROUNDS] [NETWORK] [HxW]    (default 20 mobilenet_v2 224x224; build first)
set -euo pipefail
ROUNDS="${1:-20}"; NET="${2:-mobilenet_v2}"; SIZE="${3:-224x224}"
H="${SIZE%x*}"; W="${SIZE#*x}"
DIR="$(cd "$(dirname "$0")" && pwd)"
BENCH="$DIR/../../.build/release/fftconv-bench"
source "$DIR/host_probe.sh"
A="$(mktemp)"; B="$(mktemp)"
trap 'rm -f "$HOST_PROBE_BIN" "$A" "$B"' EXIT
median() { python3 -c "import json,sys; print(round(json.load(sys.stdin)[0]['median_ms'], 3))"; }
for _ in $(seq "$ROUNDS"); do
  before=$(host_probe)
  two=$("$BENCH" net "$NET" --input-shape "1x3x${H}x${W}" --threads 2 --loops 150 --warmup-seconds 0.1 --json | median)
  taskset -c 0 "$BENCH" net "$NET" --input-shape "1x3x$((H / 2))x${W}" --threads 1 --loops 150 --warmup-seconds 0.1 --json > "$A" &
  taskset -c 1 "$BENCH" net "$NET" --input-shape "1x3x$((H / 2))x${W}" --threads 1 --loops 150 --warmup-seconds 0.1 --json > "$B"
  wait
  one=$("$BENCH" net "$NET" --input-shape "1x3x${H}x${W}" --threads 1 --loops 80 --warmup-seconds 0.1 --json | median)
  after=$(host_probe)
  echo "$(date +%T) $before $after | 2T $two | halves-at-once $(median < "$A") $(median < "$B") | 1T $one"
done
