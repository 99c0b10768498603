#!/bin/sh
# SPDX-License-Identifier: MIT
# Smoke test of `hvtrace bench`: each benchmark at its smallest size, in JSON, with the figures
# a reader of docs/PERFORMANCE.md relies on present, finite and consistent. No timing is judged.
set -eu
HVT=$1
fail=0

# fig JSON NAME: the number NAME in the one-line JSON report, or "missing"
fig() {
    v=$(printf '%s\n' "$1" | sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p")
    [ -n "$v" ] && printf '%s\n' "$v" || printf 'missing\n'
}

# need JSON BENCH NAME EXPR: NAME is present and awk's EXPR (on v) holds
need() {
    v=$(fig "$1" "$3")
    if [ "$v" = missing ] || ! awk -v v="$v" "BEGIN { exit !($4) }"; then
        echo "bench_smoke: bench $2: $3 = $v, expected $4" >&2
        fail=1
    fi
}

j=$("$HVT" bench format --raw-mb 2 --json)
for f in writer_vs_zstd1 reader_vs_zstd_d writer_ns_per_access reader_ns_per_access \
    zstd1_ns_per_access zstd_d_ns_per_access rowwise_zstd1_ns_per_access \
    rowwise_zstd_d_ns_per_access writer_vs_rowwise_zstd1 reader_vs_rowwise_zstd_d; do
    need "$j" format "$f" "v > 0"
done
need "$j" format bytes_per_access "v > 0 && v < $(fig "$j" raw_bytes_per_access)"
need "$j" format accesses "v > $(fig "$j" events)"
need "$j" format reader_events "v == $(fig "$j" events)"

j=$("$HVT" bench core --insns 20000 --json)
need "$j" core insns_per_s "v > 0"
need "$j" core unicorn_insns_per_s "v > 0"
need "$j" core core_vs_unicorn "v > 0"
need "$j" core decode_cache_hit_rate "v >= 0 && v <= 1"

j=$("$HVT" bench replay --events 500 --rounds 1 --json)
need "$j" replay events "v == 500"
need "$j" replay accesses "v > 500"
need "$j" replay replay_vs_decode "v > 0"

j=$("$HVT" bench record --events 2000 --reps 1 --json)
need "$j" record events_recorded "v > 0"
need "$j" record overhead_ratio "v > 0"
need "$j" record overhead_ratio_core_only "v > 0"
need "$j" record writer_cpu_ns_per_access "v > 0"
need "$j" record drops "v == 0"

[ "$fail" = 0 ] && echo "bench_smoke: every figure present and consistent"
exit "$fail"
