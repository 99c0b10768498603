/* SPDX-License-Identifier: MIT */
/* Reference core: MOVS/CMPS/STOS/LODS/SCAS/INS/OUTS with REP/REPE/REPNE, partial progress. */
#include <string.h>

#include "exec_ext.h"
#include "exec_io.h"
#include "mmu.h"

enum str_kind { STR_MOVS, STR_CMPS, STR_STOS, STR_LODS, STR_SCAS, STR_INS, STR_OUTS };

/* The page the last access of one operand went to: later iterations on the same page reuse the
 * translation, as a TLB would, instead of walking again for every element. The first access to
 * each page is a full walk (with its A/D updates), so what the ops see stays deterministic. */
struct str_tlb {
    int valid;
    uint64_t vpn;
    uint64_t gpa_page;
};

static int str_map(struct hvt_emu *e, struct str_tlb *t, unsigned seg, uint64_t off, unsigned size,
                   unsigned intent, struct hvt_mmu_xlat *x)
{
    uint64_t la;
    int r = hvt_mmu_linear(e, seg, off, size, intent, &la);
    if (r)
        return r;
    if (t->valid && (la >> 12) == t->vpn && (la & 0xfff) + size <= 4096) {
        /* #AC is checked here as hvt_mmu_map would */
        if (e->cpl == 3 && (e->st->cr0 & HVT_CR0_AM) && (e->st->rflags & HVT_RFLAGS_AC) &&
            (la & (size - 1)))
            return hvt_emu_raise(e, HVT_VEC_AC, 1, 0, 0);
        x->la = la;
        x->seg = seg;
        x->size = size;
        x->n = 1;
        x->gpa[0] = t->gpa_page | (la & 0xfff);
        x->len[0] = size;
        x->gpa[1] = 0;
        x->len[1] = 0;
        return HVT_OUT_OKAY;
    }
    r = hvt_mmu_map(e, seg, off, size, intent, 1, x);
    if (r)
        return r;
    t->valid = x->n == 1;
    t->vpn = la >> 12;
    t->gpa_page = x->gpa[0] & ~0xfffull;
    return HVT_OUT_OKAY;
}

/* One iteration I of string op K with element SIZE. Updates flags/rAX but not the pointers. */
static int str_iter(struct hvt_emu *e, const struct hvt_dinsn *d, enum str_kind k, unsigned size,
                    uint32_t i, struct str_tlb tlb[2])
{
    unsigned sseg = (d->pfx & HVT_PFX_SEG) ? d->seg_ovr : HVT_SEG_DS;
    uint64_t si = hvt_xi_get_gpr(e, HVT_RSI, d->addrsize);
    uint64_t di = hvt_xi_get_gpr(e, HVT_RDI, d->addrsize);
    uint16_t port = (uint16_t)e->st->gpr[HVT_RDX];
    struct hvt_mmu_xlat xs, xd;
    uint64_t a = 0, b = 0;
    int r;

    switch (k) {
    case STR_MOVS:
        if ((r = str_map(e, &tlb[0], sseg, si, size, HVT_MMU_R, &xs)) ||
            (r = str_map(e, &tlb[1], HVT_SEG_ES, di, size, HVT_MMU_W, &xd)) ||
            (r = hvt_mmu_read(e, &xs, &a, hvt_mktag(HVT_TAG_DATA, 0, 0, i))))
            return r;
        return hvt_mmu_write(e, &xd, &a, hvt_mktag(HVT_TAG_DATA, 1, 0, i));
    case STR_CMPS:
        /* the CPU checks ES:rDI before DS:rSI (when both fault, CR2 is rDI's: seen natively) */
        if ((r = str_map(e, &tlb[1], HVT_SEG_ES, di, size, HVT_MMU_R, &xd)) ||
            (r = str_map(e, &tlb[0], sseg, si, size, HVT_MMU_R, &xs)) ||
            (r = hvt_mmu_read(e, &xs, &a, hvt_mktag(HVT_TAG_DATA, 0, 0, i))) ||
            (r = hvt_mmu_read(e, &xd, &b, hvt_mktag(HVT_TAG_DATA, 1, 0, i))))
            return r;
        e->st->rflags = hvt_xi_sub_flags(e->st->rflags, a, b, size);
        return HVT_OUT_OKAY;
    case STR_STOS:
        a = e->st->gpr[HVT_RAX];
        if ((r = str_map(e, &tlb[1], HVT_SEG_ES, di, size, HVT_MMU_W, &xd)))
            return r;
        return hvt_mmu_write(e, &xd, &a, hvt_mktag(HVT_TAG_DATA, 0, 0, i));
    case STR_LODS:
        if ((r = str_map(e, &tlb[0], sseg, si, size, HVT_MMU_R, &xs)) ||
            (r = hvt_mmu_read(e, &xs, &a, hvt_mktag(HVT_TAG_DATA, 0, 0, i))))
            return r;
        hvt_xi_set_gpr(e, HVT_RAX, size, a);
        return HVT_OUT_OKAY;
    case STR_SCAS:
        if ((r = str_map(e, &tlb[1], HVT_SEG_ES, di, size, HVT_MMU_R, &xd)) ||
            (r = hvt_mmu_read(e, &xd, &b, hvt_mktag(HVT_TAG_DATA, 0, 0, i))))
            return r;
        e->st->rflags = hvt_xi_sub_flags(e->st->rflags, e->st->gpr[HVT_RAX], b, size);
        return HVT_OUT_OKAY;
    case STR_INS:
        /* translate before the port read: a fault must not swallow device data */
        if ((r = str_map(e, &tlb[1], HVT_SEG_ES, di, size, HVT_MMU_W, &xd)) ||
            (r = hvt_io_port(e, 1, port, &a, size, i)))
            return r;
        return hvt_mmu_write(e, &xd, &a, hvt_mktag(HVT_TAG_DATA, 0, 0, i));
    case STR_OUTS:
        if ((r = str_map(e, &tlb[0], sseg, si, size, HVT_MMU_R, &xs)) ||
            (r = hvt_mmu_read(e, &xs, &a, hvt_mktag(HVT_TAG_DATA, 0, 0, i))))
            return r;
        return hvt_io_port(e, 0, port, &a, size, i);
    }
    return hvt_xi_unhandleable(e, "string: bad kind");
}

int hvt_exec_string(struct hvt_emu *e, const struct hvt_dinsn *d)
{
    static const char *const names[] = {"movs", "cmps", "stos", "lods", "scas", "ins", "outs"};
    enum str_kind k;
    unsigned size, wide = d->enc.opcode & 1;
    struct str_tlb tlb[2] = {{0, 0, 0}, {0, 0, 0}};
    int uses_si, uses_di, ecx_written = 0;
    uint64_t rflags0 = e->st->rflags;
    int keep_last_flags;
    int64_t delta;
    uint32_t i;

    switch (d->enc.opcode & ~1u) {
    case 0xa4:
        k = STR_MOVS;
        break;
    case 0xa6:
        k = STR_CMPS;
        break;
    case 0xaa:
        k = STR_STOS;
        break;
    case 0xac:
        k = STR_LODS;
        break;
    case 0xae:
        k = STR_SCAS;
        break;
    case 0x6c:
        k = STR_INS;
        break;
    case 0x6e:
        k = STR_OUTS;
        break;
    default:
        return hvt_xi_unimpl(e, "string: unknown opcode");
    }
    strncpy(e->res->detail, names[k], sizeof(e->res->detail) - 1);
    if ((d->pfx & HVT_PFX_LOCK))
        return hvt_xi_ud(e);
    size = !wide ? 1 : d->opsize;
    if ((k == STR_INS || k == STR_OUTS) && size == 8)
        size = 4;
    /* I/O permission (CPL > IOPL: the TSS bitmap) once per pass, before anything else: before
     * the zero-count test, the ECX write of a 67-prefixed REP and any memory access, as the
     * SDM's pseudo-code orders it (and Bochs and QEMU do). A denied INS or OUTS is #GP(0) even
     * when rDI/rSI would also fault, and changes no register. */
    if (k == STR_INS || k == STR_OUTS) {
        int r = hvt_io_check(e, (uint16_t)e->st->gpr[HVT_RDX], size);
        if (r)
            return r;
    }
    uses_si = k == STR_MOVS || k == STR_CMPS || k == STR_LODS || k == STR_OUTS;
    uses_di = k == STR_MOVS || k == STR_CMPS || k == STR_STOS || k == STR_SCAS || k == STR_INS;
    delta = (e->st->rflags & HVT_RFLAGS_DF) ? -(int64_t)size : (int64_t)size;
    /* a REPE/REPNE compare stopped between iterations leaves RFLAGS as they were before it
     * (rep-cmps-fault-flags=initial, Intel) or the last comparison's (=last, AMD) */
    keep_last_flags = d->enc.rep && (k == STR_CMPS || k == STR_SCAS) &&
                      hvt_emu_choice(e, HVT_CPUC_REP_CMPS_FAULT_FLAGS) == 1;

    /* REP with a 32-bit address size in 64-bit mode (rep-a32-no-progress=write): Intel writes
     * ECX (clearing bits 63:32 of RCX) even when no iteration completes, on a zero count or a
     * fault, and so does REP MOVS/STOS (the fast-string forms) with ESI/EDI; LODS/CMPS/SCAS
     * change RSI/RDI only with progress. AMD (=keep) writes them only with progress, as every
     * iteration does below. A RETRY without progress still commits nothing. */
    if (d->enc.rep && d->addrsize == 4 && e->mode == HVT_MODE_LONG64 &&
        hvt_emu_choice(e, HVT_CPUC_REP_A32_NO_PROGRESS) == 0) {
        uint64_t *g = e->st->gpr;
        int fast = k == STR_MOVS || k == STR_STOS;
        if ((g[HVT_RCX] >> 32) || (fast && uses_si && (g[HVT_RSI] >> 32)) ||
            (fast && uses_di && (g[HVT_RDI] >> 32)))
            ecx_written = 1;
        g[HVT_RCX] = (uint32_t)g[HVT_RCX];
        if (fast && uses_si)
            g[HVT_RSI] = (uint32_t)g[HVT_RSI];
        if (fast && uses_di)
            g[HVT_RDI] = (uint32_t)g[HVT_RDI];
    }
    if (d->enc.rep && !hvt_xi_get_gpr(e, HVT_RCX, d->addrsize)) {
        hvt_xi_next(e, d);
        return HVT_OUT_OKAY;
    }
    for (i = 0;;) {
        int r = str_iter(e, d, k, size, i, tlb);
        if (r) {
            /* the completed iterations stay, as an interrupt between iterations leaves them;
             * RFLAGS per the profile (an iteration that faults changes no flag) */
            e->res->out.iterations = i;
            if (!keep_last_flags)
                e->st->rflags = rflags0;
            e->partial = i > 0 || (ecx_written && r == HVT_OUT_EXCEPTION);
            return r;
        }
        if (uses_si)
            hvt_xi_set_gpr(e, HVT_RSI, d->addrsize,
                           hvt_xi_get_gpr(e, HVT_RSI, d->addrsize) + (uint64_t)delta);
        if (uses_di)
            hvt_xi_set_gpr(e, HVT_RDI, d->addrsize,
                           hvt_xi_get_gpr(e, HVT_RDI, d->addrsize) + (uint64_t)delta);
        i++;
        if (!d->enc.rep)
            break;
        hvt_xi_set_gpr(e, HVT_RCX, d->addrsize, hvt_xi_get_gpr(e, HVT_RCX, d->addrsize) - 1);
        if (!hvt_xi_get_gpr(e, HVT_RCX, d->addrsize))
            break;
        if (k == STR_CMPS || k == STR_SCAS) {
            int zf = !!(e->st->rflags & HVT_RFLAGS_ZF);
            if ((d->enc.rep == 0xf3 && !zf) || (d->enc.rep == 0xf2 && zf))
                break;
        }
        if (i >= HVT_EXT_REP_MAX) {
            /* RIP stays: the guest re-executes the rest (an interrupt window) */
            e->res->out.iterations = i;
            if (!keep_last_flags)
                e->st->rflags = rflags0;
            return HVT_OUT_OKAY;
        }
    }
    e->res->out.iterations = i;
    hvt_xi_next(e, d);
    return HVT_OUT_OKAY;
}
