#!/bin/sh
# SPDX-License-Identifier: MIT
# Instructions per recorded access on the vCPU path, counted by callgrind: the figure of
# `hvtrace bench record` that holds still on a busy machine (docs/PERFORMANCE.md).
#
#   sh scripts/callgrind-record.sh [BUILD_DIR]      (default: build; N=events, default 20000)
#
# The simulated host's mixed scenario (seed 1, one scheduler thread for its 4 vCPUs) runs
# with the recorder off and on, at N and 2N events; callgrind counts each thread apart, and
# the figure is the vCPU thread's extra instructions per access recorded:
#   ((on(2N) - off(2N)) - (on(N) - off(N))) / (accesses(2N) - accesses(N))
# which cancels start-up and the recorder's fixed costs. The writer thread's count per access
# is printed as well (its own thread, the same differences), split into the format writer's
# part (the calls recorder/writer.c makes into hvt_fmt_writer_*, with all they call) and the
# recorder's own (draining the rings, rebuilding events, ordering, polling).
set -eu
B=${1:-build}
N=${N:-20000}
HVT="$B/tools/hvtrace"
[ -x "$HVT" ] || { echo "callgrind-record: no $HVT (build first)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind-record: valgrind not installed" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# fmt_ir FILE: instructions of the calls recorder/writer.c makes into the format writer
fmt_ir() {
    callgrind_annotate --inclusive=no --auto=yes --show-percs=no "$1" 2>/dev/null | awk '
        /^-- Auto-annotated source: / { inrec = ($0 ~ /recorder\/writer\.c$/) }
        inrec && /=> .*:hvt_fmt_writer_[a-z_]+ \(/ { v = $1; gsub(",", "", v); sum += v }
        END { printf "%d\n", sum }'
}

# run MODE EVENTS: sets IR_MAIN, IR_OTHER (all other threads), IR_FMT (their calls into the
# format writer) and ACC
run() {
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg.$1.$2" \
        "$HVT" bench record --once "$1" --events "$2" >"$out/o.$1.$2" 2>"$out/e.$1.$2" ||
        { cat "$out/e.$1.$2" >&2; exit 1; }
    IR_MAIN=$(awk '/^(summary|totals):/ {print $2; exit}' "$out/cg.$1.$2-01")
    IR_OTHER=0
    IR_FMT=0
    for f in "$out/cg.$1.$2"-*; do
        [ "$f" = "$out/cg.$1.$2-01" ] && continue
        IR_OTHER=$((IR_OTHER + $(awk '/^(summary|totals):/ {print $2; exit}' "$f")))
        IR_FMT=$((IR_FMT + $(fmt_ir "$f")))
    done
    ACC=$(awk '{print $4}' "$out/o.$1.$2")
}

run off "$N"; off1=$IR_MAIN
run on "$N"; on1=$IR_MAIN; w1=$IR_OTHER; f1=$IR_FMT; a1=$ACC
N2=$((N * 2))
run off "$N2"; off2=$IR_MAIN
run on "$N2"; on2=$IR_MAIN; w2=$IR_OTHER; f2=$IR_FMT; a2=$ACC
da=$((a2 - a1))
[ "$da" -gt 0 ] || { echo "callgrind-record: no accesses recorded" >&2; exit 1; }
awk -v on1="$on1" -v off1="$off1" -v on2="$on2" -v off2="$off2" -v w1="$w1" -v w2="$w2" \
    -v f1="$f1" -v f2="$f2" -v da="$da" -v n="$N" 'BEGIN {
    printf "vcpu_insns_per_access   %.1f  vCPU thread, recording on - off, per access (%d..%d events)\n",
        ((on2 - off2) - (on1 - off1)) / da, n, 2 * n
    printf "writer_insns_per_access %.1f  writer thread, per access\n", (w2 - w1) / da
    printf "writer_fmt_insns_per_access %.1f  of which hvt_fmt_writer_* (the format writer)\n", (f2 - f1) / da
    printf "writer_rec_insns_per_access %.1f  of which the recorder'"'"'s own\n", ((w2 - w1) - (f2 - f1)) / da
}'
