#!/bin/sh
# SPDX-License-Identifier: MIT
# hvtrace lint on the command line: exit codes, text and JSON lines; replay --analysis-only on
# a trace of a foreign (synthetic) emulator.
# usage: lint_cli.sh HVTRACE WORKDIR MUTANT_GATHER.so
H=$1 W=$2 MGATHER=$3
rm -rf "$W" && mkdir -p "$W" || exit 1

. "$(dirname "$0")/cli_common.sh"

"$H" record --scenario gather --seed 2 --events 40 -o "$W/good.hvt" >/dev/null || exit 1
"$H" record --scenario gather --seed 2 --events 40 --core "$MGATHER" -o "$W/bad.hvt" >/dev/null ||
    exit 1
"$H" gen-sample -f "$W/sample.hvt" >/dev/null || exit 1

# clean: exit 0, nothing to say; the JSON summary says 0 problems
expect 0 "$H" lint "$W/good.hvt"
[ -s "$W/out" ] && { echo "FAIL: a clean trace printed something" >&2; fails=$((fails + 1)); }
expect 0 "$H" lint --json "$W/good.hvt"
has "$W/out" '"type":"summary"'
has "$W/out" '"problems":0'
expect 0 "$H" lint "$W/sample.hvt"

# a core that gathers elements backwards: exit 1, each problem with event, pass and access
expect 1 "$H" lint "$W/bad.hvt"
has "$W/out" 'pass 0 access [0-9]*: \[element\] element'
has "$W/out" 'problems in 40 events'
expect 1 "$H" lint --json --max 3 "$W/bad.hvt"
has "$W/out" '"type":"problem","record":[0-9]*,"event":[0-9]*,"pass":0,"access":[0-9]*,"check":"element"'
has "$W/out" '"listed":3'
[ "$(grep -c '"type":"problem"' "$W/out")" = 3 ] || {
    echo "FAIL: --max 3 listed another number of problems" >&2
    fails=$((fails + 1))
}

# corrupt or unreadable: 3; usage: 2
head -c $(($(wc -c <"$W/good.hvt") / 2)) "$W/good.hvt" >"$W/cut.hvt"
expect 3 "$H" lint "$W/cut.hvt"
expect 3 "$H" lint "$W/missing.hvt"
expect 2 "$H" lint
expect 2 "$H" lint --bogus "$W/good.hvt"
expect 2 "$H" lint --max x "$W/good.hvt"
expect 0 "$H" lint --help
has "$W/out" 'usage: hvtrace lint'

# the pass-to-pass analysis without a core, on a foreign emulator's trace
expect 0 "$H" replay --analysis-only "$W/sample.hvt"
has "$W/out" 'summary: 40 events'

[ $fails = 0 ] && echo "lint_cli: ok"
exit $((fails > 0))
