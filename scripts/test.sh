#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs dependencies, builds and runs the whole test suite.
#   scripts/test.sh             release build in build/
#   scripts/test.sh --sanitize  ASan+UBSan build with clang in build-asan/ (clang's UBSan has
#                               checks gcc's lacks, e.g. pointer arithmetic on NULL; and the
#                               two passes together keep the code warning-free on both compilers)
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
if [ "${1:-}" = "--sanitize" ]; then
    dir=build-asan
    cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DHVT_ASAN=ON \
        -DHVT_UBSAN=ON
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
    dir=build
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$dir" -j "$jobs"
ctest --test-dir "$dir" --output-on-failure -j "$jobs"
