/* SPDX-License-Identifier: MIT */
/* linemu: a small x86 emulator that works with linear addresses, as hypervisor emulators do,
 * hosted as an hvtrace core plugin on the core services (core ABI version 2). It implements
 * the instructions that usually reach a hypervisor's emulator on MMIO and port exits: MOV
 * (88-8B, C6/C7, A0-A3), ADD (00-03, 80/81/83 /0), IN/OUT, and the string instructions MOVS,
 * CMPS, STOS, LODS, INS and OUTS with REP/REPE/REPNE, in 16-, 32- and 64-bit modes.
 *
 * Its access order is its own (docs/PORTING.md): one byte per instruction fetch, each operand
 * translated where it is first used, and one REP iteration per call. The reference core does
 * all of this differently; `hvtrace replay --match semantic` compares what matters.
 *
 * LINEMU_MUTANT selects a deliberate bug for the tests: 1 stores through a translation made
 * for reading (the dirty bit is never set), 2 makes MOVS write the wrong byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvtrace/core.h"

#ifndef LINEMU_MUTANT
#define LINEMU_MUTANT 0
#endif

struct linemu {
    char *cpu; /* the "cpu" option: the guest's CPU profile, kept but not followed */
};

/* One emulation: the services, the state, and what the decoder found. */
struct emu {
    const struct hvt_core_services *svc;
    struct hvt_svc *s;
    struct hvt_vcpu_state *st;
    const struct hvt_core_ops *ops;
    void *ctx;
    struct hvt_core_result *res;
    unsigned mode;           /* 16, 32 or 64 */
    unsigned len;            /* instruction bytes fetched so far */
    unsigned opsize, adsize; /* bytes */
    int seg;                 /* segment override, -1 for none */
    uint8_t rep, lock, rex, op;
    /* the ModRM operand */
    uint8_t mod, reg, rm;
    unsigned ea_seg; /* default segment of the memory operand */
    uint64_t ea;     /* its offset (RIP-relative: without the next RIP yet) */
    int rip_rel;
};

#define REX_W 8
#define REX_R 4
#define REX_X 2
#define REX_B 1

static uint64_t mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

static struct hvt_tag tag(unsigned cls, unsigned operand)
{
    struct hvt_tag t = {(uint8_t)cls, (uint8_t)operand, 0, 0, 0};
    return t;
}

/* ---- registers ------------------------------------------------------------------------ */

static uint64_t get_reg(const struct emu *e, unsigned r, unsigned size)
{
    if (size == 1 && !e->rex && r >= 4 && r < 8) /* AH, CH, DH, BH */
        return (e->st->gpr[r - 4] >> 8) & 0xff;
    return e->st->gpr[r] & mask(size);
}

static void set_reg(struct emu *e, unsigned r, unsigned size, uint64_t v)
{
    uint64_t *g = &e->st->gpr[r];
    if (size == 1 && !e->rex && r >= 4 && r < 8)
        e->st->gpr[r - 4] = (e->st->gpr[r - 4] & ~0xff00ull) | ((v & 0xff) << 8);
    else if (size == 4)
        *g = (uint32_t)v; /* a 32-bit result clears bits 63:32 */
    else
        *g = (*g & ~mask(size)) | (v & mask(size));
}

/* ---- decoding: one byte per fetch ---------------------------------------------------- */

static int fetch_byte(struct emu *e, uint8_t *b)
{
    int r;
    if (e->len >= HVT_INSN_MAX) /* longer than 15 bytes */
        return e->svc->raise(e->s, HVT_VEC_GP, 1, 0, 0);
    r = e->svc->fetch(e->s, e->len, b, 1);
    if (r == HVT_OUT_OKAY)
        e->res->insn[e->len++] = *b;
    return r;
}

/* N little-endian bytes, sign-extended when SIGNED. */
static int fetch_imm(struct emu *e, unsigned n, int is_signed, uint64_t *v)
{
    uint8_t b;
    int r;
    *v = 0;
    for (unsigned i = 0; i < n; i++) {
        if ((r = fetch_byte(e, &b)))
            return r;
        *v |= (uint64_t)b << (8 * i);
    }
    if (is_signed && n < 8 && (*v >> (8 * n - 1)) & 1)
        *v |= ~mask(n);
    return HVT_OUT_OKAY;
}

/* The ModRM byte, and for a memory operand its SIB, displacement and default segment. */
static int decode_modrm(struct emu *e)
{
    static const int8_t base16[8] = {HVT_RBX, HVT_RBX, HVT_RBP, HVT_RBP,
                                     HVT_RSI, HVT_RDI, HVT_RBP, HVT_RBX};
    static const int8_t index16[8] = {HVT_RSI, HVT_RDI, HVT_RSI, HVT_RDI, -1, -1, -1, -1};
    uint8_t m, sib;
    uint64_t disp = 0;
    int base, index = -1, r;
    unsigned scale = 1;

    if ((r = fetch_byte(e, &m)))
        return r;
    e->mod = m >> 6;
    e->reg = ((m >> 3) & 7) | (e->rex & REX_R ? 8 : 0);
    e->rm = m & 7;
    if (e->mod == 3) {
        e->rm |= e->rex & REX_B ? 8 : 0;
        return HVT_OUT_OKAY;
    }
    if (e->adsize == 2) { /* [BX+SI], [BP+DI], ..., disp16 */
        base = e->mod == 0 && e->rm == 6 ? -1 : base16[e->rm];
        index = index16[e->rm];
        if (e->mod == 0 && e->rm == 6)
            r = fetch_imm(e, 2, 0, &disp);
        else if (e->mod)
            r = fetch_imm(e, e->mod == 1 ? 1 : 2, 1, &disp);
    } else {
        base = e->rm;
        if (e->rm == 4) {
            if ((r = fetch_byte(e, &sib)))
                return r;
            scale = 1u << (sib >> 6);
            index = ((sib >> 3) & 7) | (e->rex & REX_X ? 8 : 0);
            index = index == 4 ? -1 : index; /* no index */
            base = sib & 7;
        }
        if (e->mod == 0 && base == 5) { /* disp32 alone, or RIP-relative without a SIB */
            e->rip_rel = e->rm == 5 && e->mode == 64;
            base = -1;
            r = fetch_imm(e, 4, 1, &disp);
        } else {
            base |= e->rex & REX_B ? 8 : 0;
            if (e->mod)
                r = fetch_imm(e, e->mod == 1 ? 1 : 4, 1, &disp);
        }
    }
    if (r)
        return r;
    e->ea_seg = base == HVT_RSP || base == HVT_RBP ? HVT_SEG_SS : HVT_SEG_DS;
    e->ea =
        disp + (base >= 0 ? e->st->gpr[base] : 0) + (index >= 0 ? e->st->gpr[index] * scale : 0);
    return HVT_OUT_OKAY;
}

/* The segment and offset of the ModRM memory operand, once the whole instruction is read. */
static unsigned ea_seg(const struct emu *e)
{
    return e->seg >= 0 ? (unsigned)e->seg : e->ea_seg;
}

static uint64_t ea_off(const struct emu *e)
{
    return (e->ea + (e->rip_rel ? e->st->rip + e->len : 0)) & mask(e->adsize);
}

/* Prefixes, REX and the opcode byte. */
static int decode_prefixes(struct emu *e)
{
    int opsz = 0, adsz = 0, r;
    uint8_t b;
    for (;;) {
        if ((r = fetch_byte(e, &b)))
            return r;
        if (e->mode == 64 && (b & 0xf0) == 0x40) { /* REX: only right before the opcode */
            e->rex = b;
            continue;
        }
        if (b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x26 ||
            b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 || b == 0x65)
            e->rex = 0; /* a prefix after REX cancels it */
        if (b == 0x66)
            opsz = 1;
        else if (b == 0x67)
            adsz = 1;
        else if (b == 0xf0)
            e->lock = 1;
        else if (b == 0xf2 || b == 0xf3)
            e->rep = b;
        else if (b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e)
            e->seg = e->mode == 64 ? -1 : (b >> 3) & 3; /* 64-bit mode ignores these */
        else if (b == 0x64 || b == 0x65)
            e->seg = b == 0x64 ? HVT_SEG_FS : HVT_SEG_GS;
        else
            break;
    }
    e->op = b;
    if (e->mode == 64) {
        e->opsize = e->rex & REX_W ? 8 : opsz ? 2 : 4;
        e->adsize = adsz ? 4 : 8;
    } else {
        e->opsize = (e->mode == 32) != opsz ? 4 : 2;
        e->adsize = (e->mode == 32) != adsz ? 4 : 2;
    }
    return HVT_OUT_OKAY;
}

/* ---- outcomes -------------------------------------------------------------------------- */

static int finish(struct emu *e, const char *mnemonic)
{
    e->st->rip = (e->st->rip + e->len) & mask(e->mode / 8);
    e->res->insn_len = (uint8_t)e->len;
    strncpy(e->res->detail, mnemonic, sizeof(e->res->detail) - 1);
    return HVT_OUT_OKAY;
}

static int unimplemented(struct emu *e)
{
    static const char hex[] = "0123456789abcdef";
    e->res->out.kind = HVT_OUT_UNIMPLEMENTED;
    e->res->insn_len = (uint8_t)e->len;
    memcpy(e->res->detail, "linemu: opcode xx", 18);
    e->res->detail[15] = hex[e->op >> 4];
    e->res->detail[16] = hex[e->op & 15];
    return HVT_OUT_UNIMPLEMENTED;
}

static int invalid(struct emu *e)
{
    e->res->insn_len = (uint8_t)e->len;
    return e->svc->raise(e->s, HVT_VEC_UD, 0, 0, 0);
}

/* ---- memory operands ------------------------------------------------------------------- */

/* A data store through the services: translated for writing (the walk sets A and D). */
static int store(struct emu *e, unsigned seg, uint64_t off, const void *v, unsigned size,
                 unsigned operand)
{
#if LINEMU_MUTANT == 1
    /* the bug: translated as a read, so no dirty bit; the store goes straight to the op */
    struct hvt_svc_xlat x;
    struct hvt_op_info info = {.tag = tag(HVT_TAG_DATA, operand),
                               .kind = HVT_ACC_WRITE,
                               .seg = (uint8_t)seg,
                               .flags = HVT_OPF_LINEAR_VALID};
    int r = e->svc->map(e->s, seg, off, size, HVT_SVC_R, 1, &x);
    if (r)
        return r;
    info.linear = x.la;
    r = e->ops->write(e->ctx, x.gpa[0], v, size, &info);
    if (r == HVT_OP_OKAY)
        return HVT_OUT_OKAY;
    e->res->out.kind = r == HVT_OP_RETRY ? HVT_OUT_RETRY : HVT_OUT_UNHANDLEABLE;
    e->res->out.retry_cause = r == HVT_OP_RETRY ? HVT_RETRY_MMIO : 0;
    return e->res->out.kind;
#else
    return e->svc->write(e->s, seg, off, v, size, HVT_SVC_W, 1, tag(HVT_TAG_DATA, operand));
#endif
}

static int load(struct emu *e, unsigned seg, uint64_t off, void *v, unsigned size, unsigned operand)
{
    return e->svc->read(e->s, seg, off, v, size, HVT_SVC_R, 1, tag(HVT_TAG_DATA, operand));
}

/* ---- instructions ---------------------------------------------------------------------- */

static uint64_t parity_even(uint64_t v)
{
    v &= 0xff;
    v ^= v >> 4;
    v ^= v >> 2;
    v ^= v >> 1;
    return !(v & 1);
}

#define ARITH_FLAGS                                                                                \
    (HVT_RFLAGS_CF | HVT_RFLAGS_PF | HVT_RFLAGS_AF | HVT_RFLAGS_ZF | HVT_RFLAGS_SF | HVT_RFLAGS_OF)

/* The arithmetic flags of A + B (ADD) or A - B (CMPS) at SIZE bytes. */
static uint64_t arith_flags(uint64_t rflags, uint64_t a, uint64_t b, unsigned size, int sub)
{
    uint64_t m = mask(size), sign = 1ull << (8 * size - 1);
    uint64_t res = (sub ? a - b : a + b) & m, f = 0;
    a &= m, b &= m;
    if (sub ? a < b : res < a)
        f |= HVT_RFLAGS_CF;
    if (parity_even(res))
        f |= HVT_RFLAGS_PF;
    if ((a ^ b ^ res) & 0x10)
        f |= HVT_RFLAGS_AF;
    if (!res)
        f |= HVT_RFLAGS_ZF;
    if (res & sign)
        f |= HVT_RFLAGS_SF;
    if ((sub ? (a ^ b) & (a ^ res) : (a ^ res) & (b ^ res)) & sign)
        f |= HVT_RFLAGS_OF;
    return (rflags & ~ARITH_FLAGS) | f;
}

/* MOV 88-8B, C6/C7 and ADD 00-03, 80/81/83: a register or immediate with the ModRM operand. */
static int exec_modrm(struct emu *e)
{
    unsigned size = e->op & 1 ? e->opsize : 1, op = e->op;
    int is_add = op < 0x04 || (op >= 0x80 && op <= 0x83);
    int has_imm = (op >= 0x80 && op <= 0x83) || op == 0xc6 || op == 0xc7;
    int to_reg = !has_imm && op < 0x8c && (op & 2); /* 02/03, 8A/8B */
    uint64_t src = 0, dst = 0, v = 0;
    struct hvt_svc_xlat x;
    int r;

    if ((r = decode_modrm(e)))
        return r;
    if (has_imm && (e->reg & 7) != 0) /* /1../7: OR, ADC, ...; C6/C7 /7: XABORT, XBEGIN */
        return op >= 0xc6 && (e->reg & 7) != 7 ? invalid(e) : unimplemented(e);
    if (has_imm) /* the immediate follows the ModRM operand */
        r = fetch_imm(e, op == 0x81 || op == 0xc7 ? (size == 2 ? 2 : 4) : 1, 1, &src);
    else if (!to_reg)
        src = get_reg(e, e->reg, size);
    if (r)
        return r;
    if (e->lock && (!is_add || e->mod == 3 || to_reg))
        return invalid(e);
    if (e->lock) /* LOCK ADD: an atomic read-modify-write this example does not do */
        return unimplemented(e);
    if (to_reg) { /* 02/03, 8A/8B: the ModRM operand is the source */
        if (e->mod == 3)
            v = get_reg(e, e->rm, size);
        else if ((r = load(e, ea_seg(e), ea_off(e), &v, size, 0)))
            return r;
        if (is_add)
            e->st->rflags = arith_flags(e->st->rflags, get_reg(e, e->reg, size), v, size, 0);
        set_reg(e, e->reg, size, is_add ? get_reg(e, e->reg, size) + v : v);
        return finish(e, is_add ? "add" : "mov");
    }
    if (!is_add) { /* 88/89, C6/C7: a store */
        if (e->mod == 3) {
            set_reg(e, e->rm, size, src);
            return finish(e, "mov");
        }
        if ((r = store(e, ea_seg(e), ea_off(e), &src, size, 0)))
            return r;
        return finish(e, "mov");
    }
    if (e->mod == 3) { /* ADD to a register */
        dst = get_reg(e, e->rm, size);
        e->st->rflags = arith_flags(e->st->rflags, dst, src, size, 0);
        set_reg(e, e->rm, size, dst + src);
        return finish(e, "add");
    }
    /* ADD to memory: translated once for writing, read, then written */
    if ((r = e->svc->map(e->s, ea_seg(e), ea_off(e), size, HVT_SVC_W, 1, &x)) ||
        (r = e->svc->read_x(e->s, &x, &dst, tag(HVT_TAG_DATA, 0))))
        return r;
    v = dst + src;
    if ((r = e->svc->write_x(e->s, &x, &v, tag(HVT_TAG_DATA, 0))))
        return r;
    e->st->rflags = arith_flags(e->st->rflags, dst, src, size, 0);
    return finish(e, "add");
}

/* MOV A0-A3: AL/rAX with the memory at a direct offset (moffs, address-size wide). */
static int exec_moffs(struct emu *e)
{
    unsigned size = e->op & 1 ? e->opsize : 1;
    unsigned seg = e->seg >= 0 ? (unsigned)e->seg : HVT_SEG_DS;
    uint64_t off, v = 0;
    int r;
    if ((r = fetch_imm(e, e->adsize, 0, &off)))
        return r;
    if (e->lock)
        return invalid(e);
    if (e->op & 2) {
        v = get_reg(e, HVT_RAX, size);
        r = store(e, seg, off, &v, size, 0);
    } else if (!(r = load(e, seg, off, &v, size, 0))) {
        set_reg(e, HVT_RAX, size, v);
    }
    return r ? r : finish(e, "mov");
}

/* IN/OUT E4-E7 (imm8 port), EC-EF (DX port). */
static int exec_io(struct emu *e)
{
    unsigned size = !(e->op & 1) ? 1 : e->opsize == 2 ? 2 : 4;
    uint64_t port = 0, v = 0;
    int r, in = !(e->op & 2);
    if (e->op < 0xec && (r = fetch_imm(e, 1, 0, &port)))
        return r;
    if (e->lock)
        return invalid(e);
    if (e->op >= 0xec)
        port = e->st->gpr[HVT_RDX] & 0xffff;
    if ((r = e->svc->io_check(e->s, (uint16_t)port, size)))
        return r;
    if (in) {
        if ((r = e->svc->io_in(e->s, (uint16_t)port, &v, size, 0)))
            return r;
        set_reg(e, HVT_RAX, size, v);
    } else {
        v = get_reg(e, HVT_RAX, size);
        if ((r = e->svc->io_out(e->s, (uint16_t)port, &v, size, 0)))
            return r;
    }
    return finish(e, in ? "in" : "out");
}

/* The string instructions: one iteration per call (HVT_COREF_REP_ONE). With REP, RIP stays on
 * the instruction until RCX reaches 0 or REPE/REPNE ends it; the replayer calls again. */
static int exec_string(struct emu *e)
{
    unsigned op = e->op & ~1u, size = e->op & 1 ? e->opsize : 1;
    unsigned src_seg = e->seg >= 0 ? (unsigned)e->seg : HVT_SEG_DS;
    uint64_t si = get_reg(e, HVT_RSI, e->adsize), di = get_reg(e, HVT_RDI, e->adsize);
    uint64_t a = 0, b = 0, count = get_reg(e, HVT_RCX, e->adsize);
    uint16_t port = (uint16_t)e->st->gpr[HVT_RDX];
    int64_t step;
    const char *name = "";
    struct hvt_svc_xlat x;
    int r = HVT_OUT_OKAY, done;

    if (e->lock)
        return invalid(e);
    if ((op == 0x6c || op == 0x6e) && size == 8)
        size = 4; /* INS/OUTS move at most a dword */
    if ((op == 0x6c || op == 0x6e) && (r = e->svc->io_check(e->s, port, size)))
        return r; /* the permission check comes before everything, even a zero count */
    if (e->rep && count == 0)
        return finish(e, "rep"); /* nothing to do: RIP moves on */
    switch (op) {
    case 0xa4: /* MOVS: the source translated and read, then the destination */
        name = "movs";
        if (!(r = load(e, src_seg, si, &a, size, 0))) {
#if LINEMU_MUTANT == 2
            a ^= 0x01; /* the bug: the wrong byte lands in the destination */
#endif
            r = store(e, HVT_SEG_ES, di, &a, size, 1);
        }
        break;
    case 0xa6: /* CMPS: each operand translated and read in turn, the source first */
        name = "cmps";
        if (!(r = load(e, src_seg, si, &a, size, 0)) && !(r = load(e, HVT_SEG_ES, di, &b, size, 1)))
            e->st->rflags = arith_flags(e->st->rflags, a, b, size, 1);
        break;
    case 0xaa:
        name = "stos";
        a = get_reg(e, HVT_RAX, size);
        r = store(e, HVT_SEG_ES, di, &a, size, 0);
        break;
    case 0xac:
        name = "lods";
        if (!(r = load(e, src_seg, si, &a, size, 0)))
            set_reg(e, HVT_RAX, size, a);
        break;
    case 0x6c: /* INS: the destination translated before the port is read, so a fault does
                  not consume the device's data */
        name = "ins";
        if (!(r = e->svc->map(e->s, HVT_SEG_ES, di, size, HVT_SVC_W, 1, &x)) &&
            !(r = e->svc->io_in(e->s, port, &a, size, 0)))
            r = e->svc->write_x(e->s, &x, &a, tag(HVT_TAG_DATA, 0));
        break;
    case 0x6e:
        name = "outs";
        if (!(r = load(e, src_seg, si, &a, size, 0)))
            r = e->svc->io_out(e->s, port, &a, size, 0);
        break;
    }
    if (r)
        return r; /* the services filled the result; nothing in the state changed */
    step = e->st->rflags & HVT_RFLAGS_DF ? -(int64_t)size : (int64_t)size;
    if (op == 0xa4 || op == 0xa6 || op == 0xac || op == 0x6e)
        set_reg(e, HVT_RSI, e->adsize, si + (uint64_t)step);
    if (op == 0xa4 || op == 0xa6 || op == 0xaa || op == 0x6c)
        set_reg(e, HVT_RDI, e->adsize, di + (uint64_t)step);
    e->res->out.iterations = 1;
    if (!e->rep)
        return finish(e, name);
    set_reg(e, HVT_RCX, e->adsize, count - 1);
    done = count == 1;
    if (op == 0xa6) /* REPE stops on a difference, REPNE on equality */
        done |= (e->rep == 0xf3) != !!(e->st->rflags & HVT_RFLAGS_ZF);
    if (done)
        return finish(e, name);
    strncpy(e->res->detail, name, sizeof(e->res->detail) - 1);
    return HVT_OUT_OKAY; /* RIP unchanged: the next call runs the next iteration */
}

/* Opcodes that are no instruction at all in 64-bit mode (the rest are valid somewhere). */
static int invalid_in_64(uint8_t op)
{
    static const uint8_t ops[] = {0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37,
                                  0x3f, 0x60, 0x61, 0x82, 0x9a, 0xce, 0xd4, 0xd5, 0xd6, 0xea};
    return memchr(ops, op, sizeof(ops)) != NULL;
}

static int emulate(struct emu *e)
{
    uint8_t b;
    int r;
    if ((r = decode_prefixes(e)))
        return r;
    if (e->mode == 64 && invalid_in_64(e->op))
        return invalid(e);
    if (e->op <= 0x03 || (e->op >= 0x80 && e->op <= 0x83) || (e->op >= 0x88 && e->op <= 0x8b) ||
        e->op == 0xc6 || e->op == 0xc7)
        return exec_modrm(e);
    if (e->op >= 0xa0 && e->op <= 0xa3)
        return exec_moffs(e);
    if ((e->op >= 0xe4 && e->op <= 0xe7) || (e->op >= 0xec && e->op <= 0xef))
        return exec_io(e);
    if ((e->op >= 0xa4 && e->op <= 0xa7) || (e->op >= 0xaa && e->op <= 0xad) ||
        (e->op >= 0x6c && e->op <= 0x6f))
        return exec_string(e);
    if (e->op == 0x0f) {
        if ((r = fetch_byte(e, &b)))
            return r;
        if (b == 0x0b || b == 0xb9 || b == 0xff) /* UD2, UD1, UD0 */
            return invalid(e);
        e->op = b;
    }
    return unimplemented(e);
}

/* ---- the plugin ------------------------------------------------------------------------ */

static int lm_emulate2(void *inst, struct hvt_vcpu_state *st, struct hvt_core_env *env,
                       const struct hvt_core_ops *ops, void *ctx, struct hvt_core_result *res)
{
    struct emu e;
    uint64_t rflags0;
    (void)inst;
    if (!st || !env || !env->svc || !env->session || !ops || !res)
        return -HVT_E_INVALID;
    rflags0 = st->rflags;
    memset(&e, 0, sizeof(e));
    e.svc = env->svc;
    e.s = env->session;
    e.st = st;
    e.ops = ops;
    e.ctx = ctx;
    e.res = res;
    e.seg = -1;
    e.mode = e.svc->mode_bits(e.s);
    /* The outcome is in RES: the services filled it for a fault, RETRY or UNHANDLEABLE, and
     * every path changes the state only after its last access (the RETRY contract). */
    if (emulate(&e) == HVT_OUT_OKAY && (rflags0 & HVT_RFLAGS_TF))
        res->retire |= HVT_RETIRE_SINGLESTEP; /* a single-step trap follows (each iteration) */
    return 0;
}

static int lm_create(void **inst)
{
    *inst = calloc(1, sizeof(struct linemu));
    return *inst ? 0 : -HVT_E_NOMEM;
}

static void lm_destroy(void *inst)
{
    struct linemu *c = inst;
    if (c)
        free(c->cpu);
    free(c);
}

static int lm_set_option(void *inst, const char *key, const char *value)
{
    struct linemu *c = inst;
    char *copy;
    if (!c || !key || !value)
        return -HVT_E_INVALID;
    if (strcmp(key, "cpu"))
        return -HVT_E_UNSUPPORTED;
    /* kept for a core that would follow it; the services check the profile's CR4/EFER bits */
    if (!(copy = malloc(strlen(value) + 1)))
        return -HVT_E_NOMEM;
    strcpy(copy, value);
    free(c->cpu);
    c->cpu = copy;
    return 0;
}

static const struct hvt_core_plugin linemu_plugin = {
    .abi_version = 2,
    .size = sizeof(struct hvt_core_plugin),
#if LINEMU_MUTANT
    .name = "linemu-mutant",
#else
    .name = "linemu",
#endif
    .version = "1",
    .build_id = "linemu-1",
    .create = lm_create,
    .destroy = lm_destroy,
    .set_option = lm_set_option,
    .emulate = NULL, /* version 1 has no services: this core is emulate2 only */
    .flags = HVT_COREF_REP_ONE | HVT_COREF_LINEAR,
    .emulate2 = lm_emulate2,
};

/* The one exported symbol: this core implements version 2 only (it needs the services). */
__attribute__((visibility("default"))) const struct hvt_core_plugin *
hvt_core_entry(uint32_t abi_version);

const struct hvt_core_plugin *hvt_core_entry(uint32_t abi_version)
{
    return abi_version == 2 ? &linemu_plugin : NULL;
}
