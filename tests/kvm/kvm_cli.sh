#!/bin/sh
# SPDX-License-Identifier: MIT
# record --host kvm and check-kvm end to end, in seconds. Exit 77 (ctest: skipped) without a
# usable /dev/kvm. Usage: kvm_cli.sh HVTRACE WORKDIR
set -u
H=$1
W=$2
rm -rf "$W" && mkdir -p "$W" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }

# usage errors come before anything needs KVM
"$H" record --host kvm --scenario pageout --vcpus 1 -o "$W/x.hvt" 2>/dev/null
[ $? -eq 2 ] || fail "--vcpus 1 is a usage error"
"$H" record --host xen --scenario clean -o "$W/x.hvt" 2>/dev/null
[ $? -eq 2 ] || fail "--host xen is a usage error"
"$H" check-kvm --cases nope 2>/dev/null
[ $? -eq 2 ] || fail "check-kvm --cases nope is a usage error"

# without a usable KVM: exit 77 and say why, for each command that needs it; nothing written
for cmd in "record --host kvm --scenario clean -o $W/none.hvt" "check-kvm --cases 5" "bench kvm"; do
    HVT_KVM_DEVICE=$W/no-such-device "$H" $cmd > "$W/nokvm.out" 2> "$W/nokvm.err"
    rc=$?
    [ $rc -eq 77 ] || fail "$cmd without KVM: exit $rc, not 77"
    grep -q "no usable KVM here: .*no-such-device: No such file or directory" "$W/nokvm.err" ||
        fail "$cmd without KVM: no reason given"
done
[ ! -e "$W/none.hvt" ] || fail "record without KVM wrote a file"

"$H" record --host kvm --scenario pageout --events 12 -o "$W/po.hvt" > "$W/po.txt" 2> "$W/po.err"
rc=$?
if [ $rc -eq 77 ]; then
    cat "$W/po.err"
    exit 77
fi
[ $rc -eq 0 ] || { cat "$W/po.err"; fail "record --host kvm pageout: exit $rc"; }
grep -q "kvm" "$W/po.txt" || fail "no summary"

# an existing output is kept without -f; a kernel that is not a vmlinux is refused by name
cksum "$W/po.hvt" > "$W/po.sum"
"$H" record --host kvm --scenario clean --events 3 -o "$W/po.hvt" 2> "$W/exists.err"
[ $? -eq 2 ] || fail "an existing output without -f is a usage error"
cksum "$W/po.hvt" | cmp -s - "$W/po.sum" || fail "the existing output was changed"
printf 'not an elf file, but long enough to be read as one: 0123456789abcdef\n' > "$W/bad.elf"
"$H" record --host kvm --kernel "$W/bad.elf" -o "$W/k.hvt" 2> "$W/badk.err"
[ $? -eq 2 ] || fail "a bad kernel is a usage error"
grep -q "not an x86-64 ELF executable" "$W/badk.err" || fail "a bad kernel: no reason"
[ ! -e "$W/k.hvt" ] || fail "a bad kernel left a trace"

# the pageout race is seen between passes, and the reconstructed accesses say so
"$H" replay --analysis-only --json "$W/po.hvt" > "$W/po.json"
grep -q '"class":"translation_changed"' "$W/po.json" || fail "pageout: no translation_changed"
grep -q '"reconstructed":true' "$W/po.json" || fail "replay --json shows no reconstructed access"
"$H" dump "$W/po.hvt" > "$W/po.dump" || fail "dump"
grep -Eq "format (1\.[2-9]|[2-9]\.[0-9]+) " "$W/po.dump" || fail "dump: format below 1.2 (no reconstructed flag)"
grep -q " reconstructed" "$W/po.dump" || fail "dump shows no reconstructed access"
grep -q "port 0xe0 size 1 data .. ok$" "$W/po.dump" || fail "dump: no observed (unflagged) device access"
"$H" verify "$W/po.hvt" > /dev/null || fail "verify"

# clean with exact pre-states: no divergence between passes
"$H" record --host kvm --scenario clean --lockstep --events 30 -o "$W/cl.hvt" > "$W/cl.txt" ||
    fail "record clean --lockstep"
grep -q " 0 differ$" "$W/cl.txt" || { cat "$W/cl.txt"; fail "clean: the shadow core differs from KVM"; }
"$H" replay --analysis-only "$W/cl.hvt" > "$W/cl.rep" || fail "clean: a divergence"
"$H" dump "$W/cl.hvt" | head -n 1 | grep -q "producer hvtrace-kvm" || fail "clean: producer"

# KVM's emulator against the reference core
"$H" check-kvm --seed 3 --cases 60 > "$W/ck.txt"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { cat "$W/ck.txt"; fail "check-kvm: exit $rc"; }
grep -q "^60 cases, 0 mismatches$" "$W/ck.txt" || fail "check-kvm summary"
echo "ok"
