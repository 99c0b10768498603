#!/bin/sh
# SPDX-License-Identifier: MIT
# hvtrace replay/bisect/diff on the command line: exit codes, JSON lines, reports.
# usage: cli.sh HVTRACE WORKDIR MUTANT_FLAG.so MUTANT_UNIMPL.so
H=$1 W=$2 MFLAG=$3 MUNIMPL=$4
rm -rf "$W" && mkdir -p "$W" || exit 1

. "$(dirname "$0")/cli_common.sh"

for s in clean pageout; do
    if ! "$H" record --scenario $s --seed 3 --events 120 -o "$W/$s.hvt" >/dev/null 2>"$W/rec.err"; then
        if grep -q "does not implement" "$W/rec.err"; then
            echo "SKIP: scenario $s needs an unimplemented instruction" >&2
            exit 77
        fi
        cat "$W/rec.err" >&2
        exit 1
    fi
done

expect 0 "$H" replay "$W/clean.hvt"
has "$W/out" "divergent events: 0"
expect 1 "$H" replay "$W/pageout.hvt"
has "$W/out" "translation_changed"
has "$W/out" "rep outsb\|rep movsb"
has "$W/out" "data access: phys"
expect 1 "$H" replay "$W/pageout.hvt" --cache walk
has "$W/out" "what-if: the policy removes the divergence"
expect 1 "$H" replay "$W/pageout.hvt" --json --jobs 2 --cache full
has "$W/out" '"type":"divergence"'
has "$W/out" '"class":"translation_changed"'
has "$W/out" '"type":"whatif","event":'
has "$W/out" '"type":"summary"'
if grep -v '^{"type":' "$W/out" | grep -q .; then
    echo "FAIL: --json printed a line that is not a JSON object" >&2
    fails=$((fails + 1))
fi
"$H" replay "$W/pageout.hvt" --json > "$W/j1"
"$H" replay "$W/pageout.hvt" --json --jobs 2 > "$W/j2"
cmp -s "$W/j1" "$W/j2" || { echo "FAIL: --jobs 2 output differs" >&2; fails=$((fails + 1)); }
expect 0 "$H" replay "$W/pageout.hvt" --events 0..0 --no-analysis
expect 0 "$H" replay "$W/pageout.hvt" --verbose --events 5..9 --no-analysis

# mutants: a wrong flag diverges (1); a core without ADD cannot replay (125)
expect 1 "$H" replay "$W/clean.hvt" --core "$MFLAG"
has "$W/out" "replay_mismatch"
has "$W/out" "rflags"
expect 125 "$H" replay "$W/clean.hvt" --core "$MUNIMPL"
has "$W/out" "cannot replay"

# --analysis-only runs no core: the mutants change nothing, the passes are still compared
expect 0 "$H" replay "$W/clean.hvt" --core "$MFLAG" --analysis-only
has "$W/out" "analysis only"
has "$W/err" "runs no core: --core, --core-option, --cpu and --match are not used"
expect 1 "$H" replay "$W/pageout.hvt" --core "$MUNIMPL" --analysis-only
has "$W/out" "translation_changed=[1-9]"
has "$W/out" "replay_mismatch=0"
has "$W/out" "0 cannot be replayed"
expect 2 "$H" replay "$W/pageout.hvt" --analysis-only --no-analysis
expect 2 "$H" replay "$W/pageout.hvt" --analysis-only --cache walk

# usage (2) and unreadable/corrupt traces (3)
expect 2 "$H" replay
expect 2 "$H" replay "$W/clean.hvt" --cache sometimes
expect 2 "$H" replay "$W/clean.hvt" --jobs 0
expect 2 "$H" replay "$W/clean.hvt" --core "$W/nonexistent.so"
expect 3 "$H" replay "$W/nonexistent.hvt"
printf 'this is not a trace' > "$W/junk.hvt"
expect 3 "$H" replay "$W/junk.hvt"
size=$(wc -c < "$W/pageout.hvt")
head -c $((size / 2)) "$W/pageout.hvt" > "$W/cut.hvt"
"$H" replay "$W/cut.hvt" >/dev/null 2>&1
rc=$?
[ $rc = 1 ] || [ $rc = 3 ] || { echo "FAIL: truncated trace: exit $rc" >&2; fails=$((fails + 1)); }
expect 0 "$H" replay --help

# bisect: the first diverging event; good/bad between two cores
expect 1 "$H" bisect "$W/pageout.hvt"
has "$W/out" "first diverging event: event"
expect 0 "$H" bisect "$W/clean.hvt"
expect 1 "$H" bisect "$W/clean.hvt" --good ref --bad "$MFLAG"
has "$W/out" "where the cores differ"
expect 1 "$H" bisect "$W/clean.hvt" --core "$MFLAG" --json
has "$W/out" '"type":"bisect","event":'
expect 3 "$H" bisect "$W/junk.hvt"

# diff: the same trace; another seed
expect 0 "$H" diff "$W/clean.hvt" "$W/clean.hvt"
"$H" record --scenario clean --seed 4 --events 120 -o "$W/clean4.hvt" >/dev/null 2>&1
expect 1 "$H" diff "$W/clean.hvt" "$W/clean4.hvt"
has "$W/out" "differs"
expect 3 "$H" diff "$W/clean.hvt" "$W/junk.hvt"
expect 2 "$H" diff "$W/clean.hvt"

[ $fails = 0 ] && echo "cli: all checks passed" && exit 0
echo "cli: $fails failure(s)" >&2
exit 1
