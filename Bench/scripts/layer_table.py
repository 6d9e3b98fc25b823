#!/usr/bin/env python3
"""Markdown table of `fftconv-bench layer --json` rows grouped by their "layer" field (the output of
winograd_5x5.sh or winograd_vgg.sh): median ms per algorithm (Winograd per tile), the fastest in bold, and each
algorithm's error against the double-precision reference.

    python3 Bench/scripts/layer_table.py rows.json
"""
import json
import sys


def label(row):
    if row["algorithm"] == "winograd":
        return "winograd " + row["detail"].split(",")[0].replace("wino", "F")
    return row["algorithm"]


def main():
    rows = json.load(open(sys.argv[1]))
    layers, columns = {}, []
    for r in rows:
        name = label(r)
        if name not in columns:
            columns.append(name)
        layers.setdefault(r["layer"], {})[name] = r
    print("| layer | " + " | ".join(f"{c} ms" for c in columns) + " | fastest | " + " | ".join(f"err {c}" for c in columns) + " |")
    print("|---|" + "---:|" * len(columns) + "---|" + "---:|" * len(columns))
    for layer, got in layers.items():
        best = min(got, key=lambda c: got[c]["median_ms"])
        times = [("**%.3f**" if c == best else "%.3f") % got[c]["median_ms"] if c in got else "" for c in columns]
        errors = ["%.1e" % got[c]["max_rel_error"] if c in got else "" for c in columns]
        print(f"| {layer} | " + " | ".join(times) + f" | {best} | " + " | ".join(errors) + " |")


if __name__ == "__main__":
    main()
