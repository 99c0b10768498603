#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs one golden tool-output test: tests/golden/tools/NAME.golden holds, in one readable file,
# how to make the input, the command, the expected exit code and the expected stdout:
#   # input: gen-sample ARGS          (the trace, written as sample.hvt)
#   # input: corpus FILE              (or a copy of a golden corpus file, as sample.hvt)
#   # input: legacy FILE              (or a trace written by an older format version, kept in
#                                      legacy/: what an older writer made stays readable)
#   # command: ARGS                   (hvtrace ARGS, run where sample.hvt is)
#   # exit: N
#   # stderr-contains: TEXT           (optional)
#   # expect:
#   ...expected stdout, verbatim, to the end of the file...
# Usage: run_golden.sh HVTRACE GOLDEN_FILE     (HVT_GOLDEN_UPDATE=1 rewrites the expectation)
set -u
hvtrace=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
golden=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
corpus=$(cd "$(dirname "$golden")/../corpus" && pwd)
work=$(mktemp -d /tmp/hvt-golden.XXXXXX)
trap 'rm -rf "$work"' EXIT

field() { sed -n "s/^# $1: //p" "$golden" | head -n 1; }
input=$(field input)
command=$(field command)
want_exit=$(field exit)
want_err=$(field stderr-contains)
[ -n "$input" ] && [ -n "$command" ] && [ -n "$want_exit" ] || {
    echo "$golden: needs '# input:', '# command:' and '# exit:' lines" >&2
    exit 1
}
sed '1,/^# expect:$/d' "$golden" >"$work/expected"

cd "$work" || exit 1
case $input in
gen-sample\ *) "$hvtrace" $input -f sample.hvt >/dev/null || exit 1 ;;
corpus\ *) cp "$corpus/${input#corpus }" sample.hvt || exit 1 ;;
legacy\ *) cp "$corpus/../legacy/${input#legacy }" sample.hvt || exit 1 ;;
*) echo "$golden: unknown input '$input'" >&2; exit 1 ;;
esac
# shellcheck disable=SC2086 # the command's words are meant to split
"$hvtrace" $command >actual 2>stderr
got_exit=$?

if [ "${HVT_GOLDEN_UPDATE:-}" = 1 ]; then
    sed '/^# expect:$/q' "$golden" >"$work/new"
    cat actual >>"$work/new"
    sed -i "s/^# exit: .*/# exit: $got_exit/" "$work/new"
    cp "$work/new" "$golden"
    echo "updated $golden"
    exit 0
fi
status=0
if [ "$got_exit" != "$want_exit" ]; then
    echo "$golden: exit $got_exit, expected $want_exit" >&2
    cat stderr >&2
    status=1
fi
if [ -n "$want_err" ] && ! grep -qF -- "$want_err" stderr; then
    echo "$golden: stderr lacks '$want_err':" >&2
    cat stderr >&2
    status=1
fi
if ! diff -u expected actual >&2; then
    echo "$golden: output differs (HVT_GOLDEN_UPDATE=1 to accept)" >&2
    status=1
fi
exit $status
