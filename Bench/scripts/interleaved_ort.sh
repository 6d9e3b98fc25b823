#!/usr/bin/env bash
# FFTConv and ONNX Runtime timed back to back, model by model, thread count by thread count, for ROUNDS rounds:
# the ratio of each pair is taken within seconds, so a drift of the host (±10% within minutes on a shared VM)
# does not fall between the two runtimes' rows as it can in networks.sh + bench_peers.py run one after the other.
#
#   bash Bench/scripts/interleaved_ort.sh [ROUNDS] [MODELS...]     (default: 3 rounds, every model)
#
# PEER=openvino or PEER=ncnn times that runtime instead of ONNX Runtime (the aim is set against the fastest peer:
# on the Zen 4 host kind ncnn runs VGG16 twice as fast as ORT, OpenVINO MobileNetV2 at 2 threads faster).
# Prints "round model threads ours PEER ratio" lines (medians), then both minima and their ratio — on a host whose
# slow spells move medians by 20–50% from process to process, the ratio of minima moves least. FFTConv: `net
# --planner estimate`, 0.3 s warm-up, 100 calls (30 for alexnet, resnet18; 10 for vgg16); ORT:
# ../shared/peers/bench_peers.py --target-s 1 (0.3 s warm-up, ≥ 1 s).
# OURS_ARGS adds options to our runs, {model} and {threads} replaced: OURS_ARGS='--planner measure --tuning
# /tmp/tune-{model}-{threads}.json' measures once per model and thread count, then replays the choices.
# Build first: swift build -c release. Each 2-thread line ends with "probe B A": cross_step_probe.c's "both-cross" µs
# per step before our run and after the peer's (~43 normal, 250–300 in one of the host's slow spells, which slow
# every runtime's 2-thread runs: a pair with a spell on one side only compares two states, not two runtimes —
# spell_pairs.sh compares them state with state). PROBE=0 leaves it out.
set -euo pipefail
ROUNDS="${1:-3}"; shift || true
MODELS=("${@:-alexnet vgg16 resnet18 mobilenet_v2 squeezenet1_1}")
DATA="${PEERS_DATA:-/work/peers-data}/models"
PY="${PEERS_PYTHON:-/work/peers-venv/bin/python}"
PEERS="$(dirname "$0")/../../../shared/peers/bench_peers.py"
BENCH="$(dirname "$0")/../../.build/release/fftconv-bench"
PEER="${PEER:-onnxruntime}"
OUT="$(mktemp)"
HOST_PROBE_BIN=""
trap 'rm -f "$OUT" "$HOST_PROBE_BIN"' EXIT
if [ "${PROBE:-1}" != 0 ]; then source "$(dirname "$0")/host_probe.sh"; fi
probe() { if [ -n "$HOST_PROBE_BIN" ] && [ "$1" -gt 1 ]; then host_probe; fi; }
for round in $(seq "$ROUNDS"); do
  for model in ${MODELS[*]}; do
    loops=100; case "$model" in alexnet|resnet18) loops=30;; vgg16) loops=10;; esac
    for threads in 1 2; do
      before=$(probe "$threads")
      extra="${OURS_ARGS:-}"; extra="${extra//\{model\}/$model}"; extra="${extra//\{threads\}/$threads}"
      # shellcheck disable=SC2086
      ours=$("$BENCH" net "$DATA/$model/model.onnx" --threads "$threads" --loops "$loops" --warmup 3 --warmup-seconds 0.3 $extra --json \
        | python3 -c "import json,sys; r = json.load(sys.stdin)[0]; print(r['median_ms'], r['min_ms'])")
      "$PY" "$PEERS" --runtimes "$PEER" --target-s 1 --models "$model" --threads "$threads" --no-wait --out "$OUT" > /dev/null 2>&1
      after=$(probe "$threads")
      python3 - "$OUT" "$round" "$model" "$threads" "$ours" "$PEER" "$before" "$after" <<'PY'
import json, sys
out, rnd, model, threads, ours, peer, before, after = sys.argv[1:]
row = json.load(open(out))['latency'][peer][threads][model]
theirs, their_min = row['median_ms'], row['min_ms']
ours, our_min = map(float, ours.split())
label = {'onnxruntime': 'ORT', 'openvino': 'OpenVINO'}.get(peer, peer)
probe = f" probe {before} {after}" if before else ""
print(f"{rnd} {model} {threads}T ours {ours:.3f} {label} {theirs:.3f} ratio {ours / theirs:.2f}"
      f" minima {our_min:.3f} {their_min:.3f} ratio {our_min / their_min:.2f}{probe}")
PY
    done
  done
done
