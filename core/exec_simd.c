/* SPDX-License-Identifier: MIT */
/* Reference core: SSE/AVX moves (MOVD/MOVQ/MOVAPS/.../VMOVDQU), MOVNTI, CMPXCHG8B/16B. */
#include <string.h>

#include "exec_ext.h"
#include "mmu.h"

/* What one move form does. */
struct simd_form {
    const char *name;
    unsigned size;    /* bytes moved: 4, 8, 16, 32 */
    unsigned align;   /* required alignment (#GP(0) otherwise), 0 = none */
    int to_mem;       /* store: register -> r/m */
    int gpr;          /* the other side is a GPR (MOVD/MOVQ with GPRs, MOVNTI) */
    int mem_only;     /* register form is #UD */
    int zero_hi64;    /* a 64-bit load into an XMM clears bits 127:64 (MOVQ) */
    int avx;          /* VEX-encoded: clears bits 255:128 on a 128-bit register write */
    unsigned feature; /* the CPUID feature the form needs (enum hvt_cpu_feature) */
};

/* Picks the form of a map-0F instruction; 0 when known, -1 for forms not modelled. */
static int pick(const struct hvt_dinsn *d, struct simd_form *f)
{
    unsigned pfx = d->enc.vex                               ? d->enc.pp
                   : (d->pfx & HVT_PFX_OPSZ) && !d->enc.rep ? 1
                   : d->enc.rep == 0xf3                     ? 2
                   : d->enc.rep == 0xf2                     ? 3
                                                            : 0;
    unsigned vsize = d->enc.vex && d->enc.vl ? 32 : 16;
    memset(f, 0, sizeof(*f));
    f->avx = d->enc.vex;
    f->size = vsize;
    /* MOVUPS/MOVAPS/MOVNTPS are SSE; the other legacy forms SSE2; VEX forms AVX */
    f->feature = d->enc.vex ? HVT_CPUF_AVX
                 : (d->enc.opcode == 0x10 || d->enc.opcode == 0x11 || d->enc.opcode == 0x28 ||
                    d->enc.opcode == 0x29 || d->enc.opcode == 0x2b) &&
                         !pfx
                     ? HVT_CPUF_SSE
                     : HVT_CPUF_SSE2;
    switch (d->enc.opcode) {
    case 0x10:
    case 0x11:
        if (pfx > 1)
            return -1; /* MOVSS/MOVSD */
        f->name = pfx ? "movupd" : "movups";
        f->to_mem = d->enc.opcode == 0x11;
        return 0;
    case 0x28:
    case 0x29:
        if (pfx > 1)
            return -1;
        f->name = pfx ? "movapd" : "movaps";
        f->to_mem = d->enc.opcode == 0x29;
        f->align = vsize;
        return 0;
    case 0x2b:
        if (pfx > 1 || d->enc.vex)
            return -1;
        f->name = pfx ? "movntpd" : "movntps";
        f->to_mem = 1;
        f->align = 16;
        f->mem_only = 1;
        return 0;
    case 0x6f:
    case 0x7f:
        if (pfx != 1 && pfx != 2)
            return -1; /* MMX MOVQ */
        f->name = pfx == 1 ? "movdqa" : "movdqu";
        f->align = pfx == 1 ? vsize : 0;
        f->to_mem = d->enc.opcode == 0x7f;
        return 0;
    case 0xe7:
        if (pfx != 1 || d->enc.vex)
            return -1;
        f->name = "movntdq";
        f->to_mem = 1;
        f->align = 16;
        f->mem_only = 1;
        return 0;
    case 0x6e:
    case 0x7e:
        if (pfx == 2 && d->enc.opcode == 0x7e) { /* MOVQ xmm, xmm/m64 */
            f->name = "movq";
            f->size = 8;
            f->zero_hi64 = 1;
            return d->enc.vex && d->enc.vl ? -1 : 0;
        }
        if (pfx != 1 || (d->enc.vex && d->enc.vl))
            return -1;
        f->name = d->enc.vw ? "movq" : "movd";
        f->size = d->enc.vw ? 8 : 4;
        f->gpr = 1;
        f->zero_hi64 = 1;
        f->to_mem = d->enc.opcode == 0x7e;
        return 0;
    case 0xd6:
        if (pfx != 1 || (d->enc.vex && d->enc.vl))
            return -1;
        f->name = "movq";
        f->size = 8;
        f->to_mem = 1;
        f->zero_hi64 = 1;
        return 0;
    default:
        return -1;
    }
}

/* Writes SIZE bytes of V into vector register REG with the zeroing rules of the form. */
static void set_vec(struct hvt_emu *e, const struct simd_form *f, unsigned reg, const uint8_t *v)
{
    uint8_t *y = e->st->ymm[reg & 15];
    if (f->size < 16) {
        memset(y, 0, 16); /* MOVD/MOVQ loads clear the rest of the XMM register */
        memcpy(y, v, f->size);
    } else {
        memcpy(y, v, f->size);
    }
    if (f->avx && f->size < 32)
        memset(y + 16, 0, 16);
}

static int simd_map(struct hvt_emu *e, const struct hvt_dinsn *d, unsigned size, unsigned align,
                    unsigned intent, int ac, struct hvt_mmu_xlat *x)
{
    uint64_t off = hvt_xi_ea(e, d), la;
    int r;
    if (align) {
        /* segmentation faults first, then the alignment #GP, then paging */
        r = hvt_mmu_linear(e, d->enc.mem.seg, off, size, intent, &la);
        if (r)
            return r;
        if (la & (align - 1))
            return hvt_emu_raise(e, HVT_VEC_GP, 1, 0, 0);
    }
    return hvt_mmu_map(e, d->enc.mem.seg, off, size, intent, ac, x);
}

static int exec_movnti(struct hvt_emu *e, const struct hvt_dinsn *d)
{
    unsigned size = d->enc.vw ? 8 : 4;
    struct hvt_mmu_xlat x;
    uint64_t v = hvt_xi_get_gpr(e, d->enc.reg, size);
    int r;
    strncpy(e->res->detail, "movnti", sizeof(e->res->detail) - 1);
    if ((r = hvt_xi_need(e, HVT_CPUF_SSE2)))
        return r;
    if (d->enc.mod == 3 || (d->pfx & HVT_PFX_LOCK) || (d->pfx & HVT_PFX_OPSZ) || d->enc.rep)
        return hvt_xi_ud(e);
    if ((r = simd_map(e, d, size, 0, HVT_MMU_W, 1, &x)) ||
        (r = hvt_mmu_write(e, &x, &v, hvt_mktag(HVT_TAG_DATA, 0, 0, 0))))
        return r;
    hvt_xi_next(e, d);
    return HVT_OUT_OKAY;
}

int hvt_exec_simd(struct hvt_emu *e, const struct hvt_dinsn *d)
{
    struct simd_form f;
    uint8_t buf[32];
    struct hvt_mmu_xlat x;
    int r;

    if (d->enc.map == 2 && d->enc.opcode == 0xc3 && !d->enc.vex)
        return exec_movnti(e, d);
    if (d->enc.map != 2 || pick(d, &f))
        return hvt_xi_unimpl(e, "simd: form not modelled");
    strncpy(e->res->detail, f.name, sizeof(e->res->detail) - 1);
    if ((r = hvt_xi_need(e, f.feature)))
        return r;
    if ((d->pfx & HVT_PFX_LOCK))
        return hvt_xi_ud(e);
    if (d->enc.vex && d->enc.vvvv)
        return hvt_xi_ud(e); /* moves encode no second source: VEX.vvvv must be 1111 */
    if ((r = hvt_xi_simd_check(e, d->enc.vex)))
        return r;
    if (d->enc.mod == 3) {
        if (f.mem_only)
            return hvt_xi_ud(e);
        if (f.gpr && f.to_mem) {
            uint64_t v = 0;
            memcpy(&v, e->st->ymm[d->enc.reg], f.size);
            hvt_xi_set_gpr(e, d->enc.rm, f.size, v);
        } else if (f.gpr) {
            uint64_t v = hvt_xi_get_gpr(e, d->enc.rm, f.size);
            memcpy(buf, &v, 8);
            set_vec(e, &f, d->enc.reg, buf);
        } else {
            unsigned dst = f.to_mem ? d->enc.rm : d->enc.reg,
                     src = f.to_mem ? d->enc.reg : d->enc.rm;
            memcpy(buf, e->st->ymm[src], f.size);
            set_vec(e, &f, dst, buf);
        }
        hvt_xi_next(e, d);
        return HVT_OUT_OKAY;
    }
    if (f.to_mem) {
        if (f.gpr) {
            uint64_t v = 0;
            memcpy(&v, e->st->ymm[d->enc.reg], 8);
            memcpy(buf, &v, 8);
        } else {
            memcpy(buf, e->st->ymm[d->enc.reg], f.size);
        }
        if ((r = simd_map(e, d, f.size, f.align, HVT_MMU_W, f.size <= 8, &x)) ||
            (r = hvt_mmu_write(e, &x, buf, hvt_mktag(HVT_TAG_DATA, 0, 0, 0))))
            return r;
    } else {
        if ((r = simd_map(e, d, f.size, f.align, HVT_MMU_R, f.size <= 8, &x)) ||
            (r = hvt_mmu_read(e, &x, buf, hvt_mktag(HVT_TAG_DATA, 0, 0, 0))))
            return r;
        set_vec(e, &f, d->enc.reg, buf);
    }
    hvt_xi_next(e, d);
    return HVT_OUT_OKAY;
}

int hvt_exec_cmpxchg8b(struct hvt_emu *e, const struct hvt_dinsn *d)
{
    unsigned size = d->enc.vw ? 16 : 8, half = size / 2;
    uint8_t cmp[16], cur[16], nw[16];
    uint64_t v;
    struct hvt_mmu_xlat x;
    int r, ok;

    if (d->enc.reg % 8 != 1)
        return hvt_xi_unimpl(e, "0f c7: only cmpxchg8b/16b are modelled");
    strncpy(e->res->detail, size == 16 ? "cmpxchg16b" : "cmpxchg8b", sizeof(e->res->detail) - 1);
    if ((r = hvt_xi_need(e, size == 16 ? HVT_CPUF_CX16 : HVT_CPUF_CX8)))
        return r;
    if (d->enc.mod == 3 || (d->pfx & HVT_PFX_OPSZ) || d->enc.rep)
        return hvt_xi_ud(e);
    v = hvt_xi_get_gpr(e, HVT_RAX, half);
    memcpy(cmp, &v, half);
    v = hvt_xi_get_gpr(e, HVT_RDX, half);
    memcpy(cmp + half, &v, half);
    v = hvt_xi_get_gpr(e, HVT_RBX, half);
    memcpy(nw, &v, half);
    v = hvt_xi_get_gpr(e, HVT_RCX, half);
    memcpy(nw + half, &v, half);
    /* CMPXCHG16B: a misaligned operand is #GP(0) whatever the lock */
    if ((r = simd_map(e, d, size, size == 16 ? 16 : 0, HVT_MMU_W, size == 8, &x)))
        return r;
    e->locked = (d->pfx & HVT_PFX_LOCK) != 0;
    if ((d->pfx & HVT_PFX_LOCK)) {
        memcpy(cur, cmp, size);
        if ((r = hvt_mmu_cmpxchg(e, &x, cur, nw, &ok, hvt_mktag(HVT_TAG_DATA, 0, 0, 0))))
            return r;
    } else {
        /* without LOCK the destination still gets a write cycle: the new value on success,
         * its own value on failure (as the SDM describes the bus interface) */
        if ((r = hvt_mmu_read(e, &x, cur, hvt_mktag(HVT_TAG_DATA, 0, 0, 0))))
            return r;
        ok = !memcmp(cur, cmp, size);
        if ((r = hvt_mmu_write(e, &x, ok ? nw : cur, hvt_mktag(HVT_TAG_DATA, 0, 0, 0))))
            return r;
    }
    if (ok) {
        e->st->rflags |= HVT_RFLAGS_ZF;
    } else {
        e->st->rflags &= ~HVT_RFLAGS_ZF;
        v = 0;
        memcpy(&v, cur, half);
        hvt_xi_set_gpr(e, HVT_RAX, half, v);
        memcpy(&v, cur + half, half);
        hvt_xi_set_gpr(e, HVT_RDX, half, v);
    }
    hvt_xi_next(e, d);
    return HVT_OUT_OKAY;
}
