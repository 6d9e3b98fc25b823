#!/usr/bin/env bash
# Two `fftconv-bench net … --profile --json` commands alternated for ROUNDS rounds, compared step by step: for each
# step the minimum over the rounds of its median (over the command's --loops profiled calls), the two side by side and
# their ratio, steps whose algorithm differs marked with * (steps are matched by name: a step only one side has, e.g.
# with --no-fusion on one, is listed alone); then the sums of those minima, and each round's network
# median and minimum. On a host whose whole-network medians move by 20–40% between processes, a step's minimum over
# alternated runs is what still shows a change of a few percent (thirtieth session: the transposed form's margin, the
# 1x1 stride-2 rule, the arena in huge pages were judged this way).
#
#   bash Bench/scripts/step_ab.sh ROUNDS 'CMD A' 'CMD B'
#   bash Bench/scripts/step_ab.sh 5 '/tmp/bench_old net M.onnx --threads 2 --loops 100 --profile --json' \
#                                   '/tmp/bench_new net M.onnx --threads 2 --loops 100 --profile --json'
set -euo pipefail
ROUNDS="$1"; A="$2"; B="$3"
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
for r in $(seq "$ROUNDS"); do
  # shellcheck disable=SC2086
  $A 2>/dev/null > "$DIR/A-$r.json"
  # shellcheck disable=SC2086
  $B 2>/dev/null > "$DIR/B-$r.json"
done
python3 - "$DIR" "$ROUNDS" <<'PY'
import json, sys
d, rounds = sys.argv[1], int(sys.argv[2])
runs = {s: [json.load(open(f"{d}/{s}-{r}.json"))[0] for r in range(1, rounds + 1)] for s in "AB"}
if any(not x.get("layers") for s in "AB" for x in runs[s]):
    sys.exit("a run has no steps: both commands need --profile --json")
def minima(s):  # step name -> (minimum over the rounds of its median, algorithm), in the first run's order
    out = {}
    for x in runs[s]:
        for l in x["layers"]:
            ms, alg = out.get(l["name"], (float("inf"), l["algorithm"]))
            out[l["name"]] = (min(ms, l["ms"]), alg)
    return out
a, b = minima("A"), minima("B")
for name, (ta, alg) in a.items():
    if name in b:
        tb, blg = b[name]
        ratio = f"{tb / ta:5.2f}" if ta > 0 else "    —"
        print(f"{name[:40]:40s} {ta:8.3f} {tb:8.3f} {ratio}{'' if alg == blg else ' *'}")
    else:
        print(f"{name[:40]:40s} {ta:8.3f}        —   (A only)")
for name, (tb, _) in b.items():
    if name not in a: print(f"{name[:40]:40s}        — {tb:8.3f}   (B only)")
sa, sb = sum(t for t, _ in a.values()), sum(t for t, _ in b.values())
print(f"sum of the steps' minima: A {sa:.3f} ms, B {sb:.3f} ms" + (f", B/A {sb / sa:.3f}" if sa > 0 else ""))
for s in "AB":
    print(s, "network medians", [round(x["median_ms"], 3) for x in runs[s]], "minima", [round(x["min_ms"], 3) for x in runs[s]])
PY
