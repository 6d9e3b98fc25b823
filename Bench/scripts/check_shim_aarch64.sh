#!/usr/bin/env bash
# The C shim on aarch64, without an aarch64 machine: compiles every inline function of fftconv_shim.h (and shim.c)
# with `clang -target aarch64-linux-gnu -O2 -S` and prints each function's instruction count and most frequent
# instructions — the shuffles should come out as NEON zip/uzp/trn/ext/tbl, the atomics as ldar/stlr, the pause as
# yield. Fails if clang reports an error or warning, if a function is missing from the output, or if one calls out
# (`bl`: a library fallback). Swift's own kernels cannot be compiled for aarch64 here (no aarch64 standard library
# or sysroot on the build machine); Docs/Building.md says what that leaves unchecked.
#
#   bash Bench/scripts/check_shim_aarch64.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SHIM="$ROOT/Sources/CFFTConvShim"
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
grep -oE 'static inline [^(]*\bfftconv_[a-z0-9_]+\(' "$SHIM/include/fftconv_shim.h" \
  | grep -oE 'fftconv_[a-z0-9_]+\($' | tr -d '(' | sort -u > "$WORK/functions"
{ echo '#include "fftconv_shim.h"'; echo 'void *fftconv_every_inline_function[] = {'
  sed 's/.*/  (void *)\&&,/' "$WORK/functions"; echo '};'; } > "$WORK/all.c"
CLANG="${CLANG:-clang}"
for src in "$WORK/all.c" "$SHIM/shim.c"; do
  "$CLANG" -target aarch64-linux-gnu -O2 -S -Wall -Werror -I "$SHIM/include" -o "$WORK/$(basename "$src" .c).s" "$src"
done
python3 - "$WORK/functions" "$WORK/all.s" "$WORK/shim.s" <<'PY'
import collections, re, sys
wanted = set(open(sys.argv[1]).read().split())
stats, current = collections.defaultdict(collections.Counter), None
for path in sys.argv[2:]:
    for line in open(path):
        m = re.match(r'^(fftconv_[a-z0-9_]+):', line)
        if m:
            current = m.group(1); continue
        if current and line.startswith('\t') and not line.startswith('\t.'):
            stats[current][line.split()[0]] += 1
failed = False
for name in sorted(stats):
    c = stats[name]
    print(f"{name:34s} {sum(c.values()):5d}  " + ", ".join(f"{k} {v}" for k, v in c.most_common(6)))
    if c.get('bl'):
        print(f"  calls out ({c['bl']} bl)"); failed = True
missing = wanted - set(stats)
if missing:
    print("missing:", ", ".join(sorted(missing))); failed = True
print(f"{len(stats)} functions compiled for aarch64" + (": FAILED" if failed else ", none calls out"))
sys.exit(1 if failed else 0)
PY
