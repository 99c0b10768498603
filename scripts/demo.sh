#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs dependencies, builds, and runs the main job (the README's first Quick start command).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
if ./build/tools/hvtrace demo --help >/dev/null 2>&1; then
    rc=0
    ./build/tools/hvtrace demo || rc=$?
    echo
    echo "(hvtrace is ./build/tools/hvtrace; 'cmake --install build' puts it on your PATH)"
    exit $rc
fi
# Until the simulated host exists: a small sample trace the build generates.
./build/tools/hvtrace gen-sample -f build/sample.hvt
./build/tools/hvtrace stats build/sample.hvt
./build/tools/hvtrace dump build/sample.hvt --events 0..3
