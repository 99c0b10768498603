/* SPDX-License-Identifier: MIT */
/* Reference core: AVX2 gathers, element by element, with partial progress kept or discarded. */
#include <string.h>

#include "exec_ext.h"
#include "mmu.h"

static const char *const gather_names[4][2] = {
    {"vpgatherdd", "vpgatherdq"},
    {"vpgatherqd", "vpgatherqq"},
    {"vgatherdps", "vgatherdpd"},
    {"vgatherqps", "vgatherqpd"},
};

/* Stores the sign of each DSZ-byte slot of the VL-byte mask across its slot (all ones or 0),
 * as Intel's CPUs do before they gather anything (gather-fault-mask=sign-extend). */
static void mask_extend(uint8_t *m, unsigned vl, unsigned dsz)
{
    for (unsigned o = 0; o < vl; o += dsz)
        memset(m + o, (m[o + dsz - 1] & 0x80) ? 0xff : 0, dsz);
}

int hvt_exec_gather(struct hvt_emu *e, const struct hvt_dinsn *d)
{
    unsigned qidx = d->enc.opcode & 1, isz = qidx ? 8 : 4, dsz = d->enc.vw ? 8 : 4;
    unsigned vl = d->enc.vl ? 32 : 16; /* width of the index register and of the mask slots */
    unsigned n = vl / (isz > dsz ? isz : dsz);
    unsigned dst = d->enc.reg, msk = d->enc.vvvv, idx = d->enc.vindex;
    uint8_t save_d[32], save_m[32];
    uint8_t *yd, *ym;
    const uint8_t *yi;
    unsigned done = 0;
    int r;
    int sign_extend = hvt_emu_choice(e, HVT_CPUC_GATHER_FAULT_MASK) == 0;
    int zero_upper = hvt_emu_choice(e, HVT_CPUC_GATHER_FAULT_UPPER) == 0;

    strncpy(e->res->detail, gather_names[d->enc.opcode & 3][d->enc.vw], sizeof(e->res->detail) - 1);
    if ((r = hvt_xi_need(e, HVT_CPUF_AVX2)))
        return r;
    if (d->enc.pp != 1)
        return hvt_xi_unimpl(e, "gather: not a 66-prefixed VEX form");
    if (d->enc.mod == 3 || !d->enc.has_sib)
        return hvt_xi_ud(e); /* VSIB needs a memory operand with a SIB byte */
    if (dst == msk || dst == idx || msk == idx)
        return hvt_xi_ud(e);
    if ((r = hvt_xi_simd_check(e, 1)))
        return r;
    yd = e->st->ymm[dst];
    ym = e->st->ymm[msk];
    yi = e->st->ymm[idx];
    memcpy(save_d, yd, 32);
    memcpy(save_m, ym, 32);
    /* Where CPU models differ is what a fault leaves (the CPU profile's choices): Intel
     * sign-extends the whole mask and clears bits 255:128 of a VEX.128 form's registers up
     * front; AMD clears mask elements only as it passes them and leaves bits 255:128 until
     * the gather completes. */
    if (sign_extend)
        mask_extend(ym, vl, dsz);
    if (!d->enc.vl && zero_upper)
        memset(yd + 16, 0, 16), memset(ym + 16, 0, 16);

    for (unsigned jj = 0; jj < n; jj++) {
#ifdef HVT_MUTANT_GATHER_ORDER /* replayer tests: a deliberate bug, elements gathered last first   \
                                */
        unsigned j = n - 1 - jj;
#else
        unsigned j = jj;
#endif
        struct hvt_mmu_xlat x;
        int64_t iv;
        uint64_t ea, val = 0;
        if (!(ym[j * dsz + dsz - 1] & 0x80)) {
            memset(ym + j * dsz, 0, dsz); /* an inactive element is done, too */
            continue;
        }
        if (isz == 4) {
            int32_t v32;
            memcpy(&v32, yi + 4 * j, 4);
            iv = v32;
        } else {
            memcpy(&iv, yi + 8 * j, 8);
        }
        ea = hvt_dec_ea(&d->enc.mem, d->addrsize, e->st->gpr, 0, 0, (uint64_t)iv);
        r = hvt_mmu_map(e, d->enc.mem.seg, ea, dsz, HVT_MMU_R, 0, &x);
        if (!r)
            r = hvt_mmu_read(e, &x, &val, hvt_mktag(HVT_TAG_DATA, 0, 0, j));
        if (r) {
            e->res->out.iterations = done;
            if (r != HVT_OUT_EXCEPTION &&
                (!done || r != HVT_OUT_RETRY || (e->opts && e->opts->gather_discard))) {
                /* nothing done, UNHANDLEABLE, or the "discard" option: the registers stay as
                 * they were, per the RETRY contract */
                memcpy(yd, save_d, 32);
                memcpy(ym, save_m, 32);
                e->partial = 0;
                return r;
            }
            /* hardware on a fault, Xen on RETRY: the completed elements and the mask stay.
             * Intel writes the (sign-extended) mask even when the first element faults, but
             * leaves the destination alone until an element completed. */
            if (!done)
                memcpy(yd, save_d, 32);
            e->partial = 1;
            return r;
        }
        memcpy(yd + j * dsz, &val, dsz);
        memset(ym + j * dsz, 0, dsz);
        done++;
    }
    /* completion: the whole mask is clear, and the destination above its elements is zero */
    memset(ym, 0, 32);
    if (n * dsz < 32)
        memset(yd + n * dsz, 0, 32 - n * dsz);
    e->res->out.iterations = done;
    hvt_xi_next(e, d);
    return HVT_OUT_OKAY;
}
