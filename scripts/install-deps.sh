#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages hvtrace builds and tests with (run as root on Debian 12).
# chromium: the headless browser the test of `hvtrace report` loads its HTML page in (console
# errors, highlighting, a screenshot); the test is skipped where it is missing.
set -eu
PKGS="build-essential cmake pkg-config git clang libclang-rt-14-dev \
      libzstd-dev libprotobuf-c-dev protobuf-c-compiler \
      libcapstone-dev libunwind-dev libunicorn-dev abigail-tools chromium"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends $missing
fi
