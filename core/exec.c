/* SPDX-License-Identifier: MIT */
/* Reference core executor: one emulation (fetch, decode, dispatch, commit) and operand access. */
#include "exec.h"
#include "exec_ext.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/sized.h"
#include "mmu.h"
#include "ref.h"

/* Attempts of a locked read-modify-write before giving up on a racing writer. */
#define HVT_RMW_TRIES 16

int hvt_x_unimpl(struct hvt_x *x, const char *why)
{
    struct hvt_core_result *res = x->e.res;
    res->out.kind = HVT_OUT_UNIMPLEMENTED;
    if (why)
        snprintf(res->detail, sizeof(res->detail), "%s: %s", x->d->mnemonic, why);
    else
        snprintf(res->detail, sizeof(res->detail), "%s", x->d->mnemonic);
    return HVT_OUT_UNIMPLEMENTED;
}

int hvt_x_unhandleable(struct hvt_x *x, const char *why)
{
    struct hvt_core_result *res = x->e.res;
    res->out.kind = HVT_OUT_UNHANDLEABLE;
    snprintf(res->detail, sizeof(res->detail), "%s", why);
    return HVT_OUT_UNHANDLEABLE;
}

int hvt_x_ud(struct hvt_x *x)
{
    return hvt_emu_raise(&x->e, HVT_VEC_UD, 0, 0, 0);
}

int hvt_x_gp0(struct hvt_x *x)
{
    return hvt_emu_raise(&x->e, HVT_VEC_GP, 1, 0, 0);
}

/* ---- registers ----------------------------------------------------------------------- */

uint64_t hvt_x_gpr(const struct hvt_x *x, unsigned reg, unsigned size)
{
    return x->st->gpr[reg & 15] & hvt_szmask(size);
}

void hvt_x_set_gpr(struct hvt_x *x, unsigned reg, unsigned size, uint64_t v)
{
    uint64_t *r = &x->st->gpr[reg & 15];
    if (size >= 8)
        *r = v;
    else if (size == 4)
        *r = (uint32_t)v;
    else
        *r = (*r & ~hvt_szmask(size)) | (v & hvt_szmask(size));
}

uint64_t hvt_x_reg(const struct hvt_x *x, unsigned i)
{
    const struct hvt_dop *o = &x->d->op[i];
    if (o->flags & HVT_DOP_HIGH8)
        return (x->st->gpr[o->reg & 3] >> 8) & 0xff;
    return hvt_x_gpr(x, o->reg, o->size);
}

void hvt_x_set_reg(struct hvt_x *x, unsigned i, uint64_t v)
{
    const struct hvt_dop *o = &x->d->op[i];
    if (o->flags & HVT_DOP_HIGH8) {
        uint64_t *r = &x->st->gpr[o->reg & 3];
        *r = (*r & ~0xff00ull) | ((v & 0xff) << 8);
        return;
    }
    hvt_x_set_gpr(x, o->reg, o->size, v);
}

/* ---- memory operands ----------------------------------------------------------------- */

uint64_t hvt_x_ea(const struct hvt_x *x, unsigned i, int64_t adj)
{
    return hvt_dec_ea(&x->d->op[i], x->d->addrsize, x->st->gpr, x->next_rip, adj, 0);
}

unsigned hvt_x_memidx(const struct hvt_x *x, unsigned i)
{
    unsigned n = 0;
    for (unsigned k = 0; k < i; k++)
        n += x->d->op[k].kind == HVT_DOP_MEM;
    return n;
}

int hvt_x_map(struct hvt_x *x, unsigned i, int64_t adj, unsigned size, unsigned intent,
              struct hvt_mmu_xlat *xl)
{
    return hvt_mmu_map(&x->e, x->d->op[i].seg, hvt_x_ea(x, i, adj), size, intent, 1, xl);
}

int hvt_x_mread(struct hvt_x *x, const struct hvt_mmu_xlat *xl, unsigned opidx, uint64_t *v)
{
    uint64_t b = 0;
    int rc = hvt_mmu_read(&x->e, xl, &b, hvt_mktag(HVT_TAG_DATA, opidx, 0, 0));
    *v = b; /* little-endian host: the low SIZE bytes */
    return rc;
}

int hvt_x_mwrite(struct hvt_x *x, const struct hvt_mmu_xlat *xl, unsigned opidx, uint64_t v)
{
    return hvt_mmu_write(&x->e, xl, &v, hvt_mktag(HVT_TAG_DATA, opidx, 0, 0));
}

int hvt_x_src(struct hvt_x *x, unsigned i, unsigned size, uint64_t *v)
{
    const struct hvt_dop *o = &x->d->op[i];
    struct hvt_mmu_xlat xl;
    int rc;
    switch (o->kind) {
    case HVT_DOP_REG:
        if (o->rcls != HVT_RC_GPR)
            return hvt_x_unimpl(x, "register operand");
        *v = hvt_x_reg(x, i) & hvt_szmask(size);
        return HVT_OUT_OKAY;
    case HVT_DOP_IMM:
        *v = (uint64_t)o->val & hvt_szmask(size);
        return HVT_OUT_OKAY;
    case HVT_DOP_MEM:
        rc = hvt_x_map(x, i, 0, size, HVT_MMU_R, &xl);
        if (rc)
            return rc;
        return hvt_x_mread(x, &xl, hvt_x_memidx(x, i), v);
    default:
        return hvt_x_unimpl(x, "operand");
    }
}

int hvt_x_dst(struct hvt_x *x, unsigned i, unsigned size, uint64_t v)
{
    const struct hvt_dop *o = &x->d->op[i];
    struct hvt_mmu_xlat xl;
    int rc;
    if (o->kind == HVT_DOP_REG && o->rcls == HVT_RC_GPR) {
        if (o->flags & HVT_DOP_HIGH8)
            hvt_x_set_reg(x, i, v);
        else
            hvt_x_set_gpr(x, o->reg, size, v);
        return HVT_OUT_OKAY;
    }
    if (o->kind != HVT_DOP_MEM)
        return hvt_x_unimpl(x, "destination operand");
    rc = hvt_x_map(x, i, 0, size, HVT_MMU_W, &xl);
    if (rc)
        return rc;
    return hvt_x_mwrite(x, &xl, hvt_x_memidx(x, i), v);
}

int hvt_x_rmw(struct hvt_x *x, unsigned i, int64_t adj, unsigned size, hvt_rmw_fn fn,
              const void *arg, uint64_t *oldp)
{
    const struct hvt_dop *o = &x->d->op[i];
    struct hvt_mmu_xlat xl;
    uint64_t old, nv = 0, fl;
    unsigned opidx;
    int rc;

    if (o->kind == HVT_DOP_REG) {
        if (o->rcls != HVT_RC_GPR)
            return hvt_x_unimpl(x, "register operand");
        old = hvt_x_reg(x, i);
        fl = x->st->rflags;
        if (fn(x, arg, old, &nv, &fl))
            hvt_x_set_reg(x, i, nv);
        x->st->rflags = fl;
        if (oldp)
            *oldp = old;
        return HVT_OUT_OKAY;
    }
    if (o->kind != HVT_DOP_MEM)
        return hvt_x_unimpl(x, "destination operand");
    opidx = hvt_x_memidx(x, i);
    rc = hvt_x_map(x, i, adj, size, HVT_MMU_W, &xl);
    if (rc)
        return rc;
    rc = hvt_x_mread(x, &xl, opidx, &old);
    if (rc)
        return rc;
    for (unsigned tries = 0;; tries++) {
        int write, ok = 0;
        fl = x->st->rflags;
        write = fn(x, arg, old, &nv, &fl);
        if (!x->e.locked) {
            if (write && (rc = hvt_x_mwrite(x, &xl, opidx, nv)))
                return rc;
            break;
        }
        if (!write) /* a locked instruction that stores nothing (CMPXCHG mismatch) */
            break;
        {
            uint64_t cur = old;
            rc = hvt_mmu_cmpxchg(&x->e, &xl, &cur, &nv, &ok, hvt_mktag(HVT_TAG_DATA, opidx, 0, 0));
            if (rc)
                return rc;
            if (ok)
                break;
            old = cur & hvt_szmask(size); /* another writer won: recompute from its value */
        }
        if (tries + 1 >= HVT_RMW_TRIES)
            return hvt_x_unhandleable(x, "locked operation kept losing to another writer");
    }
    x->st->rflags = fl;
    if (oldp)
        *oldp = old;
    return HVT_OUT_OKAY;
}

/* ---- stack --------------------------------------------------------------------------- */

unsigned hvt_x_stack_width(const struct hvt_x *x)
{
    if (x->e.mode == HVT_MODE_LONG64)
        return 8;
    return (x->st->seg[HVT_SEG_SS].attr & HVT_SEG_ATTR_DB) ? 4 : 2;
}

void hvt_x_sp_add(struct hvt_x *x, int64_t n)
{
    unsigned w = hvt_x_stack_width(x);
    /* SP merges into RSP; ESP zero-extends like any 32-bit register write */
    hvt_x_set_gpr(x, HVT_RSP, w, x->st->gpr[HVT_RSP] + (uint64_t)n);
}

static int stack_map(struct hvt_x *x, uint64_t sp, unsigned size, unsigned intent,
                     struct hvt_mmu_xlat *xl)
{
    sp &= hvt_szmask(hvt_x_stack_width(x));
    return hvt_mmu_map(&x->e, HVT_SEG_SS, sp, size, intent | HVT_MMU_STACK, 1, xl);
}

int hvt_x_push(struct hvt_x *x, unsigned size, uint64_t v)
{
    struct hvt_mmu_xlat xl;
    uint64_t sp = x->st->gpr[HVT_RSP] - size;
    int rc = stack_map(x, sp, size, HVT_MMU_W, &xl);
    if (rc)
        return rc;
    rc = hvt_mmu_write(&x->e, &xl, &v, hvt_mktag(HVT_TAG_STACK, 0, 0, 0));
    if (rc)
        return rc;
    hvt_x_sp_add(x, -(int64_t)size);
    return HVT_OUT_OKAY;
}

int hvt_x_peek(struct hvt_x *x, unsigned size, uint64_t off, uint64_t *v)
{
    struct hvt_mmu_xlat xl;
    uint64_t b = 0;
    int rc = stack_map(x, x->st->gpr[HVT_RSP] + off, size, HVT_MMU_R, &xl);
    if (rc)
        return rc;
    rc = hvt_mmu_read(&x->e, &xl, &b, hvt_mktag(HVT_TAG_STACK, 0, 0, 0));
    *v = b;
    return rc;
}

/* ---- one emulation ------------------------------------------------------------------- */

/* Opcodes (at B, after the prefixes and REX) that every x86 CPU answers with #UD: the unused
 * ModRM.reg values of the groups (C6/C7 /1-/7 but XABORT/XBEGIN's F8, FE /2-/7, FF /7, 0F BA
 * /0-/3), UD0 and UD1, and the two-byte opcodes no vendor defines. The core ABI says an
 * invalid opcode is #UD, not UNIMPLEMENTED; bytes outside this list that capstone does not
 * know stay UNIMPLEMENTED (a newer instruction, perhaps). */
static int invalid_opcode(const uint8_t *b, uint32_t n)
{
    unsigned reg;
    if (n < 2)
        return 0;
    reg = (b[1] >> 3) & 7;
    switch (b[0]) {
    case 0xc6:
    case 0xc7:
        return reg != 0 && b[1] != 0xf8;
    case 0xfe:
        return reg >= 2;
    case 0xff:
        return reg == 7;
    case 0x0f:
        switch (b[1]) {
        case 0x04: case 0x0a: case 0x0c: case 0x24: case 0x25: case 0x26: case 0x27:
        case 0x36: case 0x39: case 0x3b: case 0x3c: case 0x3d: case 0x3e: case 0x3f:
        case 0xa6: case 0xa7: case 0xb9: case 0xff:
            return 1;
        case 0xba:
            return n >= 3 && ((b[2] >> 3) & 7) < 4;
        }
        return 0;
    }
    return 0;
}

/* Bytes capstone cannot decode. Capstone refuses LOCK where the architecture does (register
 * destinations, MOV, CMP, BT, ...): when the bytes decode without their LOCK prefixes, that is
 * #UD. Anything else may be an invalid encoding or an instruction capstone 4 does not know:
 * UNIMPLEMENTED, never a guess. */
static int undecodable(struct hvt_x *x, struct hvt_ref_core *rc_, const uint8_t *buf, uint32_t n)
{
    uint8_t b[HVT_INSN_MAX];
    uint32_t k = 0, i = 0, locks = 0;
    const struct hvt_dinsn *d;
    int cs_err = 0;
    for (; i < n && hvt_dec_legacy_prefix(buf[i]); i++) {
        if (buf[i] == 0xf0)
            locks++;
        else
            b[k++] = buf[i];
    }
    if (locks) {
        memcpy(b + k, buf + i, n - i);
        d = hvt_dec_decode(rc_->dec, x->e.mode, b, k + (n - i), &cs_err);
        if (d) {
            snprintf(x->e.res->detail, sizeof(x->e.res->detail), "lock %s", d->mnemonic);
            return hvt_x_ud(x);
        }
    }
    if (x->e.mode == HVT_MODE_LONG64)
        while (i < n && (buf[i] & 0xf0) == 0x40) /* REX */
            i++;
    if (i + 1 < n && buf[i] == 0x8d && (buf[i + 1] >> 6) == 3) {
        snprintf(x->e.res->detail, sizeof(x->e.res->detail), "lea with a register source");
        return hvt_x_ud(x);
    }
    if (x->e.mode == HVT_MODE_LONG64) {
        /* one-byte opcodes that 64-bit mode removed: #UD whatever follows */
        static const uint8_t gone[] = {0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37,
                                       0x3f, 0x60, 0x61, 0x82, 0x9a, 0xce, 0xd4, 0xd5, 0xd6, 0xea};
        for (unsigned g = 0; i < n && g < sizeof(gone); g++)
            if (buf[i] == gone[g]) {
                snprintf(x->e.res->detail, sizeof(x->e.res->detail), "invalid in 64-bit mode");
                return hvt_x_ud(x);
            }
    }
    if (invalid_opcode(buf + i, n - i)) {
        snprintf(x->e.res->detail, sizeof(x->e.res->detail), "invalid opcode");
        return hvt_x_ud(x);
    }
    x->e.res->out.kind = HVT_OUT_UNIMPLEMENTED;
    snprintf(x->e.res->detail, sizeof(x->e.res->detail), "undecodable: %02x %02x %02x %02x", buf[0],
             n > 1 ? buf[1] : 0, n > 2 ? buf[2] : 0, n > 3 ? buf[3] : 0);
    return HVT_OUT_UNIMPLEMENTED;
}

/* Fetches and decodes the instruction at RIP. The first fetch stops at the end of the page
 * (and of CS's limit outside 64-bit mode) so that an instruction that ends there never
 * touches what follows; the rest is fetched only when the decoder needs it. */
static int fetch_decode(struct hvt_x *x, struct hvt_ref_core *rc_, const struct hvt_dinsn **out)
{
    const struct hvt_vcpu_state *st = x->st;
    uint8_t buf[HVT_INSN_MAX];
    uint64_t ip = st->rip, la;
    uint32_t n, more;
    const struct hvt_dinsn *d;
    int rc, cs_err = 0;

    if (x->e.mode == HVT_MODE_LONG64) {
        la = ip;
        n = HVT_INSN_MAX;
    } else {
        const struct hvt_segment *cs = &st->seg[HVT_SEG_CS];
        ip &= x->e.mode == HVT_MODE_PROT16 ? 0xffff : 0xffffffffull;
        la = (cs->base + ip) & 0xffffffffull;
        n = ip > cs->limit
                ? 1
                : (cs->limit - ip >= HVT_INSN_MAX ? HVT_INSN_MAX : (uint32_t)(cs->limit - ip) + 1);
    }
    if (n > 4096 - (la & 4095))
        n = (uint32_t)(4096 - (la & 4095));
    rc = hvt_mmu_fetch(&x->e, 0, buf, n);
    if (rc)
        return rc;
    d = hvt_dec_lookup(rc_->dec, x->e.mode, buf, n);
    if (!d)
        d = hvt_dec_decode(rc_->dec, x->e.mode, buf, n, &cs_err);
    if (!d && !cs_err && n < HVT_INSN_MAX) {
        more = HVT_INSN_MAX - n;
        if (x->e.mode != HVT_MODE_LONG64) {
            /* never fetch past CS's limit unless the instruction needs it */
            const struct hvt_segment *cs = &st->seg[HVT_SEG_CS];
            uint64_t end = ip + n; /* first byte not fetched */
            if (end > cs->limit)
                more = 1; /* the instruction needs it: the fetch faults */
            else if (cs->limit - end + 1 < more)
                more = (uint32_t)(cs->limit - end + 1);
        }
        rc = hvt_mmu_fetch(&x->e, n, buf + n, more);
        if (rc)
            return rc;
        n += more;
        d = hvt_dec_decode(rc_->dec, x->e.mode, buf, n, &cs_err);
        if (!d && !cs_err && n < HVT_INSN_MAX) {
            /* stopped by CS's limit: the instruction runs past it */
            rc = hvt_mmu_fetch(&x->e, n, buf + n, 1);
            if (rc)
                return rc;
            d = hvt_dec_decode(rc_->dec, x->e.mode, buf, n + 1, &cs_err);
        }
    }
    if (cs_err)
        return hvt_emu_op_status(&x->e, HVT_OP_UNHANDLEABLE, NULL);
    if (!d)
        return undecodable(x, rc_, buf, n);
    memcpy(x->e.res->insn, buf, d->len);
    *out = d;
    return HVT_OUT_OKAY;
}

static int dispatch(struct hvt_x *x)
{
    int rc;
    if (x->ext) { /* core extensions: string/SIMD/gather forms set RIP */
        x->rip_set = 1;
        return hvt_exec_ext(&x->e, x->d);
    }
    if (x->d->fault == HVT_DF_UD)
        return hvt_x_ud(x);
#ifdef HVT_MUTANT_UNIMPL /* replayer tests: a core build without ADD and group-1 ALU forms */
    {
        const uint8_t *b = x->e.res->insn;
        unsigned i = 0;
        while (i < x->d->len && ((b[i] & 0xf0) == 0x40 || b[i] == 0x66 || b[i] == 0xf0))
            i++;
        if (i < x->d->len && (b[i] <= 0x05 || (b[i] >= 0x80 && b[i] <= 0x83)))
            return hvt_x_unimpl(x, "mutant: no add");
    }
#endif
    if (x->d->fault == HVT_DF_UNREP)
        return hvt_x_unimpl(x, "operands");
    rc = hvt_exec_io(x);
    if (rc >= 0)
        return rc;
    rc = hvt_exec_int(x);
    if (rc >= 0)
        return rc;
    rc = hvt_exec_flow(x);
    if (rc >= 0)
        return rc;
    return hvt_x_unimpl(x, NULL);
}

int hvt_ref_emulate(struct hvt_ref_core *core, struct hvt_vcpu_state *state,
                    const struct hvt_core_ops *ops, void *ctx, struct hvt_core_result *res)
{
    struct hvt_vcpu_state w;
    struct hvt_core_ops o; /* the caller's table may be an older, smaller one */
    struct hvt_x x;
    int rc;

    if (!core || !state || !ops || !res)
        return -HVT_E_INVALID;
    if (ops->size != sizeof(o)) { /* this build's table is used as it is */
        if (hvt_sized_in(&o, sizeof(o), ops, ops->size, HVT_CORE_OPS_SIZE_V1))
            return -HVT_E_INVALID;
        ops = &o;
    }
    if (!ops->read || !ops->write || !ops->cmpxchg || !ops->io_in || !ops->io_out)
        return -HVT_E_INVALID;
    memset(res, 0, sizeof(*res));
    x.e.mode = hvt_emu_mode_of(state);
    if (x.e.mode == HVT_MODE_REAL) {
        res->out.kind = HVT_OUT_UNHANDLEABLE;
        snprintf(res->detail, sizeof(res->detail), "real or virtual-8086 mode");
        return 0;
    }
    /* a state no CPU of the profile can be in (CR4.SMEP without SMEP, ...): the recording
     * and the profile disagree, which the core cannot emulate its way around */
    if (((state->cr4 & core->opts.cr4_forbid) | (state->efer & core->opts.efer_forbid)) &&
        hvt_cpu_profile_check_state(&core->opts.cpu, state, res->detail, sizeof(res->detail))) {
        res->out.kind = HVT_OUT_UNHANDLEABLE;
        return 0;
    }
    /* the YMM registers (half the state) are copied only for the instructions that use them */
    memcpy(&w, state, offsetof(struct hvt_vcpu_state, ymm));
    x.st = &w;
    x.e.st = &w;
    x.e.ops = ops;
    x.e.opctx = ctx;
    x.e.res = res;
    x.e.opts = &core->opts;
    x.e.cpl = HVT_SEG_ATTR_DPL(w.seg[HVT_SEG_SS].attr);
    x.e.locked = 0;
    x.e.partial = 0;
    x.d = NULL;
    x.rip_set = 0;

    rc = fetch_decode(&x, core, &x.d);
    if (rc)
        return 0;
    res->insn_len = x.d->len;
    /* the mnemonic is NUL-terminated within its array, which fits in detail */
    memcpy(res->detail, x.d->mnemonic, sizeof(x.d->mnemonic));
    x.next_rip = w.rip + x.d->len;
    if (x.e.mode == HVT_MODE_PROT32)
        x.next_rip &= 0xffffffffull;
    else if (x.e.mode == HVT_MODE_PROT16)
        x.next_rip &= 0xffff;
    x.e.locked = (x.d->pfx & HVT_PFX_LOCK) != 0;
    x.ext = hvt_exec_ext_owns(x.d->id);
    if (x.ext)
        memcpy(w.ymm, state->ymm, sizeof(w.ymm));

    rc = dispatch(&x);
    if (rc == HVT_OUT_OKAY || x.e.partial) { /* partial: committed REP/gather progress */
        if (rc == HVT_OUT_OKAY) {
            res->out.kind = HVT_OUT_OKAY;
            if (!x.rip_set)
                w.rip = x.next_rip;
        }
        memcpy(state->gpr, w.gpr, sizeof(w.gpr));
        state->rip = w.rip;
        state->rflags = w.rflags;
        if (x.ext)
            memcpy(state->ymm, w.ymm, sizeof(w.ymm));
    }
    return 0;
}

_Static_assert(sizeof(((struct hvt_dinsn *)0)->mnemonic) <=
                   sizeof(((struct hvt_core_result *)0)->detail),
               "the mnemonic is copied into the result's detail");
