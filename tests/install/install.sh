#!/bin/sh
# SPDX-License-Identifier: MIT
# Install test: `cmake --install` into a temporary prefix, then, with only what was installed:
#   - consumer.c (core + format) with plain `pkg-config --cflags --libs hvtrace` (the shared
#     library) and again linked statically, both run;
#   - examples/toyhv built out of tree with its Makefile (plain pkg-config, hvtrace-recorder: no
#     capstone, no unicorn), recording a trace that `hvtrace verify` accepts and
#     `hvtrace replay --analysis-only` analyses (a PTE rewritten between passes:
#     translation_changed), and a malformed access refused while the recording goes on;
#   - examples/linemu built out of tree with its Makefile (headers only), replaying a recorded
#     scenario with `hvtrace replay --core ./linemu.so --match semantic`: no mismatch;
#   - the installed libraries define nothing but public hvt_ symbols.
# usage: install.sh BUILD_DIR SOURCE_DIR WORK_DIR C_COMPILER
B=$1 S=$(cd "$2" && pwd) W=$3 CC=$4
P=$W/prefix
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
rm -rf "$W" && mkdir -p "$W" || exit 1
cmake --install "$B" --prefix "$P" >"$W/install.log" 2>&1 || { cat "$W/install.log"; exit 1; }
pc=$(find "$P" -name hvtrace.pc | head -1)
[ -n "$pc" ] || fail "no hvtrace.pc installed"
L=$(dirname "$(dirname "$pc")")
[ -f "$(dirname "$pc")/hvtrace-recorder.pc" ] || fail "no hvtrace-recorder.pc installed"
[ -x "$P/bin/hvtrace" ] || fail "no hvtrace binary installed"
for lib in hvtrace hvtrace-recorder; do
    [ -f "$L/lib$lib.a" ] || fail "no lib$lib.a installed"
    [ -e "$L/lib$lib.so" ] || fail "no lib$lib.so installed"
    readelf -d "$L/lib$lib.so" | grep -q "SONAME.*\[lib$lib\.so\.[0-9]*\]" ||
        fail "lib$lib.so has no SONAME lib$lib.so.N"
    # only the public API leaves the libraries, dynamic or static
    bad=$(nm -D --defined-only "$L/lib$lib.so" | awk '$3 !~ /^hvt_/ && $3 !~ /^HVTRACE_/')
    [ -z "$bad" ] || fail "lib$lib.so exports non-hvt_ symbols: $bad"
    bad=$(nm -g --defined-only "$L/lib$lib.a" 2>/dev/null | awk 'NF == 3 && $3 !~ /^hvt_/')
    [ -z "$bad" ] || fail "lib$lib.a defines non-hvt_ global symbols: $bad"
done
export PKG_CONFIG_PATH="$(dirname "$pc")"

# the shared library, with nothing but pkg-config's flags
flags=$(pkg-config --cflags --libs hvtrace) || fail "pkg-config hvtrace"
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Werror "$S/tests/install/consumer.c" -o "$W/consumer" $flags ||
    fail "the consumer does not build with pkg-config --cflags --libs hvtrace"
readelf -d "$W/consumer" | grep -q 'NEEDED.*libhvtrace\.so\.' ||
    fail "the consumer is not linked with libhvtrace.so"
LD_LIBRARY_PATH="$L" "$W/consumer" "$W/t.hvt" || fail "the shared-library consumer does not run"

# the static library (-l:libhvtrace.a: the archive even where the .so is next to it)
flags=$(pkg-config --static --libs hvtrace | sed 's/-lhvtrace\b/-l:libhvtrace.a/') ||
    fail "pkg-config --static hvtrace"
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Werror $(pkg-config --cflags hvtrace) "$S/tests/install/consumer.c" \
    -o "$W/consumer-static" $flags || fail "the consumer does not link statically"
readelf -d "$W/consumer-static" | grep -q 'NEEDED.*libhvtrace' &&
    fail "the static consumer needs libhvtrace.so"
"$W/consumer-static" "$W/t2.hvt" || fail "the static consumer does not run"

# the toy hypervisor, out of tree, recorder only
mkdir -p "$W/toyhv" || exit 1
make -s -C "$W/toyhv" -f "$S/examples/toyhv/Makefile" VPATH="$S/examples/toyhv" CC="$CC" \
    CFLAGS="-O2 -Wall -Wextra -Werror" >"$W/toyhv/make.log" 2>&1 ||
    { cat "$W/toyhv/make.log"; fail "examples/toyhv does not build against the installed package"; }
T=$W/toyhv/toyhv
readelf -d "$T" | grep -q 'NEEDED.*libhvtrace-recorder\.so\.' ||
    fail "toyhv is not linked with libhvtrace-recorder.so"
readelf -d "$T" | grep -Eq 'NEEDED.*(capstone|unicorn|libhvtrace\.so)' &&
    fail "toyhv (hvtrace-recorder) pulls in capstone, unicorn or the whole library"
export LD_LIBRARY_PATH="$L"
"$T" "$W/toy.hvt" --events 40 >"$W/toy.out" || { cat "$W/toy.out"; fail "toyhv failed"; }
cat "$W/toy.out"
grep -q "40 events, 60 passes" "$W/toy.out" || fail "toyhv recorded something else"
"$P/bin/hvtrace" verify "$W/toy.hvt" || fail "hvtrace verify refuses toyhv's trace"
"$P/bin/hvtrace" lint "$W/toy.hvt" || fail "hvtrace lint finds problems in toyhv's trace"
"$P/bin/hvtrace" replay "$W/toy.hvt" --analysis-only >"$W/replay.out"
rc=$?
tail -5 "$W/replay.out"
[ "$rc" = 1 ] || fail "replay --analysis-only exit $rc, expected 1 (the rewritten PTE)"
grep -q "translation_changed=[1-9]" "$W/replay.out" || fail "no translation_changed found"
grep -q "replay_mismatch=0" "$W/replay.out" || fail "--analysis-only ran a core"
grep -q "movsb" "$W/replay.out" || fail "the divergence is not on movsb"
# a malformed access: refused with its detail, the rest of the recording kept
"$T" "$W/bad.hvt" --events 40 --bad-access >"$W/bad.out" 2>"$W/bad.err" ||
    { cat "$W/bad.out" "$W/bad.err"; fail "toyhv --bad-access stopped"; }
grep -q "walk level 9" "$W/bad.err" || fail "no detail for the refused access"
grep -q "40 events, 60 passes, .* 1 refused" "$W/bad.out" || fail "the recording was not kept"
"$P/bin/hvtrace" verify "$W/bad.hvt" || fail "hvtrace verify refuses the trace with a refusal"
"$P/bin/hvtrace" lint "$W/bad.hvt" || fail "hvtrace lint: the refusal's lost marker does not add up"

# the example core, out of tree with its Makefile (headers only), replaying a scenario
mkdir -p "$W/linemu" || exit 1
make -s -C "$W/linemu" -f "$S/examples/linemu/Makefile" VPATH="$S/examples/linemu" CC="$CC" \
    CFLAGS="-O2 -Wall -Wextra -Werror" >"$W/linemu/make.log" 2>&1 ||
    { cat "$W/linemu/make.log"; fail "examples/linemu does not build against the installed package"; }
readelf -d "$W/linemu/linemu.so" | grep -q 'NEEDED.*hvtrace' &&
    fail "linemu.so links an hvtrace library (it needs only the headers)"
"$P/bin/hvtrace" record --scenario clean -o "$W/clean.hvt" --events 200 >/dev/null ||
    fail "hvtrace record clean"
"$P/bin/hvtrace" replay "$W/clean.hvt" --core "$W/linemu/linemu.so" --match semantic \
    >"$W/linemu/replay.out" || { tail -20 "$W/linemu/replay.out"; fail "linemu replay failed"; }
tail -4 "$W/linemu/replay.out"
grep -q "200 replayed" "$W/linemu/replay.out" || fail "linemu did not replay every event"
grep -q "replay_mismatch=0" "$W/linemu/replay.out" || fail "linemu mismatches in semantic mode"
echo "install: ok"
