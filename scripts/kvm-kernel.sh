#!/bin/sh
# SPDX-License-Identifier: MIT
# Fetches a Debian kernel package by its exact name (never installs it), extracts its vmlinux
# ELF for `hvtrace record --host kvm --kernel`, and prints the vmlinux path.
#   scripts/kvm-kernel.sh [PACKAGE] [DIR]
#   PACKAGE  default linux-image-6.1.0-50-cloud-amd64 (apt-cache search linux-image cloud-amd64)
#   DIR      work directory, default /tmp/hvt-kernel
# The package's vmlinuz is a bzImage: a small setup and decompressor in front of the
# compressed kernel. The payload is found by its compression magic (zstd, xz, gzip, lzma,
# bzip2, lz4) and each candidate offset is decompressed until one gives an ELF file.
# Needs apt-get (with a package list: apt-get update), dpkg-deb, and the decompressor.
set -eu
pkg=${1:-linux-image-6.1.0-50-cloud-amd64}
dir=${2:-/tmp/hvt-kernel}
mkdir -p "$dir"
cd "$dir"
if ! ls "$pkg"_*.deb > /dev/null 2>&1; then
    apt-get download "$pkg" > /dev/null
fi
rm -rf root && mkdir root
dpkg-deb -x "$pkg"_*.deb root
vmlinux=$(ls root/usr/lib/debug/boot/vmlinux-* 2>/dev/null | head -n 1 || true)
if [ -n "$vmlinux" ]; then
    echo "$dir/$vmlinux"
    exit 0
fi
vmlinuz=$(ls root/boot/vmlinuz-* | head -n 1)
out="$dir/vmlinux"

is_elf() {
    [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ]
}

# try MAGIC-HEX TOOL...: every offset of the magic, decompressed from there
try() {
    magic=$1
    shift
    pat=$(printf '%s' "$magic" | sed 's/\(..\)/\\x\1/g')
    for off in $(LC_ALL=C grep -obUaP "$pat" "$vmlinuz" | cut -d: -f1); do
        tail -c +"$((off + 1))" "$vmlinuz" | "$@" > "$out" 2> /dev/null || true
        if [ -s "$out" ] && is_elf "$out"; then
            echo "$out"
            exit 0
        fi
    done
}

command -v zstd > /dev/null && try 28b52ffd zstd -dc
command -v xz > /dev/null && try fd377a585a00 xz -dc
try 1f8b08 gzip -dc
command -v xz > /dev/null && try 5d000000 xz -dc --format=lzma
command -v bzip2 > /dev/null && try 425a68 bzip2 -dc
command -v lz4 > /dev/null && try 02214c18 lz4 -dc
echo "kvm-kernel.sh: no ELF payload found in $vmlinuz" >&2
exit 1
