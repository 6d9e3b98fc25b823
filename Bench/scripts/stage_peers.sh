#!/usr/bin/env bash
# Where a network's time goes against a peer, stage by stage: cuts ResNet-18, SqueezeNet 1.1 and MobileNetV2 into
# consecutive stages (`cut_peer_model.py`, once: the cut models stay in $PEERS_DATA/models) and times each stage and
# the whole network back to back with the peer (`interleaved_ort.sh`), 1 and 2 threads.
#
#   bash Bench/scripts/stage_peers.sh [ROUNDS] [NETWORK...]     (default: 2 rounds; resnet18 squeezenet1_1 mobilenet_v2)
#
# PEER as for interleaved_ort.sh (default onnxruntime; the fastest peer on the Zen 4 host kind: ncnn for ResNet-18 and
# SqueezeNet, ONNX Runtime for MobileNetV2). A stage's ratio says where FFTConv gains or loses against the peer; the
# stages' times do not add up to the whole network's exactly (each cut model starts from a cold input and pays one
# call's overhead). Build first: swift build -c release -Xcc -march=native.
set -euo pipefail
ROUNDS="${1:-2}"; shift || true
NETWORKS=("${@:-resnet18 squeezenet1_1 mobilenet_v2}")
HERE="$(dirname "$0")"
PY="${PEERS_PYTHON:-/work/peers-venv/bin/python}"
DATA="${PEERS_DATA:-/work/peers-data}/models"

# name source from to — the stages, each between two tensors of the source model.
STAGES="
r18_stem resnet18 input /maxpool/MaxPool_output_0
r18_l1 resnet18 /maxpool/MaxPool_output_0 /layer1/layer1.1/relu_1/Relu_output_0
r18_l2 resnet18 /layer1/layer1.1/relu_1/Relu_output_0 /layer2/layer2.1/relu_1/Relu_output_0
r18_l3 resnet18 /layer2/layer2.1/relu_1/Relu_output_0 /layer3/layer3.1/relu_1/Relu_output_0
r18_l4 resnet18 /layer3/layer3.1/relu_1/Relu_output_0 output
sq_stem squeezenet1_1 input /features/features.2/MaxPool_output_0
sq_a squeezenet1_1 /features/features.2/MaxPool_output_0 /features/features.5/MaxPool_output_0
sq_b squeezenet1_1 /features/features.5/MaxPool_output_0 /features/features.8/MaxPool_output_0
sq_c squeezenet1_1 /features/features.8/MaxPool_output_0 /features/features.12/Concat_output_0
sq_cls squeezenet1_1 /features/features.12/Concat_output_0 output
mv_a mobilenet_v2 input /features/features.1/conv/conv.1/Conv_output_0
mv_b mobilenet_v2 /features/features.1/conv/conv.1/Conv_output_0 /features/features.3/Add_output_0
mv_c mobilenet_v2 /features/features.3/Add_output_0 /features/features.6/Add_output_0
mv_d mobilenet_v2 /features/features.6/Add_output_0 /features/features.13/Add_output_0
mv_e mobilenet_v2 /features/features.13/Add_output_0 /features/features.17/conv/conv.2/Conv_output_0
mv_f mobilenet_v2 /features/features.17/conv/conv.2/Conv_output_0 output
"
models=()
for network in ${NETWORKS[*]}; do
  while read -r name source from to; do
    [ "$source" = "$network" ] || continue
    [ -f "$DATA/$name/model.onnx" ] || "$PY" "$HERE/cut_peer_model.py" "$source" "$name" "$from" "$to" > /dev/null
    models+=("$name")
  done <<< "$STAGES"
  models+=("$network")
done
bash "$HERE/interleaved_ort.sh" "$ROUNDS" "${models[@]}"
