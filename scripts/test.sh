#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs dependencies, builds and runs the whole test suite.
#   scripts/test.sh             release build in build/
#   scripts/test.sh --sanitize  ASan+UBSan build with clang in build-asan/ (clang's UBSan has
#                               checks gcc's lacks, e.g. pointer arithmetic on NULL; and the
#                               two passes together keep the code warning-free on both compilers)
#   scripts/test.sh --tsan      TSan build in build-tsan/, the tests of the threaded code only
#                               (recorder rings and writer, host --threads, replay --jobs,
#                               parallel chunk loading)
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
elif [ "${1:-}" = "--tsan" ]; then
    dir=build-tsan
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHVT_TSAN=ON
    export TSAN_OPTIONS=halt_on_error=1
    cmake --build "$dir" -j "$jobs"
    exec ctest --test-dir "$dir" --output-on-failure -j "$jobs" \
        -R 'test_rec_|host_|replayer|format_test_reader|kvm_'
else
    dir=build
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$dir" -j "$jobs"
ctest --test-dir "$dir" --output-on-failure -j "$jobs"
