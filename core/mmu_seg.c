/* SPDX-License-Identifier: MIT */
/* Reference core MMU: segmentation (64-bit canonical checks, protected-mode type and limit). */
#include <stdio.h>

#include "mmu.h"
#include "mmu_internal.h"

int hvt_mmu_bad(struct hvt_emu *e, const char *what)
{
    if (e && e->res) {
        e->res->out.kind = HVT_OUT_UNHANDLEABLE;
        snprintf(e->res->detail, sizeof(e->res->detail), "mmu: %s", what);
    }
    return HVT_OUT_UNHANDLEABLE;
}

/* Segmentation faults carry error code 0; stack accesses get #SS, everything else #GP. */
static int seg_fault(struct hvt_emu *e, unsigned seg, unsigned intent)
{
    int stack = seg == HVT_SEG_SS || (intent & HVT_MMU_STACK);
    return hvt_emu_raise(e, stack ? HVT_VEC_SS : HVT_VEC_GP, 1, 0, 0);
}

static int seg_valid(unsigned seg)
{
    return seg <= HVT_SEG_TR || seg == HVT_SEG_GDTR || seg == HVT_SEG_IDTR;
}

/* Expand-up limit: the last byte must be within the limit. LAST is computed without wrapping,
 * so an access that runs past 4 GiB of offset faults as on hardware. */
static inline int over_limit(uint64_t off, uint32_t size, uint32_t limit)
{
    return off + size - 1 > (uint64_t)limit;
}

/* Segment base and limit of a system table (GDTR/IDTR) or segment register. */
static void seg_base_limit(const struct hvt_vcpu_state *st, unsigned seg, uint64_t *base,
                           uint32_t *limit)
{
    if (seg == HVT_SEG_GDTR || seg == HVT_SEG_IDTR) {
        const struct hvt_dtable *t = seg == HVT_SEG_GDTR ? &st->gdtr : &st->idtr;
        *base = t->base;
        *limit = t->limit;
    } else {
        *base = st->seg[seg].base;
        *limit = st->seg[seg].limit;
    }
}

static int seg_unusable(const struct hvt_segment *s)
{
    return (s->attr & HVT_SEG_ATTR_UNUSABLE) || !(s->attr & HVT_SEG_ATTR_P);
}

/* 64-bit mode (and system tables whenever long mode is active): bases of ES/CS/SS/DS are 0,
 * no type or limit checks on segment registers, limits still apply to the tables. */
static int linear64(struct hvt_emu *e, unsigned seg, uint64_t off, uint32_t size, unsigned intent,
                    uint64_t *la)
{
    const struct hvt_vcpu_state *st = e->st;
    unsigned bits = (st->cr4 & HVT_CR4_LA57) ? 57 : 48;
    uint64_t base = 0, a;
    uint32_t limit;

    if (seg >= HVT_SEG_LDTR) {
        seg_base_limit(st, seg, &base, &limit);
        if (seg <= HVT_SEG_TR && seg_unusable(&st->seg[seg]))
            return seg_fault(e, seg, intent);
        if (over_limit(off, size, limit))
            return seg_fault(e, seg, intent);
    } else if (seg == HVT_SEG_FS || seg == HVT_SEG_GS) {
        base = st->seg[seg].base;
    }
    a = base + off;
    if (!hvt_mmu_canonical(a, bits) || !hvt_mmu_canonical(a + size - 1, bits))
        return seg_fault(e, seg, intent);
    *la = a;
    return HVT_OUT_OKAY;
}

int hvt_mmu_linear(struct hvt_emu *e, unsigned seg, uint64_t off, uint32_t size, unsigned intent,
                   uint64_t *la)
{
    const struct hvt_vcpu_state *st;
    unsigned acc = intent & HVT_MMU_ACC_MASK;
    uint64_t base;
    uint32_t limit;

    if (!hvt_mmu_ctx_ok(e))
        return hvt_mmu_bad(e, "linear: incomplete emulation context");
    if (!la)
        return hvt_mmu_bad(e, "linear: no result pointer");
    if (!seg_valid(seg))
        return hvt_mmu_bad(e, "linear: bad segment");
    if (size == 0)
        return hvt_mmu_bad(e, "linear: zero size");
    if (!hvt_mmu_intent_ok(intent))
        return hvt_mmu_bad(e, "linear: bad intent");
    if (acc == HVT_MMU_X && seg != HVT_SEG_CS)
        return hvt_mmu_bad(e, "linear: fetch not through CS");
    st = e->st;

    if (e->mode == HVT_MODE_LONG64 || ((st->efer & HVT_EFER_LMA) && seg >= HVT_SEG_LDTR))
        return linear64(e, seg, off, size, intent, la);

    seg_base_limit(st, seg, &base, &limit);
    if (seg <= HVT_SEG_GS && e->mode != HVT_MODE_REAL) {
        const struct hvt_segment *s = &st->seg[seg];
        unsigned type = HVT_SEG_ATTR_TYPE(s->attr);
        if (seg_unusable(s) || !(s->attr & HVT_SEG_ATTR_S))
            return seg_fault(e, seg, intent);
        if (type & 8) {
            /* code: never writable; readable only with the R bit (fetches always allowed) */
            if (acc == HVT_MMU_W || (acc == HVT_MMU_R && !(type & 2)))
                return seg_fault(e, seg, intent);
        } else {
            if (acc == HVT_MMU_X || (acc == HVT_MMU_W && !(type & 2)))
                return seg_fault(e, seg, intent);
            if (type & 4) {
                /* expand-down: valid offsets are (limit, upper], upper set by D/B */
                uint64_t upper = (s->attr & HVT_SEG_ATTR_DB) ? 0xffffffffull : 0xffffull;
                if (off <= limit || off + size - 1 > upper)
                    return seg_fault(e, seg, intent);
                *la = (base + off) & 0xffffffffull;
                return HVT_OUT_OKAY;
            }
        }
    } else if ((seg == HVT_SEG_LDTR || seg == HVT_SEG_TR) && seg_unusable(&st->seg[seg])) {
        return seg_fault(e, seg, intent);
    }
    if (over_limit(off, size, limit))
        return seg_fault(e, seg, intent);
    *la = (base + off) & 0xffffffffull;
    return HVT_OUT_OKAY;
}
