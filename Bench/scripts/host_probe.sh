# Sourced by the benchmark scripts: builds cross_step_probe.c once into $HOST_PROBE_BIN (a temporary file the caller
# removes) and defines `host_probe`, which prints the probe's "both-cross" µs per step — ~43 in the Zen 4 host kind's
# normal state, 250–300 in one of its slow spells (Docs/Design.md, "Threads").
HOST_PROBE_BIN="$(mktemp)"
"${CC:-cc}" -O3 -march=native -pthread -o "$HOST_PROBE_BIN" "$(dirname "${BASH_SOURCE[0]}")/cross_step_probe.c"
host_probe() { "$HOST_PROBE_BIN" | sed 's/.*both-cross \([0-9.]*\),.*/\1/'; }
