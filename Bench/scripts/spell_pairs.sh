#!/usr/bin/env bash
# FFTConv and a peer at 2 threads, alternated, with the host's state around each round: does a slow spell
# (Docs/Design.md, "Threads") hit the peer too, and who is faster within each state? Each round: cross_step_probe.c
# (its "both-cross" µs per step: ~43 normal, 250–300 in a spell), FFTConv (`net --threads 2`, 150 calls), the peer
# (../shared/peers/bench_peers.py --threads 2 --target-s 1), FFTConv again, the probe again. The spells come and go
# within seconds, faster than a round, so at the end each runtime's times are split in two by 1-D 2-means (when the
# two groups' medians differ by more than 25%) and the groups compared: fast with fast, slow with slow.
#
#   bash Bench/scripts/spell_pairs.sh [ROUNDS] [MODEL]      (default 20 mobilenet_v2; PEER=onnxruntime|ncnn|openvino)
set -euo pipefail
ROUNDS="${1:-20}"; MODEL="${2:-mobilenet_v2}"; PEER="${PEER:-onnxruntime}"
DIR="$(cd "$(dirname "$0")" && pwd)"
BENCH="$DIR/../../.build/release/fftconv-bench"
DATA="${PEERS_DATA:-/work/peers-data}/models"
PY="${PEERS_PYTHON:-/work/peers-venv/bin/python}"
PEERS="$DIR/../../../shared/peers/bench_peers.py"
source "$DIR/host_probe.sh"
OUT="$(mktemp)"; LOG="$(mktemp)"
trap 'rm -f "$HOST_PROBE_BIN" "$OUT" "$LOG"' EXIT
ours() { "$BENCH" net "$DATA/$MODEL/model.onnx" --threads 2 --loops 150 --warmup-seconds 0.1 --json \
  | python3 -c "import json,sys; print(round(json.load(sys.stdin)[0]['median_ms'], 3))"; }
for _ in $(seq "$ROUNDS"); do
  before=$(host_probe); a=$(ours)
  "$PY" "$PEERS" --runtimes "$PEER" --target-s 1 --models "$MODEL" --threads 2 --no-wait --out "$OUT" > /dev/null 2>&1
  p=$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['latency'][sys.argv[2]]['2'][sys.argv[3]]['median_ms'], 3))" "$OUT" "$PEER" "$MODEL")
  b=$(ours); after=$(host_probe)
  echo "$(date +%T) probe $before $after | ours $a $PEER $p ours $b" | tee -a "$LOG"
done
python3 - "$LOG" "$PEER" <<'PY'
import re, statistics as st, sys
log, peer = sys.argv[1:]
ours, theirs = [], []
for line in open(log):
    m = re.search(r'ours ([0-9.]+) \S+ ([0-9.]+) ours ([0-9.]+)', line)
    ours += [float(m.group(1)), float(m.group(3))]; theirs.append(float(m.group(2)))
def modes(xs):
    xs = sorted(xs); best = None
    for i in range(1, len(xs)):
        lo, hi = xs[:i], xs[i:]
        cost = sum((x - st.mean(lo)) ** 2 for x in lo) + sum((x - st.mean(hi)) ** 2 for x in hi)
        if best is None or cost < best[0]: best = (cost, lo, hi)
    if best and st.median(best[2]) > 1.25 * st.median(best[1]): return best[1], best[2]
    return xs, []
for name, xs in (("FFTConv", ours), (peer, theirs)):
    fast, slow = modes(xs)
    s = f"{name}: fast {len(fast)} runs, median {st.median(fast):.3f} ms"
    if slow: s += f"; slow {len(slow)} runs, median {st.median(slow):.3f} ms"
    print(s)
(of, osl), (tf, tsl) = modes(ours), modes(theirs)
print(f"ours / {peer}: fast {st.median(of) / st.median(tf):.2f}" + (f", slow {st.median(osl) / st.median(tsl):.2f}" if osl and tsl else ""))
PY
