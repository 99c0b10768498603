#!/bin/sh
# SPDX-License-Identifier: MIT
# Hostile inputs and outputs at the command line: paths, exit codes and messages.
# Usage: hostile_cli.sh HVTRACE CASE   (one ctest test per CASE, see tests/golden/CMakeLists.txt)
set -u
H=$1
CASE=$2
. "$(dirname "$0")/cli_lib.sh"
cli_init hvt-hostile
sample() { # FILE [gen-sample options]
    f=$1
    shift
    "$H" gen-sample -f "$f" "$@" >/dev/null || bad "gen-sample $f"
}

case $CASE in
salvage_same_file)
    # --salvage never writes over its input: not by name, symbolic link or hard link
    sample "$W/x.hvt"
    cp "$W/x.hvt" "$W/orig.hvt"
    ln -s x.hvt "$W/sym.hvt"
    ln "$W/x.hvt" "$W/hard.hvt"
    for out in "$W/x.hvt" "$W/./x.hvt" "$W/sym.hvt" "$W/hard.hvt"; do
        run 2 "same file" verify "$W/x.hvt" --salvage "$out" -f
        cmp -s "$W/x.hvt" "$W/orig.hvt" || bad "salvage onto $out changed the input"
    done
    ;;
input_fifo)
    # a FIFO without a writer neither blocks nor is read: every reading command refuses it
    mkfifo "$W/fifo" || exit 77
    for cmd in verify dump stats replay; do
        timeout 20 "$H" $cmd "$W/fifo" >/dev/null 2>"$W/err"
        got=$?
        [ "$got" = 3 ] || bad "$cmd on a FIFO: exit $got, want 3"
        grep -q "not a regular file (a FIFO)" "$W/err" || bad "$cmd on a FIFO: $(cat "$W/err")"
    done
    ;;
output_symlink)
    # an output path that is a symbolic link is refused; its target keeps content and mode
    echo precious >"$W/target"
    chmod 644 "$W/target"
    ln -s target "$W/link.hvt"
    run 4 "ELOOP" record --scenario clean --events 20 -o "$W/link.hvt" -f
    run 4 "symbolic link" gen-sample -f "$W/link.hvt"
    sample "$W/in.hvt"
    run 4 "ELOOP" verify "$W/in.hvt" --salvage "$W/link.hvt" -f
    [ "$(cat "$W/target")" = precious ] || bad "the link's target was written"
    [ "$(stat -c %a "$W/target")" = 644 ] || bad "the link's target changed mode"
    # --follow asks for the target to be written (a new file replaces it)
    run 0 "" record --scenario clean --events 20 -o "$W/link.hvt" -f --follow
    [ -L "$W/link.hvt" ] || bad "--follow replaced the link itself"
    run 0 "" verify "$W/target"
    ;;
output_errors_named)
    # the real cause of an output error, by name, and the write-error exit code
    run 4 "ENOENT" record --scenario clean --events 20 -o "$W/no/such/dir/x.hvt"
    run 4 "ENOENT" gen-sample -f "$W/no/such/dir/x.hvt"
    mkdir "$W/dir"
    run 4 "EISDIR" record --scenario clean --events 20 -o "$W/dir" -f
    run 4 "EISDIR" gen-sample -f "$W/dir"
    ! grep -q "input/output error" "$W/err" || bad "a generic I/O message: $(cat "$W/err")"
    # a read-only file system, in a private mount namespace where that is allowed
    mkdir "$W/ro"
    if unshare -m sh -c "mount -t tmpfs -o ro none '$W/ro'" 2>/dev/null; then
        unshare -m sh -c "mount -t tmpfs -o ro none '$W/ro' && \
            '$H' record --scenario clean --events 20 -o '$W/ro/x.hvt'" >/dev/null 2>"$W/err"
        got=$?
        [ "$got" = 4 ] || bad "record on a read-only file system: exit $got, want 4"
        grep -q "EROFS" "$W/err" || bad "read-only file system not named: $(cat "$W/err")"
    else
        echo "note: cannot mount a read-only file system here (unshare -m); EROFS not tested" >&2
    fi
    ;;
write_exit_full_disk)
    # a full disk (/dev/full) is a write error, exit 4, not a usage error
    [ -w /dev/full ] || { echo "skip: no /dev/full" >&2; exit 77; }
    run 4 "ENOSPC" record --scenario clean --events 20 -o /dev/full -f
    run 4 "ENOSPC" gen-sample -f /dev/full
    sample "$W/in.hvt"
    run 4 "ENOSPC" verify "$W/in.hvt" --salvage /dev/full -f
    ;;
file_size_limit)
    # past ulimit -f the recorder reports EFBIG (exit 4) and keeps what it wrote, instead of
    # dying of SIGXFSZ
    (ulimit -f 64 && exec "$H" record --scenario mixed --events 20000 -o "$W/big.hvt") \
        >/dev/null 2>"$W/err"
    got=$?
    [ "$got" = 4 ] || bad "record past the file size limit: exit $got, want 4"
    grep -q "EFBIG" "$W/err" || bad "file size limit not named: $(cat "$W/err")"
    [ -s "$W/big.hvt" ] || bad "the partial recording is not at its path"
    "$H" dump "$W/big.hvt" >/dev/null 2>&1 || bad "the partial recording does not read"
    ;;
numbers_decimal)
    # numbers are decimal (leading zeros too) or 0x hex, never octal
    sample "$W/a.hvt" --seed 010
    sample "$W/b.hvt" --seed 10
    cmp -s "$W/a.hvt" "$W/b.hvt" || bad "--seed 010 is not ten"
    sample "$W/c.hvt" --seed 08
    sample "$W/d.hvt" --seed 8
    cmp -s "$W/c.hvt" "$W/d.hvt" || bad "--seed 08 is not eight"
    sample "$W/e.hvt" --seed 0x10
    sample "$W/f.hvt" --seed 16
    cmp -s "$W/e.hvt" "$W/f.hvt" || bad "--seed 0x10 is not sixteen"
    run 2 "decimal, or hex with 0x" gen-sample -f "$W/g.hvt" --seed 1e3
    run 2 "decimal, or hex with 0x" record --scenario clean --seed 0x -o "$W/g.hvt"
    run 0 "" record --scenario clean --events 20 --seed 08 -o "$W/r.hvt"
    ;;
empty_path)
    # an empty path is named as such, not ": invalid argument"
    for args in "dump" "stats" "verify" "replay" "gen-sample -f" "record --scenario clean -o"; do
        # shellcheck disable=SC2086
        "$H" $args "" >/dev/null 2>"$W/err"
        got=$?
        [ "$got" = 2 ] || bad "$args '': exit $got, want 2"
        grep -q "empty" "$W/err" || bad "$args '': $(cat "$W/err")"
        ! grep -q ": : " "$W/err" || bad "$args '': $(cat "$W/err")"
    done
    sample "$W/in.hvt"
    run 2 "empty" verify "$W/in.hvt" --salvage ""
    ;;
replay_jobs_capped)
    # --jobs is capped by the CPUs and the decode-memory budget, with a note
    "$H" record --scenario clean --events 200 -o "$W/in.hvt" >/dev/null || bad "record"
    run 0 "capped at" replay "$W/in.hvt" --jobs 64
    ;;
*)
    echo "unknown case $CASE" >&2
    exit 2
    ;;
esac
exit $fail
