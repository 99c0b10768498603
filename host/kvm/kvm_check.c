/* SPDX-License-Identifier: MIT */
/* KVM host: check-kvm (placeholder while the harness is written). */
#include "kvm_int.h"
int hvt_kvm_check(uint64_t seed, uint64_t cases, int verbose, FILE *out)
{
    (void)seed, (void)cases, (void)verbose, (void)out;
    return -HVT_E_UNSUPPORTED;
}
