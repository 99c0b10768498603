/* SPDX-License-Identifier: MIT */
/* hvtrace common: a CPU profile from any CPUID table (the host's, or what a hypervisor shows). */
#ifndef HVT_COMMON_CPUID_H
#define HVT_COMMON_CPUID_H

#include "hvtrace/cpu.h"

/* Answers CPUID leaf LEAF, subleaf SUB into R (eax, ebx, ecx, edx); all zero when absent. */
typedef void (*hvt_cpuid_fn)(void *arg, unsigned leaf, unsigned sub, unsigned r[4]);

/* Fills *OUT (name "host-cpuid") from the table FN answers: vendor, family/model/stepping,
 * the features hvt_cpu_profile_cpuid reads, and the vendor's default choices. Without OS_AVX
 * (the OS does not enable AVX state) AVX, AVX2 and AVX-512 are dropped. Errors:
 * -HVT_E_INVALID (NULL), -HVT_E_UNSUPPORTED (leaf 0 reports no leaves). */
int hvt_cpu_profile_from_cpuid(struct hvt_cpu_profile *out, hvt_cpuid_fn fn, void *arg, int os_avx);

#endif
