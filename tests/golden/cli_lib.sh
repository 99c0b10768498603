# SPDX-License-Identifier: MIT
# Shared by the command-line test scripts (sourced): a private work directory $W removed at
# exit, `bad` to record a failure, `run` to check one hvtrace command. $H is the hvtrace binary.
# cli_init PREFIX: makes $W (/tmp/PREFIX.XXXXXX) and sets fail=0.
cli_init() {
    W=$(mktemp -d "/tmp/$1.XXXXXX")
    trap 'rm -rf "$W"' EXIT
    fail=0
}
bad() {
    echo "FAIL: $*" >&2
    fail=1
}
# run EXIT NEEDLE ARGS...: the exit code must be EXIT and NEEDLE must be in stderr (or, with
# RUN_BOTH=1, in stdout or stderr). stdout is left in $W/out, stderr in $W/err.
run() {
    want=$1
    needle=$2
    shift 2
    "$H" "$@" >"$W/out" 2>"$W/err"
    got=$?
    if [ "$got" != "$want" ]; then
        bad "hvtrace $*: exit $got, want $want"
        cat "$W/err" >&2
    elif [ -n "$needle" ] && ! if [ "${RUN_BOTH:-0}" = 1 ]; then cat "$W/out" "$W/err"; else cat "$W/err"; fi |
        grep -q -- "$needle"; then
        bad "hvtrace $*: output lacks '$needle':"
        head -5 "$W/out" "$W/err" >&2
    fi
}
