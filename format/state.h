/* SPDX-License-Identifier: MIT */
/* hvtrace format: a vCPU state as a flat array of 64-bit slots, for delta encoding. */
#ifndef HVT_FMT_STATE_H
#define HVT_FMT_STATE_H

#include <stdint.h>

#include "hvtrace/types.h"

/* Slot numbering (docs/FORMAT.md "States"): GPRs, RIP, RFLAGS, 8 segments x (sel, attr, limit,
 * base), GDTR/IDTR (base, limit), CR0 CR2 CR3 CR4 CR8 EFER XCR0, PDPTE0..3, flags, then the
 * SIMD part: MXCSR and YMM0..15 as 4 little-endian qwords each. */
enum {
    HVT_SLOT_GPR = 0,
    HVT_SLOT_RIP = 16,
    HVT_SLOT_RFLAGS = 17,
    HVT_SLOT_SEG = 18, /* + 4 * seg + (0 sel, 1 attr, 2 limit, 3 base) */
    HVT_SLOT_GDTR_BASE = 50,
    HVT_SLOT_GDTR_LIMIT = 51,
    HVT_SLOT_IDTR_BASE = 52,
    HVT_SLOT_IDTR_LIMIT = 53,
    HVT_SLOT_CR0 = 54,
    HVT_SLOT_CR2 = 55,
    HVT_SLOT_CR3 = 56,
    HVT_SLOT_CR4 = 57,
    HVT_SLOT_CR8 = 58,
    HVT_SLOT_EFER = 59,
    HVT_SLOT_XCR0 = 60,
    HVT_SLOT_PDPTE = 61, /* + 0..3 */
    HVT_SLOT_FLAGS = 65,
    HVT_SLOT_SIMD = 66, /* first SIMD slot: MXCSR */
    HVT_SLOT_MXCSR = 66,
    HVT_SLOT_YMM = 67, /* + 4 * reg + qword */
    HVT_NSLOTS = 131
};

/* State -> slots. The SIMD slots are zero when the state lacks HVT_STATE_SIMD_VALID. */
void hvt_state_to_slots(const struct hvt_vcpu_state *s, uint64_t slots[HVT_NSLOTS]);

/* Slots -> state (reserved fields zero; SIMD part zero without HVT_STATE_SIMD_VALID).
 * Returns the first slot whose value does not fit its field, or -1 when all fit. */
int hvt_slots_to_state(const uint64_t slots[HVT_NSLOTS], struct hvt_vcpu_state *s);

/* Slots of a state, ignoring the SIMD part when the state has no valid SIMD registers. */
static inline int hvt_slots_used(const uint64_t slots[HVT_NSLOTS])
{
    return (slots[HVT_SLOT_FLAGS] & HVT_STATE_SIMD_VALID) ? HVT_NSLOTS : HVT_SLOT_SIMD;
}

#endif
