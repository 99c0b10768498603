#!/bin/sh
# SPDX-License-Identifier: MIT
# The shared libraries' ABI (abi/README.md).
#   scripts/abi.sh check BUILD_DIR   (ctest abi_check) the exported symbols are exactly the
#                                    functions declared in include/hvtrace/ (HVT_API), and
#                                    abidiff finds no change against abi/*.abi
#   scripts/abi.sh update BUILD_DIR  rewrites abi/*.abi from the built libraries (commit them,
#                                    with a SONAME bump when the change is incompatible)
# abidiff and abidw come from Debian's abigail-tools (scripts/install-deps.sh installs it);
# without them the symbol check still runs and the abidiff step says it was skipped.
set -u
mode=${1:-} B=${2:-}
[ -n "$mode" ] && [ -d "$B/lib" ] || { echo "usage: abi.sh check|update BUILD_DIR" >&2; exit 2; }
S=$(cd "$(dirname "$0")/.." && pwd)
H="$S/include/hvtrace"
BH="$B/include/hvtrace"
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}

# The functions the headers declare (every declaration starts a line, after HVT_API); a
# declaration without HVT_API is reported, since it would not be exported.
declared() {
    for h in "$@"; do
        grep -E '^(HVT_API )?[a-z][a-z0-9_ ]*[ *]hvt_[a-z0-9_]+\(' "$h" | grep -v '^typedef' |
            while IFS= read -r line; do
                case $line in
                HVT_API*) ;;
                *) echo "FAIL: $(basename "$h"): declared without HVT_API: $line" >&2 ;;
                esac
                echo "$line" | grep -oE 'hvt_[a-z0-9_]+\(' | head -1 | tr -d '('
            done
    done | sort -u
}
exported() {
    nm -D --defined-only "$1" | awk '{print $3}' | sed 's/@.*//' | grep -v '^HVTRACE_' | sort -u
}
lib_headers() {
    case $1 in
    hvtrace) ls "$H"/*.h "$BH"/version.h ;;
    hvtrace-recorder)
        for h in error types cpu format recorder; do echo "$H/$h.h"; done
        echo "$BH/version.h" ;;
    esac
}

if [ "$mode" = check ]; then
    for lib in hvtrace hvtrace-recorder; do
        so="$B/lib/lib$lib.so"
        [ -f "$so" ] || { fail "$so not built"; continue; }
        # shellcheck disable=SC2046
        declared $(lib_headers $lib) >"$B/lib/$lib.declared" 2>"$B/lib/$lib.undeclared"
        if [ -s "$B/lib/$lib.undeclared" ]; then
            cat "$B/lib/$lib.undeclared" >&2
            fails=$((fails + 1))
        fi
        exported "$so" >"$B/lib/$lib.exported"
        if ! cmp -s "$B/lib/$lib.declared" "$B/lib/$lib.exported"; then
            fail "lib$lib.so: exported symbols differ from the HVT_API declarations (< declared only, > exported only):"
            diff "$B/lib/$lib.declared" "$B/lib/$lib.exported" | grep '^[<>]' >&2
        else
            echo "lib$lib.so: $(wc -l <"$B/lib/$lib.exported") symbols, exactly the public API"
        fi
    done
fi

if ! command -v abidiff >/dev/null 2>&1 || ! command -v abidw >/dev/null 2>&1; then
    echo "SKIP abidiff: abigail-tools is not installed (scripts/install-deps.sh installs it)"
    [ "$mode" = update ] && exit 1
    [ "$fails" = 0 ]
    exit $?
fi
for lib in hvtrace hvtrace-recorder; do
    so="$B/lib/lib$lib.so"
    base="$S/abi/lib$lib.abi"
    if ! readelf -S "$so" | grep -q '\.debug_info'; then
        echo "SKIP abidiff lib$lib.so: built without debug info (use RelWithDebInfo or Debug)"
        continue
    fi
    if [ "$mode" = update ]; then
        abidw --headers-dir "$H" --headers-dir "$BH" --drop-private-types --no-corpus-path \
            --no-comp-dir-path --short-locs --out-file "$base" "$so" || exit 1
        echo "wrote abi/lib$lib.abi"
        continue
    fi
    [ -f "$base" ] || { fail "no baseline abi/lib$lib.abi (scripts/abi.sh update $B)"; continue; }
    abidiff --hd2 "$H" --hd2 "$BH" --drop-private-types "$base" "$so" >"$B/lib/$lib.abidiff" 2>&1
    rc=$?
    # abidiff's exit status is a bit field: 1 error, 2 usage, 4 ABI change, 8 incompatible
    if [ $((rc & 3)) != 0 ]; then
        fail "abidiff lib$lib.so could not run (exit $rc)"
        cat "$B/lib/$lib.abidiff" >&2
    elif [ $((rc & 8)) != 0 ]; then
        fail "lib$lib.so breaks the ABI of abi/lib$lib.abi: bump HVT_SOVERSION and run scripts/abi.sh update (abi/README.md)"
        cat "$B/lib/$lib.abidiff" >&2
    elif [ $((rc & 4)) != 0 ]; then
        fail "lib$lib.so changed its ABI (compatibly): run scripts/abi.sh update $B and commit abi/lib$lib.abi"
        cat "$B/lib/$lib.abidiff" >&2
    else
        echo "abidiff lib$lib.so: no change against abi/lib$lib.abi"
    fi
done
[ "$fails" = 0 ]
