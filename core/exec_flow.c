/* SPDX-License-Identifier: MIT */
/* Reference core executor: stack and control flow (PUSH/POP, CALL/RET/JMP, Jcc, LOOP, JrCXZ,
 * HLT). */
#include <capstone/capstone.h>

#include "exec.h"

/* Operand size of near branches and stack operations: 64-bit mode ignores REX.W and takes 66
 * as 16 bits; elsewhere the decoded operand size. */
static unsigned stack_opsize(const struct hvt_x *x)
{
    if (x->e.mode == HVT_MODE_LONG64)
        return (x->d->pfx & HVT_PFX_OPSZ) ? 2 : 8;
    return x->d->opsize;
}

/* A 66-prefixed near branch in 64-bit mode: Intel ignores the prefix, AMD honours it (and
 * capstone decodes it AMD's way); no single right answer, so not emulated. */
static int vendor_branch(const struct hvt_x *x)
{
    return x->e.mode == HVT_MODE_LONG64 && (x->d->pfx & HVT_PFX_OPSZ);
}

/* Checks a branch target (64-bit: canonical; else CS limit) and sets RIP. */
static int branch_to(struct hvt_x *x, uint64_t target)
{
    if (x->e.mode == HVT_MODE_LONG64) {
        unsigned bits = (x->st->cr4 & HVT_CR4_LA57) ? 57 : 48;
        if ((uint64_t)(((int64_t)(target << (64 - bits))) >> (64 - bits)) != target)
            return hvt_x_gp0(x);
    } else {
        target &= hvt_szmask(x->d->opsize);
        if (target > x->st->seg[HVT_SEG_CS].limit)
            return hvt_x_gp0(x);
    }
    x->st->rip = target;
    x->rip_set = 1;
    return HVT_OUT_OKAY;
}

static uint64_t rel_target(const struct hvt_x *x)
{
    uint64_t t = x->next_rip + (uint64_t)x->d->rel;
    return x->e.mode == HVT_MODE_LONG64 ? t : t & hvt_szmask(x->d->opsize);
}

/* Target of an indirect near branch: register or memory operand 0. */
static int indirect_target(struct hvt_x *x, unsigned size, uint64_t *t)
{
    const struct hvt_dop *o = &x->d->op[0];
    if (x->d->nops != 1 || (o->kind == HVT_DOP_REG && o->rcls != HVT_RC_GPR))
        return hvt_x_unimpl(x, "operands");
    return hvt_x_src(x, 0, size, t);
}

static int do_push(struct hvt_x *x)
{
    const struct hvt_dop *o = &x->d->op[0];
    unsigned size = stack_opsize(x);
    uint64_t v;
    int rc;
    if (x->d->nops != 1)
        return hvt_x_unimpl(x, "operands");
    if (o->kind == HVT_DOP_REG && o->rcls != HVT_RC_GPR)
        return hvt_x_unimpl(x, "segment register"); /* 16- vs 32-bit store is model-specific */
    if (o->kind == HVT_DOP_IMM) {
        v = (uint64_t)o->val & hvt_szmask(size); /* capstone sign-extended it */
    } else {
        rc = hvt_x_src(x, 0, size, &v); /* PUSH RSP pushes the value before the push */
        if (rc)
            return rc;
    }
    return hvt_x_push(x, size, v);
}

static int do_pop(struct hvt_x *x)
{
    const struct hvt_dop *o = &x->d->op[0];
    unsigned size = stack_opsize(x);
    uint64_t v;
    int rc;
    if (x->d->nops != 1 || (o->kind == HVT_DOP_REG && o->rcls != HVT_RC_GPR) ||
        o->kind == HVT_DOP_IMM)
        return hvt_x_unimpl(x, "operands");
    rc = hvt_x_peek(x, size, 0, &v);
    if (rc)
        return rc;
    /* RSP moves first: POP [RSP+d] addresses with the incremented RSP, POP RSP loads RSP.
     * A fault on the destination discards the working copy, so RSP is then unchanged. */
    hvt_x_sp_add(x, size);
    if (o->kind == HVT_DOP_REG) {
        hvt_x_set_gpr(x, o->reg, size, v);
        return HVT_OUT_OKAY;
    }
    return hvt_x_dst(x, 0, size, v);
}

static int do_call(struct hvt_x *x)
{
    unsigned size = stack_opsize(x);
    uint64_t target, ret = x->next_rip;
    int rc;
    if (vendor_branch(x))
        return hvt_x_unimpl(x, "66-prefixed near branch in 64-bit mode");
    if (x->d->rel_size)
        target = rel_target(x);
    else if ((rc = indirect_target(x, size, &target)))
        return rc;
    /* the target is checked before anything is pushed (#GP before #SS/#PF on the stack) */
    rc = branch_to(x, target);
    if (rc)
        return rc;
    return hvt_x_push(x, size, ret);
}

static int do_ret(struct hvt_x *x)
{
    unsigned size = stack_opsize(x);
    uint64_t target, extra = 0;
    int rc;
    if (vendor_branch(x))
        return hvt_x_unimpl(x, "66-prefixed near branch in 64-bit mode");
    if (x->d->nops == 1 && x->d->op[0].kind == HVT_DOP_IMM)
        extra = (uint64_t)x->d->op[0].val & 0xffff;
    else if (x->d->nops)
        return hvt_x_unimpl(x, "operands");
    rc = hvt_x_peek(x, size, 0, &target);
    if (rc)
        return rc;
    rc = branch_to(x, target);
    if (rc)
        return rc;
    hvt_x_sp_add(x, (int64_t)(size + extra));
    return HVT_OUT_OKAY;
}

static int do_jmp(struct hvt_x *x)
{
    uint64_t target;
    int rc;
    if (vendor_branch(x))
        return hvt_x_unimpl(x, "66-prefixed near branch in 64-bit mode");
    if (x->d->rel_size)
        return branch_to(x, rel_target(x));
    rc = indirect_target(x, stack_opsize(x), &target);
    if (rc)
        return rc;
    return branch_to(x, target);
}

/* Jcc, JrCXZ, LOOPcc: relative, taken or not. */
static int do_jcond(struct hvt_x *x, int taken)
{
    if (vendor_branch(x))
        return hvt_x_unimpl(x, "66-prefixed near branch in 64-bit mode");
    if (!x->d->rel_size)
        return hvt_x_unimpl(x, "operands");
    return taken ? branch_to(x, rel_target(x)) : HVT_OUT_OKAY;
}

int hvt_exec_flow(struct hvt_x *x)
{
    const struct hvt_dinsn *d = x->d;
    unsigned as = d->addrsize;
    uint64_t cnt;
    int cc;

    switch (d->id) {
    case X86_INS_PUSH:
        return do_push(x);
    case X86_INS_POP:
        return do_pop(x);
    case X86_INS_CALL:
        return do_call(x);
    case X86_INS_RET:
        return do_ret(x);
    case X86_INS_JMP:
        return do_jmp(x);
    case X86_INS_JCXZ:
        return do_jcond(x, hvt_x_gpr(x, HVT_RCX, 2) == 0);
    case X86_INS_JECXZ:
        return do_jcond(x, hvt_x_gpr(x, HVT_RCX, 4) == 0);
    case X86_INS_JRCXZ:
        return do_jcond(x, hvt_x_gpr(x, HVT_RCX, 8) == 0);
    case X86_INS_LOOP:
    case X86_INS_LOOPE:
    case X86_INS_LOOPNE:
        if (vendor_branch(x))
            return hvt_x_unimpl(x, "66-prefixed near branch in 64-bit mode");
        /* the counter is rCX by address size; it is decremented without touching flags */
        cnt = (hvt_x_gpr(x, HVT_RCX, as) - 1) & hvt_szmask(as);
        hvt_x_set_gpr(x, HVT_RCX, as, cnt);
        if (d->id == X86_INS_LOOPE)
            return do_jcond(x, cnt && (x->st->rflags & HVT_RFLAGS_ZF));
        if (d->id == X86_INS_LOOPNE)
            return do_jcond(x, cnt && !(x->st->rflags & HVT_RFLAGS_ZF));
        return do_jcond(x, cnt != 0);
    case X86_INS_HLT:
        if (x->e.cpl)
            return hvt_x_gp0(x);
        /* the core cannot wait for an interrupt: the host decides (docs/CORE.md) */
        return hvt_x_unhandleable(x, "hlt");
    default:
        break;
    }
    cc = hvt_x_cc_of(d->id);
    if (cc >= 0 && d->rel_size)
        return do_jcond(x, hvt_cond((unsigned)cc, x->st->rflags));
    return -1;
}
