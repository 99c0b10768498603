# SPDX-License-Identifier: MIT
# Helpers of the command-line tests (sourced): W is the work directory, fails counts failures.
fails=0

# expect CODE CMD...: runs CMD (output in $W/out, stderr in $W/err), checks its exit code
expect() {
    want=$1
    shift
    "$@" >"$W/out" 2>"$W/err"
    got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: exit $got, expected $want: $*" >&2
        head -5 "$W/err" >&2
        fails=$((fails + 1))
    fi
}
# has FILE TEXT: FILE contains TEXT
has() {
    if ! grep -q -- "$2" "$1"; then
        echo "FAIL: '$2' not in $1" >&2
        fails=$((fails + 1))
    fi
}
