/* SPDX-License-Identifier: MIT */
/* Reference core executor: integer data instructions (MOV family, ALU, MUL/DIV, bit tests,
 * shifts, XCHG/CMPXCHG/XADD, SETcc/CMOVcc, flag and sign-extension instructions). */
#include <capstone/capstone.h>

#include "exec.h"

/* Condition code (0..15) of a Jcc/SETcc/CMOVcc id, -1 for others. */
int hvt_x_cc_of(unsigned id)
{
    switch (id) {
    case X86_INS_JO:
    case X86_INS_SETO:
    case X86_INS_CMOVO:
        return 0;
    case X86_INS_JNO:
    case X86_INS_SETNO:
    case X86_INS_CMOVNO:
        return 1;
    case X86_INS_JB:
    case X86_INS_SETB:
    case X86_INS_CMOVB:
        return 2;
    case X86_INS_JAE:
    case X86_INS_SETAE:
    case X86_INS_CMOVAE:
        return 3;
    case X86_INS_JE:
    case X86_INS_SETE:
    case X86_INS_CMOVE:
        return 4;
    case X86_INS_JNE:
    case X86_INS_SETNE:
    case X86_INS_CMOVNE:
        return 5;
    case X86_INS_JBE:
    case X86_INS_SETBE:
    case X86_INS_CMOVBE:
        return 6;
    case X86_INS_JA:
    case X86_INS_SETA:
    case X86_INS_CMOVA:
        return 7;
    case X86_INS_JS:
    case X86_INS_SETS:
    case X86_INS_CMOVS:
        return 8;
    case X86_INS_JNS:
    case X86_INS_SETNS:
    case X86_INS_CMOVNS:
        return 9;
    case X86_INS_JP:
    case X86_INS_SETP:
    case X86_INS_CMOVP:
        return 10;
    case X86_INS_JNP:
    case X86_INS_SETNP:
    case X86_INS_CMOVNP:
        return 11;
    case X86_INS_JL:
    case X86_INS_SETL:
    case X86_INS_CMOVL:
        return 12;
    case X86_INS_JGE:
    case X86_INS_SETGE:
    case X86_INS_CMOVGE:
        return 13;
    case X86_INS_JLE:
    case X86_INS_SETLE:
    case X86_INS_CMOVLE:
        return 14;
    case X86_INS_JG:
    case X86_INS_SETG:
    case X86_INS_CMOVG:
        return 15;
    default:
        return -1;
    }
}

static int is_gpr(const struct hvt_x *x, unsigned i)
{
    return x->d->op[i].kind == HVT_DOP_REG && x->d->op[i].rcls == HVT_RC_GPR;
}

static int is_mem(const struct hvt_x *x, unsigned i)
{
    return x->d->op[i].kind == HVT_DOP_MEM;
}

/* ---- MOV family ---------------------------------------------------------------------- */

static int do_mov(struct hvt_x *x)
{
    const struct hvt_dinsn *d = x->d;
    unsigned size = d->op[0].size;
    uint64_t v;
    int rc;
    if (d->nops != 2)
        return hvt_x_unimpl(x, "operands");
    if (d->op[1].kind == HVT_DOP_REG && d->op[1].rcls == HVT_RC_SEG) {
        /* MOV r/m, Sreg: 16 bits to memory; a register gets the selector zero-extended */
        v = x->st->seg[d->op[1].reg].sel;
        if (is_mem(x, 0))
            return hvt_x_dst(x, 0, 2, v);
        if (!is_gpr(x, 0))
            return hvt_x_unimpl(x, "operands");
        hvt_x_set_gpr(x, d->op[0].reg, size == 2 ? 2 : 4, v);
        if (size == 8)
            x->st->gpr[d->op[0].reg] = v;
        return HVT_OUT_OKAY;
    }
    if (d->op[0].kind == HVT_DOP_REG && d->op[0].rcls != HVT_RC_GPR)
        return hvt_x_unimpl(x, "segment or control register destination");
    if (d->op[1].kind == HVT_DOP_REG && d->op[1].rcls != HVT_RC_GPR)
        return hvt_x_unimpl(x, "control register source");
    rc = hvt_x_src(x, 1, size, &v);
    if (rc)
        return rc;
    return hvt_x_dst(x, 0, size, v);
}

static int do_movx(struct hvt_x *x, int sign)
{
    const struct hvt_dinsn *d = x->d;
    unsigned dsz = d->op[0].size, ssz = d->op[1].size;
    uint64_t v;
    int rc;
    if (d->nops != 2 || !is_gpr(x, 0))
        return hvt_x_unimpl(x, "operands");
    if (d->id == X86_INS_MOVSXD) {
        /* capstone names a 64-bit destination even without REX.W: use the real sizes.
         * REX.W: r64 <- sext(r/m32); 32-bit: r32 <- r/m32; 16-bit: r16 <- r/m16 (the SDM's
         * "MOVSXD r16, r/m16" reads a word; QEMU reads a dword, which only differs in faults
         * on the next page) */
        dsz = d->opsize;
        ssz = d->opsize == 2 ? 2 : 4;
    }
    rc = hvt_x_src(x, 1, ssz, &v);
    if (rc)
        return rc;
    if (sign)
        v = (uint64_t)hvt_sext(v, ssz);
    hvt_x_set_gpr(x, d->op[0].reg, dsz, v);
    return HVT_OUT_OKAY;
}

/* ---- two-operand ALU ----------------------------------------------------------------- */

struct alu_arg {
    unsigned op;
    unsigned size;
    uint64_t src;
};

static int rmw_alu(struct hvt_x *x, const void *arg, uint64_t old, uint64_t *nv, uint64_t *fl)
{
    const struct alu_arg *a = arg;
    *nv = hvt_alu(a->op, a->size, old, a->src, fl);
    return a->op != HVT_ALU_CMP && a->op != HVT_ALU_TEST;
}

static int do_alu2(struct hvt_x *x, unsigned op)
{
    const struct hvt_dinsn *d = x->d;
    struct alu_arg a = {op, d->op[0].size, 0};
    uint64_t dv;
    int rc;
    if (d->nops != 2 || is_mem(x, 0) + is_mem(x, 1) > 1)
        return hvt_x_unimpl(x, "operands");
    rc = hvt_x_src(x, 1, a.size, &a.src);
    if (rc)
        return rc;
    if ((op == HVT_ALU_CMP || op == HVT_ALU_TEST) && is_mem(x, 0)) {
        /* read-only memory destination: a plain read, no write intent */
        rc = hvt_x_src(x, 0, a.size, &dv);
        if (rc)
            return rc;
        hvt_alu(op, a.size, dv, a.src, &x->st->rflags);
        return HVT_OUT_OKAY;
    }
    return hvt_x_rmw(x, 0, 0, a.size, rmw_alu, &a, NULL);
}

static int do_alu1(struct hvt_x *x, unsigned op)
{
    struct alu_arg a = {op, x->d->op[0].size, 0};
    if (x->d->nops != 1)
        return hvt_x_unimpl(x, "operands");
    return hvt_x_rmw(x, 0, 0, a.size, rmw_alu, &a, NULL);
}

/* ---- MUL / IMUL / DIV / IDIV --------------------------------------------------------- */

/* Flags after a multiply: CF = OF = OVF; SF, ZF, PF from the low half LO; AF cleared. */
static void mul_flags(struct hvt_x *x, unsigned size, uint64_t lo, int ovf)
{
    uint64_t f = x->st->rflags & ~HVT_FL_ARITH;
    f |= hvt_szp(size, lo);
    if (ovf)
        f |= HVT_RFLAGS_CF | HVT_RFLAGS_OF;
    x->st->rflags = f;
}

/* Writes a double-width result: AX for bytes, else rDX:rAX. */
static void put_wide(struct hvt_x *x, unsigned size, uint64_t lo, uint64_t hi)
{
    if (size == 1) {
        hvt_x_set_gpr(x, HVT_RAX, 2, (lo & 0xff) | ((hi & 0xff) << 8));
        return;
    }
    hvt_x_set_gpr(x, HVT_RAX, size, lo);
    hvt_x_set_gpr(x, HVT_RDX, size, hi);
}

static void get_wide(const struct hvt_x *x, unsigned size, uint64_t *lo, uint64_t *hi)
{
    if (size == 1) {
        *lo = x->st->gpr[HVT_RAX] & 0xff;
        *hi = (x->st->gpr[HVT_RAX] >> 8) & 0xff;
        return;
    }
    *lo = hvt_x_gpr(x, HVT_RAX, size);
    *hi = hvt_x_gpr(x, HVT_RDX, size);
}

static int do_mul1(struct hvt_x *x, int sign)
{
    unsigned size = x->d->op[0].size, bits = size * 8;
    uint64_t src, lo, hi;
    int rc = hvt_x_src(x, 0, size, &src);
    if (rc)
        return rc;
    if (!sign) {
        unsigned __int128 p = (unsigned __int128)hvt_x_gpr(x, HVT_RAX, size) * src;
        lo = (uint64_t)p & hvt_szmask(size);
        hi = (uint64_t)(size == 8 ? (p >> 64) : (p >> bits)) & hvt_szmask(size);
        put_wide(x, size, lo, hi);
        mul_flags(x, size, lo, hi != 0);
    } else {
        __int128 p = (__int128)hvt_sext(hvt_x_gpr(x, HVT_RAX, size), size) * hvt_sext(src, size);
        lo = (uint64_t)p & hvt_szmask(size);
        hi = (uint64_t)(p >> bits) & hvt_szmask(size);
        put_wide(x, size, lo, hi);
        mul_flags(x, size, lo, p != (__int128)hvt_sext(lo, size));
    }
    return HVT_OUT_OKAY;
}

/* IMUL r, r/m and IMUL r, r/m, imm: truncated signed product. */
static int do_imul_n(struct hvt_x *x)
{
    const struct hvt_dinsn *d = x->d;
    unsigned size = d->op[0].size;
    uint64_t a, b, lo;
    __int128 p;
    int rc;
    if (!is_gpr(x, 0))
        return hvt_x_unimpl(x, "operands");
    if (d->nops == 2) {
        a = hvt_x_reg(x, 0);
        rc = hvt_x_src(x, 1, size, &b);
    } else {
        rc = hvt_x_src(x, 1, size, &a);
        b = (uint64_t)d->op[2].val & hvt_szmask(size);
    }
    if (rc)
        return rc;
    p = (__int128)hvt_sext(a, size) * hvt_sext(b, size);
    lo = (uint64_t)p & hvt_szmask(size);
    hvt_x_set_gpr(x, d->op[0].reg, size, lo);
    mul_flags(x, size, lo, p != (__int128)hvt_sext(lo, size));
    return HVT_OUT_OKAY;
}

static int do_div(struct hvt_x *x, int sign)
{
    unsigned size = x->d->op[0].size, bits = size * 8;
    uint64_t src, lo, hi, q, r;
    int rc = hvt_x_src(x, 0, size, &src);
    if (rc)
        return rc;
    if (!src)
        return hvt_emu_raise(&x->e, HVT_VEC_DE, 0, 0, 0);
    get_wide(x, size, &lo, &hi);
    if (!sign) {
        unsigned __int128 n = ((unsigned __int128)hi << bits) | lo, qq;
        qq = n / src;
        if (qq > hvt_szmask(size))
            return hvt_emu_raise(&x->e, HVT_VEC_DE, 0, 0, 0);
        q = (uint64_t)qq;
        r = (uint64_t)(n % src);
    } else {
        /* the dividend as a signed 2*size-bit number */
        unsigned __int128 un = ((unsigned __int128)hi << bits) | lo;
        __int128 n, dv = hvt_sext(src, size), qq;
        if (size == 8)
            n = (__int128)un;
        else
            n = (__int128)hvt_sext((uint64_t)un, size * 2);
        if (dv == -1 && size == 8 && un == ((unsigned __int128)1 << 127))
            return hvt_emu_raise(&x->e, HVT_VEC_DE, 0, 0, 0);
        qq = n / dv;
        if (qq > (__int128)(hvt_szmask(size) >> 1) || qq < -(__int128)hvt_szsign(size))
            return hvt_emu_raise(&x->e, HVT_VEC_DE, 0, 0, 0);
        q = (uint64_t)qq & hvt_szmask(size);
        r = (uint64_t)(n % dv) & hvt_szmask(size);
    }
    put_wide(x, size, q, r); /* flags: unchanged (undefined) */
    return HVT_OUT_OKAY;
}

/* ---- XCHG / CMPXCHG / XADD ----------------------------------------------------------- */

static int rmw_set(struct hvt_x *x, const void *arg, uint64_t old, uint64_t *nv, uint64_t *fl)
{
    *nv = *(const uint64_t *)arg;
    return 1;
}

static int do_xchg(struct hvt_x *x)
{
    const struct hvt_dinsn *d = x->d;
    unsigned size = d->op[0].size, mi, ri;
    uint64_t v, old;
    int rc;
    if (d->nops != 2)
        return hvt_x_unimpl(x, "operands");
    if (is_gpr(x, 0) && is_gpr(x, 1)) {
        uint64_t a = hvt_x_reg(x, 0), b = hvt_x_reg(x, 1);
        hvt_x_set_reg(x, 0, b);
        hvt_x_set_reg(x, 1, a);
        return HVT_OUT_OKAY;
    }
    mi = is_mem(x, 0) ? 0 : 1;
    ri = 1 - mi;
    if (!is_mem(x, mi) || !is_gpr(x, ri))
        return hvt_x_unimpl(x, "operands");
    v = hvt_x_reg(x, ri);
    x->e.locked = 1; /* XCHG with memory is locked with or without the prefix */
    rc = hvt_x_rmw(x, mi, 0, size, rmw_set, &v, &old);
    if (rc)
        return rc;
    hvt_x_set_reg(x, ri, old);
    return HVT_OUT_OKAY;
}

struct cx_arg {
    unsigned size;
    int reg_dst;
    uint64_t acc, src;
};

static int rmw_cmpxchg(struct hvt_x *x, const void *arg, uint64_t old, uint64_t *nv, uint64_t *fl)
{
    const struct cx_arg *a = arg;
    hvt_alu(HVT_ALU_CMP, a->size, a->acc, old, fl);
    if (*fl & HVT_RFLAGS_ZF) {
        *nv = a->src;
        return 1;
    }
    /* mismatch: hardware writes the old value back; for memory we, like Xen, skip the
     * store (same contents, one device access fewer); a register is rewritten (32-bit
     * registers then zero-extend in 64-bit mode) */
    *nv = old;
    return a->reg_dst;
}

static int do_cmpxchg(struct hvt_x *x)
{
    const struct hvt_dinsn *d = x->d;
    struct cx_arg a;
    uint64_t old;
    int rc;
    if (d->nops != 2 || !is_gpr(x, 1))
        return hvt_x_unimpl(x, "operands");
    a.size = d->op[0].size;
    a.reg_dst = is_gpr(x, 0);
    a.acc = hvt_x_gpr(x, HVT_RAX, a.size);
    a.src = hvt_x_reg(x, 1);
    rc = hvt_x_rmw(x, 0, 0, a.size, rmw_cmpxchg, &a, &old);
    if (rc)
        return rc;
    if (!(x->st->rflags & HVT_RFLAGS_ZF))
        hvt_x_set_gpr(x, HVT_RAX, a.size, old);
    return HVT_OUT_OKAY;
}

static int do_xadd(struct hvt_x *x)
{
    const struct hvt_dinsn *d = x->d;
    struct alu_arg a = {HVT_ALU_ADD, d->op[0].size, 0};
    uint64_t old;
    int rc;
    if (d->nops != 2 || !is_gpr(x, 1))
        return hvt_x_unimpl(x, "operands");
    a.src = hvt_x_reg(x, 1);
    if (is_gpr(x, 0)) {
        /* TEMP = SRC + DEST; SRC = DEST; DEST = TEMP (DEST last: XADD r, r with one register) */
        uint64_t dv = hvt_x_reg(x, 0);
        uint64_t sum = hvt_alu(HVT_ALU_ADD, a.size, dv, a.src, &x->st->rflags);
        hvt_x_set_reg(x, 1, dv);
        hvt_x_set_reg(x, 0, sum);
        return HVT_OUT_OKAY;
    }
    rc = hvt_x_rmw(x, 0, 0, a.size, rmw_alu, &a, &old);
    if (rc)
        return rc;
    hvt_x_set_reg(x, 1, old);
    return HVT_OUT_OKAY;
}

/* ---- BT / BTS / BTR / BTC ------------------------------------------------------------ */

struct bt_arg {
    unsigned op; /* 0 BT, 1 BTS, 2 BTR, 3 BTC */
    unsigned bit;
};

static int rmw_bt(struct hvt_x *x, const void *arg, uint64_t old, uint64_t *nv, uint64_t *fl)
{
    const struct bt_arg *a = arg;
    uint64_t m = 1ull << a->bit;
    /* only CF is written; OF, SF, AF, PF (undefined) and ZF keep their values */
    *fl = (*fl & ~HVT_RFLAGS_CF) | ((old & m) ? HVT_RFLAGS_CF : 0);
    switch (a->op) {
    case 1:
        *nv = old | m;
        break;
    case 2:
        *nv = old & ~m;
        break;
    case 3:
        *nv = old ^ m;
        break;
    default:
        *nv = old;
        return 0;
    }
    return 1;
}

static int do_bt(struct hvt_x *x, unsigned op)
{
    const struct hvt_dinsn *d = x->d;
    unsigned size = d->op[0].size, bits = size * 8;
    struct bt_arg a = {op, 0};
    int64_t adj = 0;
    if (d->nops != 2)
        return hvt_x_unimpl(x, "operands");
    if (d->op[1].kind == HVT_DOP_IMM) {
        a.bit = (unsigned)d->op[1].val & (bits - 1);
    } else if (is_gpr(x, 1)) {
        int64_t off = hvt_sext(hvt_x_reg(x, 1), d->op[1].size);
        a.bit = (unsigned)((uint64_t)off & (bits - 1));
        if (is_mem(x, 0)) /* the bit string extends both ways from the operand address */
            adj = (off >> (__builtin_ctz(bits))) * (int64_t)size;
    } else {
        return hvt_x_unimpl(x, "operands");
    }
    if (op == 0) {
        uint64_t v, fl = x->st->rflags, nv;
        if (is_mem(x, 0)) {
            struct hvt_mmu_xlat xl;
            int rc = hvt_x_map(x, 0, adj, size, HVT_MMU_R, &xl);
            if (rc || (rc = hvt_x_mread(x, &xl, 0, &v)))
                return rc;
        } else if (is_gpr(x, 0)) {
            v = hvt_x_reg(x, 0);
        } else {
            return hvt_x_unimpl(x, "operands");
        }
        rmw_bt(x, &a, v, &nv, &fl);
        x->st->rflags = fl;
        return HVT_OUT_OKAY;
    }
    return hvt_x_rmw(x, 0, adj, size, rmw_bt, &a, NULL);
}

/* ---- shifts and rotates -------------------------------------------------------------- */

struct sh_arg {
    unsigned op;
    unsigned size;
    unsigned count;
};

static int rmw_shift(struct hvt_x *x, const void *arg, uint64_t old, uint64_t *nv, uint64_t *fl)
{
    const struct sh_arg *a = arg;
    /* a masked count of 0 still stores the (unchanged) value: the access is a RMW */
    *nv = hvt_shift(a->op, a->size, old, a->count, fl);
    return 1;
}

static int do_shift(struct hvt_x *x, unsigned op)
{
    const struct hvt_dinsn *d = x->d;
    struct sh_arg a = {op, d->op[0].size, 1};
    if (d->nops == 2) {
        if (d->op[1].kind == HVT_DOP_IMM)
            a.count = (unsigned)d->op[1].val & 0xff;
        else if (is_gpr(x, 1) && d->op[1].reg == HVT_RCX && d->op[1].size == 1)
            a.count = (unsigned)(x->st->gpr[HVT_RCX] & 0xff);
        else
            return hvt_x_unimpl(x, "operands");
    } else if (d->nops != 1) {
        return hvt_x_unimpl(x, "operands");
    }
    return hvt_x_rmw(x, 0, 0, a.size, rmw_shift, &a, NULL);
}

/* ---- SETcc / CMOVcc ------------------------------------------------------------------ */

static int do_setcc(struct hvt_x *x, int cc)
{
    if (x->d->nops != 1 || x->d->op[0].size != 1)
        return hvt_x_unimpl(x, "operands");
    return hvt_x_dst(x, 0, 1, (uint64_t)hvt_cond((unsigned)cc, x->st->rflags));
}

static int do_cmovcc(struct hvt_x *x, int cc)
{
    const struct hvt_dinsn *d = x->d;
    unsigned size = d->op[0].size;
    uint64_t v;
    int rc;
    if (d->nops != 2 || !is_gpr(x, 0))
        return hvt_x_unimpl(x, "operands");
    rc = hvt_x_src(x, 1, size, &v); /* the source is read whatever the condition */
    if (rc)
        return rc;
    if (hvt_cond((unsigned)cc, x->st->rflags))
        hvt_x_set_gpr(x, d->op[0].reg, size, v);
    else if (size == 4) /* a 32-bit destination is zero-extended even when not moved */
        hvt_x_set_gpr(x, d->op[0].reg, 4, hvt_x_gpr(x, d->op[0].reg, 4));
    return HVT_OUT_OKAY;
}

/* ---- dispatch ------------------------------------------------------------------------ */

int hvt_exec_int(struct hvt_x *x)
{
    const struct hvt_dinsn *d = x->d;
    uint64_t *fl = &x->st->rflags;
    int cc;

    switch (d->id) {
    case X86_INS_MOV:
    case X86_INS_MOVABS:
        return do_mov(x);
    case X86_INS_MOVZX:
        return do_movx(x, 0);
    case X86_INS_MOVSX:
        return do_movx(x, 1);
    case X86_INS_MOVSXD:
        return do_movx(x, 1);
    case X86_INS_ADD:
        return do_alu2(x, HVT_ALU_ADD);
    case X86_INS_OR:
        return do_alu2(x, HVT_ALU_OR);
    case X86_INS_ADC:
        return do_alu2(x, HVT_ALU_ADC);
    case X86_INS_SBB:
        return do_alu2(x, HVT_ALU_SBB);
    case X86_INS_AND:
        return do_alu2(x, HVT_ALU_AND);
    case X86_INS_SUB:
        return do_alu2(x, HVT_ALU_SUB);
    case X86_INS_XOR:
        return do_alu2(x, HVT_ALU_XOR);
    case X86_INS_CMP:
        return do_alu2(x, HVT_ALU_CMP);
    case X86_INS_TEST:
        return do_alu2(x, HVT_ALU_TEST);
    case X86_INS_INC:
        return do_alu1(x, HVT_ALU_INC);
    case X86_INS_DEC:
        return do_alu1(x, HVT_ALU_DEC);
    case X86_INS_NEG:
        return do_alu1(x, HVT_ALU_NEG);
    case X86_INS_NOT:
        return do_alu1(x, HVT_ALU_NOT);
    case X86_INS_MUL:
        return d->nops == 1 ? do_mul1(x, 0) : hvt_x_unimpl(x, "operands");
    case X86_INS_IMUL:
        return d->nops == 1 ? do_mul1(x, 1) : do_imul_n(x);
    case X86_INS_DIV:
        return d->nops == 1 ? do_div(x, 0) : hvt_x_unimpl(x, "operands");
    case X86_INS_IDIV:
        return d->nops == 1 ? do_div(x, 1) : hvt_x_unimpl(x, "operands");
    case X86_INS_XCHG:
        return do_xchg(x);
    case X86_INS_CMPXCHG:
        return do_cmpxchg(x);
    case X86_INS_XADD:
        return do_xadd(x);
    case X86_INS_BT:
        return do_bt(x, 0);
    case X86_INS_BTS:
        return do_bt(x, 1);
    case X86_INS_BTR:
        return do_bt(x, 2);
    case X86_INS_BTC:
        return do_bt(x, 3);
    case X86_INS_ROL:
        return do_shift(x, HVT_SH_ROL);
    case X86_INS_ROR:
        return do_shift(x, HVT_SH_ROR);
    case X86_INS_RCL:
        return do_shift(x, HVT_SH_RCL);
    case X86_INS_RCR:
        return do_shift(x, HVT_SH_RCR);
    case X86_INS_SHL:
    case X86_INS_SAL:
        return do_shift(x, HVT_SH_SHL);
    case X86_INS_SHR:
        return do_shift(x, HVT_SH_SHR);
    case X86_INS_SAR:
        return do_shift(x, HVT_SH_SAR);
    case X86_INS_LEA:
        if (d->nops != 2 || !is_mem(x, 1))
            return hvt_x_ud(x); /* LEA with a register source */
        if (!is_gpr(x, 0))
            return hvt_x_unimpl(x, "operands");
        hvt_x_set_gpr(x, d->op[0].reg, d->op[0].size, hvt_x_ea(x, 1, 0));
        return HVT_OUT_OKAY;
    case X86_INS_UD2:
    case X86_INS_UD2B: /* UD1, 0F B9 */
    case X86_INS_UD0:  /* 0F FF */
        return hvt_x_ud(x);
    case X86_INS_NOP:
    case X86_INS_PAUSE:
        return HVT_OUT_OKAY; /* multi-byte NOPs compute no address and access nothing */
    case X86_INS_CLC:
        *fl &= ~HVT_RFLAGS_CF;
        return HVT_OUT_OKAY;
    case X86_INS_STC:
        *fl |= HVT_RFLAGS_CF;
        return HVT_OUT_OKAY;
    case X86_INS_CMC:
        *fl ^= HVT_RFLAGS_CF;
        return HVT_OUT_OKAY;
    case X86_INS_CLD:
        *fl &= ~HVT_RFLAGS_DF;
        return HVT_OUT_OKAY;
    case X86_INS_STD:
        *fl |= HVT_RFLAGS_DF;
        return HVT_OUT_OKAY;
    case X86_INS_CBW:
        hvt_x_set_gpr(x, HVT_RAX, 2, (uint64_t)hvt_sext(x->st->gpr[HVT_RAX], 1));
        return HVT_OUT_OKAY;
    case X86_INS_CWDE:
        hvt_x_set_gpr(x, HVT_RAX, 4, (uint64_t)hvt_sext(x->st->gpr[HVT_RAX], 2));
        return HVT_OUT_OKAY;
    case X86_INS_CDQE:
        hvt_x_set_gpr(x, HVT_RAX, 8, (uint64_t)hvt_sext(x->st->gpr[HVT_RAX], 4));
        return HVT_OUT_OKAY;
    case X86_INS_CWD:
        hvt_x_set_gpr(x, HVT_RDX, 2, (uint64_t)(hvt_sext(x->st->gpr[HVT_RAX], 2) >> 16));
        return HVT_OUT_OKAY;
    case X86_INS_CDQ:
        hvt_x_set_gpr(x, HVT_RDX, 4, (uint64_t)(hvt_sext(x->st->gpr[HVT_RAX], 4) >> 32));
        return HVT_OUT_OKAY;
    case X86_INS_CQO:
        hvt_x_set_gpr(x, HVT_RDX, 8, (uint64_t)((int64_t)x->st->gpr[HVT_RAX] >> 63));
        return HVT_OUT_OKAY;
    default:
        break;
    }
    cc = hvt_x_cc_of(d->id);
    if (cc >= 0 && d->id >= X86_INS_SETAE && d->id <= X86_INS_SETS)
        return do_setcc(x, cc);
    if (cc >= 0 && d->id >= X86_INS_CMOVA && d->id <= X86_INS_CMOVS)
        return do_cmovcc(x, cc);
    return -1;
}
