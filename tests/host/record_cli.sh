#!/bin/sh
# SPDX-License-Identifier: MIT
# hvtrace record / demo command-line checks: bad input exits 2 with a message naming the
# problem; good runs print a summary; same seed gives the same dump.
set -u
H="$1"
T=$(mktemp -d /tmp/hvt-record-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0

# expect CODE PATTERN -- ARGS: runs hvtrace ARGS, checks the exit code and that stderr or
# stdout contains PATTERN.
expect() {
    code=$1 pat=$2
    shift 3
    "$H" "$@" >"$T/out" 2>&1
    rc=$?
    if [ "$rc" -ne "$code" ] || ! grep -q -- "$pat" "$T/out"; then
        echo "FAIL: hvtrace $* -> exit $rc (want $code, '$pat'):"
        cat "$T/out"
        fail=1
    fi
}

expect 0 "usage: hvtrace record" -- record --help
expect 0 "pageout" -- record --list
expect 2 "unknown scenario 'nope'" -- record --scenario nope -o "$T/x.hvt"
expect 2 "no --scenario" -- record -o "$T/x.hvt"
expect 2 "no output file" -- record --scenario clean
expect 2 "seed 'abc'" -- record --scenario clean --seed abc -o "$T/x.hvt"
expect 2 "vcpus '0'" -- record --scenario clean --vcpus 0 -o "$T/x.hvt"
expect 2 "vcpus '65'" -- record --scenario clean --vcpus 65 -o "$T/x.hvt"
expect 2 "events '-3'" -- record --scenario clean --events -3 -o "$T/x.hvt"
expect 2 "events '12x'" -- record --scenario clean --events 12x -o "$T/x.hvt"
expect 2 "cache 'some'" -- record --scenario clean --cache some -o "$T/x.hvt"
expect 2 "callsites '99'" -- record --scenario clean --callsites 99 -o "$T/x.hvt"
expect 2 "record 'most'" -- record --scenario clean --record most -o "$T/x.hvt"
expect 2 "ram-mib '3'" -- record --scenario clean --ram-mib 3 -o "$T/x.hvt"
expect 2 "core-opt 'x'" -- record --scenario clean --core-opt x -o "$T/x.hvt"
expect 2 "needs a value" -- record --scenario
expect 2 "unknown option '--bogus'" -- record --bogus 1
expect 2 "unexpected argument" -- record stray
expect 4 "/nonexistent-dir/x.hvt" -- record --scenario clean -o /nonexistent-dir/x.hvt
expect 0 "events" -- record --scenario clean --events 20 -o "$T/x.hvt"
expect 2 "exists" -- record --scenario clean --events 20 -o "$T/x.hvt"
expect 0 "20 events" -- record --scenario clean --events 20 -o "$T/x.hvt" -f
expect 0 "accesses" -- record --scenario ptwrite --events 30 --record all -o "$T/all.hvt"
expect 2 "no-such-option" -- record --scenario clean --core-opt no-such-option=1 -o "$T/y.hvt"

# same seed twice -> identical dump (the header line carries the UUID and start time)
if "$H" dump --help >/dev/null 2>&1; then
    for s in clean pageout; do
        "$H" record --scenario $s --seed 5 --events 60 -o "$T/d1.hvt" -f >/dev/null &&
            "$H" record --scenario $s --seed 5 --events 60 -o "$T/d2.hvt" -f >/dev/null || fail=1
        "$H" dump "$T/d1.hvt" | grep -v '^trace ' >"$T/d1.txt"
        "$H" dump "$T/d2.hvt" | grep -v '^trace ' >"$T/d2.txt"
        if ! cmp -s "$T/d1.txt" "$T/d2.txt" || [ ! -s "$T/d1.txt" ]; then
            echo "FAIL: $s: two runs with seed 5 dump differently"
            diff "$T/d1.txt" "$T/d2.txt" | head -5
            fail=1
        fi
    done
fi

# the CPU profile: the default is fixed (the same on every machine), --cpu records another,
# a profile the scenario's guest cannot run on is refused, replay follows the trace's
expect 0 "cpu intel-icelake-server" -- record --scenario clean --events 20 -f -o "$T/c0.hvt"
expect 0 '"cpu":{"source":"recorded","name":"intel-icelake-server","vendor":"GenuineIntel"' -- \
    stats "$T/c0.hvt" --json
expect 0 "cpu amd-zen3" -- record --scenario gather --events 20 --cpu amd-zen3 -f -o "$T/c1.hvt"
expect 0 '"vendor":"AuthenticAMD"' -- stats "$T/c1.hvt" --json
expect 0 "gather-fault-mask=keep" -- dump "$T/c1.hvt" --events 0
expect 1 "cpu: amd-zen3 (the trace's)" -- replay "$T/c1.hvt"
expect 1 "cpu: intel-sandybridge (--cpu what-if)" -- replay "$T/c1.hvt" --cpu intel-sandybridge \
    --no-analysis
expect 2 "cannot run on this CPU: EFER.LME set, but CPU profile custom lacks lm" -- \
    record --scenario clean --cpu "amd-zen3 -lm name=custom" -f -o "$T/c2.hvt"
expect 2 "no CPU profile named 'pentium'" -- record --scenario clean --cpu pentium -o "$T/c2.hvt"
expect 0 "amd-zen4" -- record --cpu list
expect 0 "unknown CPU feature 'future' ignored" -- \
    record --scenario clean --events 5 --cpu "amd-zen3 +future" -f -o "$T/c3.hvt"

# the demo: both traces left in DIR, the divergence shown and gone with the buffer
expect 0 "usage: hvtrace demo" -- demo --help
expect 2 "unknown option '--bogus'" -- demo --bogus
expect 2 "did you mean '--seed'" -- demo --sed 3
expect 0 "0 of [0-9]* multi-pass events read different page-walk data with the buffer" -- \
    demo --keep "$T/demo"
for f in pageout-nocache.hvt pageout-walk.hvt; do
    [ -s "$T/demo/$f" ] || { echo "FAIL: demo did not leave $f"; fail=1; }
done
grep -q "<- differs" "$T/out" || { echo "FAIL: demo shows no diverging walk read"; fail=1; }
# the replay step: the core matches both recordings, the no-buffer trace diverges with
# translation_changed, the what-if removes every divergence, the buffered trace has none
[ "$(grep -c "the core behaves as recorded: yes" "$T/out")" = 2 ] ||
    { echo "FAIL: demo replay reports a replay mismatch"; fail=1; }
grep -q "events whose passes diverge: [1-9][0-9]* (translation_changed [1-9]" "$T/out" ||
    { echo "FAIL: demo replay shows no translation_changed"; fail=1; }
grep -q "the buffer removes the divergence of \([0-9]*\) of them" "$T/out" ||
    { echo "FAIL: demo replay shows no what-if verdict"; fail=1; }
grep -A2 "with the buffer:" "$T/out" | grep -q "events whose passes diverge: 0" ||
    { echo "FAIL: demo replay of the buffered trace diverges"; fail=1; }

exit $fail
