/* SPDX-License-Identifier: MIT */
/* Reference core MMU: operand mapping (page split), data accesses and instruction fetch. */
#include <string.h>

#include "mmu.h"
#include "mmu_internal.h"

/* Translates every page of [LA, LA + SIZE) into X: both pieces before any data access. */
static int map_la(struct hvt_emu *e, unsigned seg, uint64_t la, uint32_t size, unsigned intent,
                  struct hvt_mmu_xlat *x)
{
    uint32_t first = HVT_MMU_PAGE - (uint32_t)(la & (HVT_MMU_PAGE - 1));
    int r;

    x->la = la;
    x->seg = seg;
    x->size = size;
    x->gpa[1] = 0;
    x->len[1] = 0;
    r = hvt_mmu_translate(e, la, intent, &x->gpa[0]);
    if (r)
        return r;
    if (size <= first) {
        x->n = 1;
        x->len[0] = size;
        return HVT_OUT_OKAY;
    }
    x->n = 2;
    x->len[0] = first;
    x->len[1] = size - first;
    return hvt_mmu_translate(e, (la + first) & hvt_mmu_la_mask(e, seg), intent, &x->gpa[1]);
}

int hvt_mmu_map(struct hvt_emu *e, unsigned seg, uint64_t off, uint32_t size, unsigned intent,
                int align_check, struct hvt_mmu_xlat *x)
{
    const struct hvt_vcpu_state *st;
    uint64_t la;
    int r;

    if (!hvt_mmu_ctx_ok(e))
        return hvt_mmu_bad(e, "map: incomplete emulation context");
    if (!x)
        return hvt_mmu_bad(e, "map: no result pointer");
    if (size == 0 || size > HVT_MMU_MAP_MAX)
        return hvt_mmu_bad(e, "map: operand size out of range");
    if (align_check < 0 || (align_check & (align_check - 1)))
        return hvt_mmu_bad(e, "map: alignment not a power of two");
    x->n = 0;
    r = hvt_mmu_linear(e, seg, off, size, intent, &la);
    if (r)
        return r;
    st = e->st;
    /* #AC comes after segmentation and before paging (as Bochs orders them). Implicit
     * supervisor accesses and fetches are never alignment-checked. */
    if (align_check && e->cpl == 3 && (st->cr0 & HVT_CR0_AM) && (st->rflags & HVT_RFLAGS_AC) &&
        !(intent & HVT_MMU_IMPLICIT) && (intent & HVT_MMU_ACC_MASK) != HVT_MMU_X) {
        uint64_t align = (uint64_t)align_check;
        if (align == 1)
            for (align = 1; align * 2 <= size; align *= 2)
                ;
        if (la & (align - 1))
            return hvt_emu_raise(e, HVT_VEC_AC, 1, 0, 0);
    }
    r = map_la(e, seg, la, size, intent, x);
    if (r)
        x->n = 0; /* an xlat of a failed map is refused by the data functions */
    return r;
}

static int xlat_ok(const struct hvt_mmu_xlat *x)
{
    if (x->n == 1)
        return x->len[0] == x->size && x->size;
    return x->n == 2 && x->len[0] && x->len[1] && x->len[0] + x->len[1] == x->size &&
           x->len[0] <= HVT_MMU_PAGE && x->len[1] <= HVT_MMU_PAGE;
}

/* One op call of N <= HVT_DATA_MAX bytes at GPA (linear address LA), tagged TAG. */
static inline __attribute__((always_inline)) int one_op(struct hvt_emu *e, unsigned kind,
                                                        unsigned seg, uint64_t gpa, uint64_t la,
                                                        uint8_t *buf, uint32_t n,
                                                        struct hvt_tag tag, uint8_t flags)
{
    struct hvt_op_info info;
    int r;

    info.tag = tag;
    info.kind = (uint8_t)kind;
    info.seg = (uint8_t)seg;
    info.space = HVT_SPACE_RAM;
    info.flags = flags;
    info.reserved = 0;
    info.linear = la & hvt_mmu_la_mask(e, seg);
    if (kind == HVT_ACC_WRITE)
        r = e->ops->write(e->opctx, gpa, buf, n, &info);
    else
        r = e->ops->read(e->opctx, gpa, buf, n, &info);
    return r == HVT_OP_OKAY ? HVT_OUT_OKAY : hvt_emu_op_status(e, r, &info);
}

/* One piece of a mapped operand: op calls of at most HVT_DATA_MAX bytes each. */
static int piece_op(struct hvt_emu *e, unsigned kind, const struct hvt_mmu_xlat *x, unsigned i,
                    uint64_t la, uint8_t *buf, struct hvt_tag tag, uint8_t flags)
{
    uint32_t done = 0, len = x->len[i];

    while (done < len) {
        uint32_t n = len - done > HVT_DATA_MAX ? HVT_DATA_MAX : len - done;
        int r = one_op(e, kind, x->seg, x->gpa[i] + done, la + done, buf + done, n, tag, flags);
        if (r)
            return r;
        done += n;
    }
    return HVT_OUT_OKAY;
}

static int data_access(struct hvt_emu *e, unsigned kind, const struct hvt_mmu_xlat *x, uint8_t *buf,
                       struct hvt_tag tag)
{
    uint8_t flags = HVT_OPF_LINEAR_VALID;
    uint64_t mask;
    int r;

    if (x->n == 2)
        flags |= HVT_OPF_SPLIT;
    if (e->locked && kind != HVT_ACC_FETCH)
        flags |= HVT_OPF_LOCKED;
    if (x->n == 1 && x->len[0] <= HVT_DATA_MAX) /* one page, one op: no piece loop */
        return one_op(e, kind, x->seg, x->gpa[0], x->la, buf, x->len[0], tag, flags);
    r = piece_op(e, kind, x, 0, x->la, buf, tag, flags);
    if (r || x->n == 1)
        return r;
    mask = hvt_mmu_la_mask(e, x->seg);
    return piece_op(e, kind, x, 1, (x->la + x->len[0]) & mask, buf + x->len[0], tag, flags);
}

int hvt_mmu_read(struct hvt_emu *e, const struct hvt_mmu_xlat *x, void *buf, struct hvt_tag tag)
{
    if (!hvt_mmu_ctx_ok(e))
        return hvt_mmu_bad(e, "read: incomplete emulation context");
    if (!x || !buf || !xlat_ok(x))
        return hvt_mmu_bad(e, "read: bad operand or buffer");
    return data_access(e, HVT_ACC_READ, x, buf, tag);
}

int hvt_mmu_write(struct hvt_emu *e, const struct hvt_mmu_xlat *x, const void *buf,
                  struct hvt_tag tag)
{
    if (!hvt_mmu_ctx_ok(e))
        return hvt_mmu_bad(e, "write: incomplete emulation context");
    if (!x || !buf || !xlat_ok(x))
        return hvt_mmu_bad(e, "write: bad operand or buffer");
    /* the write op takes a const buffer: the cast only reuses the shared piece loop */
    return data_access(e, HVT_ACC_WRITE, x, (uint8_t *)(uintptr_t)buf, tag);
}

int hvt_mmu_cmpxchg(struct hvt_emu *e, const struct hvt_mmu_xlat *x, void *old, const void *new_,
                    int *success, struct hvt_tag tag)
{
    struct hvt_op_info info;
    int r;

    if (!hvt_mmu_ctx_ok(e))
        return hvt_mmu_bad(e, "cmpxchg: incomplete emulation context");
    if (!x || !old || !new_ || !success || !xlat_ok(x))
        return hvt_mmu_bad(e, "cmpxchg: bad operand or buffer");
    if (x->size > HVT_DATA_MAX)
        return hvt_mmu_bad(e, "cmpxchg: operand too large");
    if (x->n != 1)
        return hvt_mmu_bad(e, "locked access split across pages");
    *success = 0;
    info.tag = tag;
    info.kind = HVT_ACC_CMPXCHG;
    info.seg = (uint8_t)x->seg;
    info.space = HVT_SPACE_RAM;
    /* a compare-exchange is atomic by definition: always LOCKED (XCHG's implicit lock too) */
    info.flags = HVT_OPF_LINEAR_VALID | HVT_OPF_LOCKED;
    info.reserved = 0;
    info.linear = x->la;
    r = e->ops->cmpxchg(e->opctx, x->gpa[0], old, new_, x->size, &info);
    if (r == HVT_OP_CMPXCHG_FAILED)
        return HVT_OUT_OKAY;
    if (r != HVT_OP_OKAY)
        return hvt_emu_op_status(e, r, &info);
    *success = 1;
    return HVT_OUT_OKAY;
}

int hvt_mmu_fetch(struct hvt_emu *e, uint64_t off, uint8_t *buf, uint32_t len)
{
    struct hvt_mmu_xlat x;
    uint64_t ip, la;
    int r;

    if (!hvt_mmu_ctx_ok(e))
        return hvt_mmu_bad(e, "fetch: incomplete emulation context");
    if (!buf || len == 0 || len > HVT_DATA_MAX)
        return hvt_mmu_bad(e, "fetch: bad buffer or length");
    ip = e->st->rip + off;
    if (e->mode == HVT_MODE_PROT32)
        ip &= 0xffffffffull;
    else if (e->mode != HVT_MODE_LONG64)
        ip &= 0xffffull;
    if (e->mode == HVT_MODE_LONG64) {
        /* what hvt_mmu_linear does for a fetch in 64-bit mode: CS's base is 0, and the first
         * and the last byte must be canonical (#GP(0) otherwise) */
        unsigned bits = (e->st->cr4 & HVT_CR4_LA57) ? 57 : 48;
        if (!hvt_mmu_canonical(ip, bits) || !hvt_mmu_canonical(ip + len - 1, bits))
            return hvt_emu_raise(e, HVT_VEC_GP, 1, 0, 0);
        la = ip;
    } else {
        r = hvt_mmu_linear(e, HVT_SEG_CS, ip, len, HVT_MMU_X, &la);
        if (r)
            return r;
    }
    r = map_la(e, HVT_SEG_CS, la, len, HVT_MMU_X, &x);
    if (r)
        return r;
    return data_access(e, HVT_ACC_FETCH, &x, buf, hvt_mktag(HVT_TAG_FETCH, 0, 0, 0));
}
