#!/bin/sh
# SPDX-License-Identifier: MIT
# Exit codes of the trace tools on bad command lines and unreadable files.
# Usage: cli_usage.sh HVTRACE
set -u
hvtrace=$1
work=$(mktemp -d /tmp/hvt-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
expect() { # EXIT ARGS...
    want=$1
    shift
    "$hvtrace" "$@" >/dev/null 2>"$work/err"
    got=$?
    if [ "$got" != "$want" ]; then
        echo "hvtrace $*: exit $got, expected $want" >&2
        cat "$work/err" >&2
        fail=1
    fi
}
"$hvtrace" gen-sample -f "$work/s.hvt" --events 5 >/dev/null || exit 1
for cmd in dump stats verify; do
    expect 2 $cmd
    expect 2 $cmd "$work/s.hvt" --bogus
    expect 2 $cmd "$work/s.hvt" "$work/s.hvt"
    expect 3 $cmd "$work/missing.hvt"
    expect 3 $cmd "$work"
    expect 0 $cmd "$work/s.hvt"
done
expect 2 dump "$work/s.hvt" --events 5..2
expect 2 dump "$work/s.hvt" --events x
expect 2 dump "$work/s.hvt" --events
expect 0 dump "$work/s.hvt" --events 100..
expect 0 dump "$work/s.hvt" --events 3
expect 2 gen-sample
expect 2 gen-sample -f "$work/t.hvt" --events -1
expect 2 gen-sample -f "$work/t.hvt" --seed
expect 4 gen-sample -f "$work/no/such/dir/t.hvt" # an output that cannot be created
# verify --salvage: refuses to replace OUT without -f; the exit status is about the input.
: >"$work/exists.hvt"
expect 2 verify "$work/s.hvt" --salvage "$work/exists.hvt"
expect 0 verify "$work/s.hvt" --salvage "$work/exists.hvt" -f
expect 0 verify "$work/exists.hvt"
head -c 1500 "$work/s.hvt" >"$work/cut.hvt"
expect 3 verify "$work/cut.hvt" --salvage "$work/saved.hvt"
expect 0 verify "$work/saved.hvt"
expect 2 verify "$work/s.hvt" --salvage "$work/s.hvt"
exit $fail
