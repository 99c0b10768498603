/* SPDX-License-Identifier: MIT */
/* Reference core: helpers of the per-instruction context (exceptions, op answers, mode). */
#include "emu.h"

#include <string.h>

int hvt_emu_raise(struct hvt_emu *e, unsigned vector, int has_ec, uint32_t ec, uint64_t cr2)
{
    struct hvt_pass_outcome *o = &e->res->out;
    o->kind = HVT_OUT_EXCEPTION;
    o->vector = (uint8_t)vector;
    o->flags = has_ec ? HVT_PO_HAS_ERROR_CODE : 0;
    o->error_code = has_ec ? ec : 0;
    o->cr2 = vector == HVT_VEC_PF ? cr2 : 0;
    return HVT_OUT_EXCEPTION;
}

int hvt_emu_op_status(struct hvt_emu *e, int op_result, const struct hvt_op_info *info)
{
    struct hvt_pass_outcome *o = &e->res->out;
    switch (op_result) {
    case HVT_OP_OKAY:
        return HVT_OUT_OKAY;
    case HVT_OP_RETRY:
        o->kind = HVT_OUT_RETRY;
        o->retry_cause = info && info->space == HVT_SPACE_PORT   ? HVT_RETRY_PIO
                         : info && info->space == HVT_SPACE_MMIO ? HVT_RETRY_MMIO
                                                                 : HVT_RETRY_OTHER;
        return HVT_OUT_RETRY;
    case HVT_OP_UNHANDLEABLE:
    default:
        o->kind = HVT_OUT_UNHANDLEABLE;
        if (!e->res->detail[0])
            strncpy(e->res->detail, "an access could not be served",
                    sizeof(e->res->detail) - 1);
        return HVT_OUT_UNHANDLEABLE;
    }
}

enum hvt_emu_mode hvt_emu_mode_of(const struct hvt_vcpu_state *st)
{
    if (!(st->cr0 & HVT_CR0_PE) || (st->rflags & (1ull << 17)) /* VM */)
        return HVT_MODE_REAL;
    if ((st->efer & HVT_EFER_LMA) && (st->seg[HVT_SEG_CS].attr & HVT_SEG_ATTR_L))
        return HVT_MODE_LONG64;
    return (st->seg[HVT_SEG_CS].attr & HVT_SEG_ATTR_DB) ? HVT_MODE_PROT32 : HVT_MODE_PROT16;
}
