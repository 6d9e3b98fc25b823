#!/usr/bin/env python3
"""Markdown tables of the measuring planner's choices per layer (Docs/Planner.md).

    .build/release/fftconv-bench net MODEL.onnx --planner measure --profile --json --loops 3 > m.json
    python3 Bench/scripts/planner_tables.py NAME m.json

Prints one table: layer, shape-defining op, chosen algorithm, its measured ms, the runners-up.
"""
import json
import sys


def main():
    name, path = sys.argv[1], sys.argv[2]
    row = json.load(open(path))[0]
    print(f"#### {name} ({row['threads']} thread(s), whole network {row['median_ms']:.2f} ms)\n")
    print("| layer | chosen | ms | runners-up (ms) | rejected |")
    print("|---|---|---:|---|---|")
    for layer in row.get("layers") or []:
        cands = layer["candidates"]
        if not cands:
            continue
        ok = [c for c in cands if c.get("rejected") is None and c.get("milliseconds") is not None]
        def label(c):
            cand = c["candidate"]
            s = cand["algorithm"]
            if cand.get("winograd_tile"):
                s += f" F{cand['winograd_tile']}"
            if cand.get("fft_tile"):
                s += " %dx%d" % tuple(cand["fft_tile"])
            if cand.get("micro_kernel"):
                s += " " + cand["micro_kernel"]
            return s
        chosen = ok[0] if ok else None
        others = ", ".join(f"{label(c)} {c['milliseconds']:.3f}" for c in ok[1:4])
        rejected = ", ".join(label(c) for c in cands if c.get("rejected") is not None and "cannot" not in c["rejected"]
                             and "needs" not in c["rejected"])
        short = layer["name"].replace("/Conv", "").strip("/")
        print(f"| {short} | {label(chosen) if chosen else '-'} | {chosen['milliseconds']:.3f} | {others} | {rejected} |")
    print()


if __name__ == "__main__":
    main()
