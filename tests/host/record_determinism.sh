#!/bin/sh
# SPDX-License-Identifier: MIT
# Deterministic recordings: the same seed gives the same bytes, and --events N is a prefix of
# a longer recording with the same seed.
set -u
H="$1"
T=$(mktemp -d /tmp/hvt-record-det-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0

# determinism: the same seed gives the same bytes, also over several chunks and longer than
# the recorder's flush interval (chunks are cut by size when times are off)
"$H" record --scenario mixed --seed 3 --events 40000 -o "$T/b1.hvt" -f >/dev/null &&
    "$H" record --scenario mixed --seed 3 --events 40000 -o "$T/b2.hvt" -f >/dev/null || fail=1
cmp "$T/b1.hvt" "$T/b2.hvt" || { echo "FAIL: two recordings with seed 3 differ in bytes"; fail=1; }
rm -f "$T/b1.hvt" "$T/b2.hvt"
# ... and a recording of N events is a prefix of a longer one (event ids follow completion, so
# the events in flight when the budget is reached must be the ones the longer run completes)
events_only() { "$H" dump "$1" --no-disasm | grep -v '^trace \|^cpu \|^       '; }
for sn in "ptwrite 3000" "mixed 777" "cmps 1000" "mixed 1000"; do
    set -- $sn
    "$H" record --scenario $1 --events $2 -o "$T/p1.hvt" -f >/dev/null &&
        "$H" record --scenario $1 --events 5000 -o "$T/p2.hvt" -f >/dev/null || fail=1
    events_only "$T/p1.hvt" >"$T/p1.txt"
    events_only "$T/p2.hvt" | head -n "$(wc -l <"$T/p1.txt")" >"$T/p2.txt"
    if [ ! -s "$T/p1.txt" ] || ! cmp -s "$T/p1.txt" "$T/p2.txt"; then
        echo "FAIL: $1: --events $2 is not a prefix of --events 5000"
        diff "$T/p1.txt" "$T/p2.txt" | head -4
        fail=1
    fi
done

exit $fail
