/* SPDX-License-Identifier: MIT */
/* Reference core MMU: helpers shared by the segmentation, walk and data-access files. */
#ifndef HVT_CORE_MMU_INTERNAL_H
#define HVT_CORE_MMU_INTERNAL_H

#include <stdint.h>

#include "mmu.h"

#define HVT_MMU_PAGE 4096u
/* Largest operand hvt_mmu_map accepts: it must fit in two pages' pieces. */
#define HVT_MMU_MAP_MAX HVT_MMU_PAGE

/* Intent bits the MMU knows; anything else is a caller bug. */
#define HVT_MMU_ACC_MASK 3u
#define HVT_MMU_INTENT_KNOWN (HVT_MMU_ACC_MASK | HVT_MMU_IMPLICIT | HVT_MMU_STACK)

/* A context the MMU can work with: a state, an ops table and a result to report into. */
static inline int hvt_mmu_ctx_ok(const struct hvt_emu *e)
{
    return e && e->st && e->ops && e->res;
}

static inline int hvt_mmu_intent_ok(unsigned intent)
{
    return !(intent & ~HVT_MMU_INTENT_KNOWN) && (intent & HVT_MMU_ACC_MASK) <= HVT_MMU_X;
}

/* Ends the pass UNHANDLEABLE for a caller bug, with "mmu: WHAT" as detail (when E has a result
 * to fill). Returns HVT_OUT_UNHANDLEABLE. */
int hvt_mmu_bad(struct hvt_emu *e, const char *what);

/* Whether LA is canonical for BITS-bit linear addresses (48, or 57 with LA57). */
static inline int hvt_mmu_canonical(uint64_t la, unsigned bits)
{
    unsigned sh = 64 - bits;
    return (uint64_t)((int64_t)(la << sh) >> sh) == la;
}

/* Mask linear addresses of SEG wrap with: 64 bits in 64-bit mode, and for the system tables
 * (64-bit bases) whenever long mode is active; 32 bits otherwise. */
static inline uint64_t hvt_mmu_la_mask(const struct hvt_emu *e, unsigned seg)
{
    if (e->mode == HVT_MODE_LONG64)
        return ~0ull;
    if ((e->st->efer & HVT_EFER_LMA) && seg >= HVT_SEG_LDTR && seg != HVT_SEG_NONE)
        return ~0ull;
    return 0xffffffffull;
}

#endif
