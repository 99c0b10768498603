/* SPDX-License-Identifier: MIT */
/* hvtrace common: the state bits a CPU profile forbids, for a check on every emulation. */
#ifndef HVT_COMMON_CPU_STATE_H
#define HVT_COMMON_CPU_STATE_H

#include <stdint.h>

#include "hvtrace/cpu.h"

/* The CR4 and EFER bits that no CPU of profile P can have set (a feature it lacks): a state
 * with none of them passes hvt_cpu_profile_check_state, so the core tests two masks per
 * emulation and names the bit only when one is set. */
void hvt_cpu_state_forbidden(const struct hvt_cpu_profile *p, uint64_t *cr4, uint64_t *efer);

#endif
