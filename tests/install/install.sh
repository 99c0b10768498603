#!/bin/sh
# SPDX-License-Identifier: MIT
# Install test: `cmake --install` into a temporary prefix, then build a consumer with only
# what was installed (headers, static libraries, a relocatable hvtrace.pc) and run it.
# usage: install.sh BUILD_DIR SOURCE_DIR WORK_DIR C_COMPILER
B=$1 S=$2 W=$3 CC=$4
rm -rf "$W" && mkdir -p "$W" || exit 1
cmake --install "$B" --prefix "$W/prefix" >"$W/install.log" 2>&1 || { cat "$W/install.log"; exit 1; }
pc=$(find "$W/prefix" -name hvtrace.pc | head -1)
[ -n "$pc" ] || { echo "FAIL: no hvtrace.pc installed"; exit 1; }
[ -x "$W/prefix/bin/hvtrace" ] || { echo "FAIL: no hvtrace binary installed"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs --static hvtrace) || { echo "FAIL: pkg-config"; exit 1; }
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Werror "$S/tests/install/consumer.c" -o "$W/consumer" $flags ||
    { echo "FAIL: the consumer does not build from the installed files"; exit 1; }
"$W/consumer" "$W/t.hvt"
