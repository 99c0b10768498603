/* SPDX-License-Identifier: MIT */
/* Reference core extensions: byte decoder and dispatch for string, SIMD and gather forms. */
#include "exec_ext.h"

#include <capstone/x86.h>
#include <string.h>

int hvt_exec_ext_owns(unsigned id)
{
    switch (id) {
    case X86_INS_MOVSB:
    case X86_INS_MOVSW:
    case X86_INS_MOVSD:
    case X86_INS_MOVSQ:
    case X86_INS_STOSB:
    case X86_INS_STOSW:
    case X86_INS_STOSD:
    case X86_INS_STOSQ:
    case X86_INS_LODSB:
    case X86_INS_LODSW:
    case X86_INS_LODSD:
    case X86_INS_LODSQ:
    case X86_INS_CMPSB:
    case X86_INS_CMPSW:
    case X86_INS_CMPSD:
    case X86_INS_CMPSQ:
    case X86_INS_SCASB:
    case X86_INS_SCASW:
    case X86_INS_SCASD:
    case X86_INS_SCASQ:
    case X86_INS_INSB:
    case X86_INS_INSW:
    case X86_INS_INSD:
    case X86_INS_OUTSB:
    case X86_INS_OUTSW:
    case X86_INS_OUTSD:
    case X86_INS_CMPXCHG8B:
    case X86_INS_CMPXCHG16B:
    case X86_INS_MOVNTI:
    case X86_INS_MOVD:
    case X86_INS_MOVQ:
    case X86_INS_MOVAPS:
    case X86_INS_MOVAPD:
    case X86_INS_MOVUPS:
    case X86_INS_MOVUPD:
    case X86_INS_MOVDQA:
    case X86_INS_MOVDQU:
    case X86_INS_MOVNTDQ:
    case X86_INS_MOVNTPS:
    case X86_INS_MOVNTPD:
    case X86_INS_VMOVDQA:
    case X86_INS_VMOVDQU:
    case X86_INS_VMOVAPS:
    case X86_INS_VMOVAPD:
    case X86_INS_VMOVUPS:
    case X86_INS_VMOVUPD:
    case X86_INS_VMOVD:
    case X86_INS_VMOVQ:
    case X86_INS_VPGATHERDD:
    case X86_INS_VPGATHERDQ:
    case X86_INS_VPGATHERQD:
    case X86_INS_VPGATHERQQ:
    case X86_INS_VGATHERDPS:
    case X86_INS_VGATHERDPD:
    case X86_INS_VGATHERQPS:
    case X86_INS_VGATHERQPD:
        return 1;
    default:
        return 0;
    }
}

int hvt_xi_unimpl(struct hvt_emu *e, const char *what)
{
    e->res->out.kind = HVT_OUT_UNIMPLEMENTED;
    strncpy(e->res->detail, what, sizeof(e->res->detail) - 1);
    e->res->detail[sizeof(e->res->detail) - 1] = 0;
    return HVT_OUT_UNIMPLEMENTED;
}

int hvt_xi_unhandleable(struct hvt_emu *e, const char *what)
{
    e->res->out.kind = HVT_OUT_UNHANDLEABLE;
    strncpy(e->res->detail, what, sizeof(e->res->detail) - 1);
    e->res->detail[sizeof(e->res->detail) - 1] = 0;
    return HVT_OUT_UNHANDLEABLE;
}

int hvt_xi_ud(struct hvt_emu *e)
{
    return hvt_emu_raise(e, HVT_VEC_UD, 0, 0, 0);
}

int hvt_xi_need(struct hvt_emu *e, unsigned f)
{
    /* CPUID says the opcode does not exist on this CPU: #UD, before any operand access */
    return hvt_emu_has(e, f) ? HVT_OUT_OKAY : hvt_xi_ud(e);
}

void hvt_xi_set_gpr(struct hvt_emu *e, unsigned reg, unsigned size, uint64_t v)
{
    uint64_t *r = &e->st->gpr[reg & 15];
    switch (size) {
    case 1:
        *r = (*r & ~0xffull) | (v & 0xff);
        break;
    case 2:
        *r = (*r & ~0xffffull) | (v & 0xffff);
        break;
    case 4:
        *r = (uint32_t)v;
        break;
    default:
        *r = v;
    }
}

uint64_t hvt_xi_get_gpr(const struct hvt_emu *e, unsigned reg, unsigned size)
{
    uint64_t v = e->st->gpr[reg & 15];
    return size == 1 ? (uint8_t)v : size == 2 ? (uint16_t)v : size == 4 ? (uint32_t)v : v;
}

void hvt_xi_next(struct hvt_emu *e, const struct hvt_xi *xi)
{
    uint64_t ip = e->st->rip + xi->len;
    if (e->mode == HVT_MODE_PROT32)
        ip = (uint32_t)ip;
    else if (e->mode != HVT_MODE_LONG64)
        ip = (uint16_t)ip;
    e->st->rip = ip;
}

static unsigned parity(uint64_t v)
{
    return !(__builtin_popcount((unsigned)(v & 0xff)) & 1);
}

uint64_t hvt_xi_sub_flags(uint64_t fl, uint64_t dst, uint64_t src, unsigned size)
{
    unsigned bits = size * 8;
    uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
    uint64_t res = (dst - src) & mask, sign = 1ull << (bits - 1);
    dst &= mask;
    src &= mask;
    fl &= ~(HVT_RFLAGS_CF | HVT_RFLAGS_PF | HVT_RFLAGS_AF | HVT_RFLAGS_ZF | HVT_RFLAGS_SF |
            HVT_RFLAGS_OF);
    if (dst < src)
        fl |= HVT_RFLAGS_CF;
    if (parity(res))
        fl |= HVT_RFLAGS_PF;
    if ((dst ^ src ^ res) & 0x10)
        fl |= HVT_RFLAGS_AF;
    if (!res)
        fl |= HVT_RFLAGS_ZF;
    if (res & sign)
        fl |= HVT_RFLAGS_SF;
    if ((dst ^ src) & (dst ^ res) & sign)
        fl |= HVT_RFLAGS_OF;
    return fl;
}

int hvt_xi_simd_check(struct hvt_emu *e, int avx)
{
    const struct hvt_vcpu_state *st = e->st;
    if (!(st->flags & HVT_STATE_SIMD_VALID))
        return hvt_xi_unhandleable(e, "SIMD registers not in the vCPU state");
    if (avx) {
        /* VEX: CR4.OSXSAVE and XCR0 SSE+AVX enabled, else #UD; then CR0.TS -> #NM */
        if (!(st->cr4 & HVT_CR4_OSXSAVE) || (st->xcr0 & 6) != 6)
            return hvt_xi_ud(e);
    } else {
        /* legacy SSE: CR0.EM or !CR4.OSFXSR -> #UD; then CR0.TS -> #NM */
        if ((st->cr0 & (1ull << 2)) || !(st->cr4 & (1ull << 9)))
            return hvt_xi_ud(e);
    }
    if (st->cr0 & (1ull << 3))
        return hvt_emu_raise(e, HVT_VEC_NM, 0, 0, 0);
    return HVT_OUT_OKAY;
}

/* ---- decoder --------------------------------------------------------------------------- */

/* 16-bit ModRM bases/indexes: BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP, BX. */
static const int8_t base16[8] = {HVT_RBX, HVT_RBX, HVT_RBP, HVT_RBP,
                                 HVT_RSI, HVT_RDI, HVT_RBP, HVT_RBX};
static const int8_t index16[8] = {HVT_RSI, HVT_RDI, HVT_RSI, HVT_RDI, -1, -1, -1, -1};

/* Reads N little-endian bytes at *P (bounded by END), advancing it; -1 when out of bytes. */
static int take(const uint8_t **p, const uint8_t *end, unsigned n, int64_t *v)
{
    uint64_t x = 0;
    if ((size_t)(end - *p) < n)
        return -1;
    for (unsigned i = 0; i < n; i++)
        x |= (uint64_t)(*p)[i] << (8 * i);
    *p += n;
    if (n == 1)
        *v = (int8_t)x;
    else if (n == 2)
        *v = (int16_t)x;
    else
        *v = (int32_t)x;
    return 0;
}

static int decode_modrm(struct hvt_emu *e, struct hvt_xi *xi, const uint8_t **p, const uint8_t *end)
{
    unsigned m, rexr, rexx, rexb;
    int64_t d = 0;
    if (*p >= end)
        return -1;
    m = *(*p)++;
    xi->has_modrm = 1;
    rexr = (xi->rex >> 2) & 1;
    rexx = (xi->rex >> 1) & 1;
    rexb = xi->rex & 1;
    xi->mod = m >> 6;
    xi->reg = ((m >> 3) & 7) | (rexr << 3);
    xi->rm = (m & 7) | (rexb << 3);
    xi->base = -1;
    xi->index = -1;
    xi->scale = 1;
    xi->disp = 0;
    if (xi->mod == 3)
        return 0;
    if (xi->adsize == 2) {
        unsigned rm = m & 7;
        if (xi->mod == 0 && rm == 6) {
            if (take(p, end, 2, &d))
                return -1;
            xi->disp = (uint16_t)d;
        } else {
            xi->base = base16[rm];
            xi->index = index16[rm];
            if (xi->mod && take(p, end, xi->mod == 1 ? 1 : 2, &d))
                return -1;
            xi->disp = d;
        }
    } else {
        unsigned rm = m & 7;
        if (rm == 4) {
            unsigned sib;
            if (*p >= end)
                return -1;
            sib = *(*p)++;
            xi->scale = 1u << (sib >> 6);
            xi->vindex = ((sib >> 3) & 7) | (rexx << 3);
            xi->has_sib = 1;
            /* index 100 without REX.X means none (VSIB uses vindex, where it is xmm4) */
            xi->index = xi->vindex == 4 ? -1 : (int)xi->vindex;
            if ((sib & 7) == 5 && xi->mod == 0) {
                xi->base = -1;
                if (take(p, end, 4, &d))
                    return -1;
            } else {
                xi->base = (int)((sib & 7) | (rexb << 3));
            }
        } else if (rm == 5 && xi->mod == 0) {
            xi->base = e->mode == HVT_MODE_LONG64 ? 16 : -1;
            if (take(p, end, 4, &d))
                return -1;
        } else {
            xi->base = (int)(rm | (rexb << 3));
        }
        if (xi->mod == 1 && take(p, end, 1, &d))
            return -1;
        if (xi->mod == 2 && take(p, end, 4, &d))
            return -1;
        xi->disp = d;
    }
    if (xi->seg_ovr >= 0)
        xi->seg = (unsigned)xi->seg_ovr;
    else if (xi->base == HVT_RSP || xi->base == HVT_RBP)
        xi->seg = HVT_SEG_SS;
    else
        xi->seg = HVT_SEG_DS;
    return 0;
}

uint64_t hvt_xi_ea(struct hvt_emu *e, const struct hvt_xi *xi)
{
    uint64_t a = (uint64_t)xi->disp;
    if (xi->base == 16)
        a += e->st->rip + xi->len;
    else if (xi->base >= 0)
        a += e->st->gpr[xi->base];
    if (xi->index >= 0)
        a += e->st->gpr[xi->index] * xi->scale;
    return hvt_xi_admask(xi->adsize, a);
}

/* Parses prefixes, REX/VEX, opcode and ModRM. 0, or -1 when the bytes are not a form we know
 * how to parse (the caller reports UNIMPLEMENTED), or -2 for #UD encodings. */
static int decode(struct hvt_emu *e, struct hvt_xi *xi, const uint8_t *b, unsigned n)
{
    const uint8_t *p = b, *end = b + n;
    int long64 = e->mode == HVT_MODE_LONG64;
    int def32 = e->mode != HVT_MODE_PROT16;
    unsigned p67 = 0;

    memset(xi, 0, sizeof(*xi));
    xi->b = b;
    xi->seg_ovr = -1;
    for (;; p++) {
        if (p >= end)
            return -1;
        switch (*p) {
        case 0xf0:
            xi->lock = 1;
            continue;
        case 0xf2:
        case 0xf3:
            xi->rep = *p;
            continue;
        case 0x66:
            xi->p66 = 1;
            continue;
        case 0x67:
            p67 = 1;
            continue;
        case 0x26:
            xi->seg_ovr = HVT_SEG_ES;
            continue;
        case 0x2e:
            xi->seg_ovr = HVT_SEG_CS;
            continue;
        case 0x36:
            xi->seg_ovr = HVT_SEG_SS;
            continue;
        case 0x3e:
            xi->seg_ovr = HVT_SEG_DS;
            continue;
        case 0x64:
            xi->seg_ovr = HVT_SEG_FS;
            continue;
        case 0x65:
            xi->seg_ovr = HVT_SEG_GS;
            continue;
        default:
            break;
        }
        break;
    }
    /* 64-bit mode ignores ES/CS/SS/DS overrides (their bases are 0; DS semantics) */
    if (long64 && xi->seg_ovr >= 0 && xi->seg_ovr < HVT_SEG_FS)
        xi->seg_ovr = -1;
    if (long64 && (*p & 0xf0) == 0x40) {
        xi->rex = *p++;
        if (p >= end)
            return -1;
    }
    xi->adsize = long64 ? (p67 ? 4 : 8) : (def32 ^ p67) ? 4 : 2;
    xi->vw = (xi->rex >> 3) & 1;
    xi->opsize = xi->vw ? 8 : (def32 ^ xi->p66) ? 4 : 2;
    if ((*p == 0xc4 || *p == 0xc5) && p + 1 < end && (long64 || (p[1] & 0xc0) == 0xc0)) {
        unsigned r, x = 1, bb = 1, mmmmm = 1, v;
        if (xi->rex || xi->p66 || xi->rep || xi->lock)
            return -2;
        xi->vex = 1;
        if (*p == 0xc5) {
            if (p + 2 >= end)
                return -1;
            r = p[1] >> 7;
            v = p[1];
            p += 2;
        } else {
            if (p + 3 >= end)
                return -1;
            r = p[1] >> 7;
            x = (p[1] >> 6) & 1;
            bb = (p[1] >> 5) & 1;
            mmmmm = p[1] & 0x1f;
            xi->vw = p[2] >> 7;
            v = p[2];
            p += 3;
        }
        xi->vvvv = (~v >> 3) & 15;
        xi->vl = (v >> 2) & 1;
        xi->pp = v & 3;
        if (!long64)
            xi->vvvv &= 7;
        xi->rex = 0x40 | (long64 ? ((!r) << 2) | ((!x) << 1) | (!bb) : 0);
        if (mmmmm < 1 || mmmmm > 3)
            return -1;
        xi->map = mmmmm + 1;
    } else if (*p == 0x0f) {
        p++;
        if (p >= end)
            return -1;
        if (*p == 0x38 || *p == 0x3a) {
            xi->map = *p == 0x38 ? 3 : 4;
            p++;
        } else {
            xi->map = 2;
        }
    } else {
        xi->map = 1;
    }
    if (p >= end)
        return -1;
    xi->op = *p++;
    /* which of our forms take a ModRM byte: everything outside the one-byte string ops */
    if (xi->map != 1) {
        if (decode_modrm(e, xi, &p, end))
            return -1;
    }
    xi->len = (unsigned)(p - b);
    return 0;
}

int hvt_exec_ext(struct hvt_emu *e, const uint8_t *bytes, unsigned len)
{
    struct hvt_xi xi;
    int r;

    if (!e || !e->st || !e->res || !bytes)
        return HVT_OUT_UNHANDLEABLE;
    e->res->out.iterations = 0;
    r = decode(e, &xi, bytes, len ? len : HVT_INSN_MAX);
    if (r == -2)
        return hvt_xi_ud(e);
    if (r)
        return hvt_xi_unimpl(e, "ext: undecodable form");
    if (len && xi.len != len)
        return hvt_xi_unhandleable(e, "ext: decoder length disagrees");
    if (xi.map == 1) {
        uint8_t op = xi.op;
        if ((op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf) || (op >= 0x6c && op <= 0x6f))
            return hvt_exec_string(e, &xi);
        return hvt_xi_unimpl(e, "ext: not a string op");
    }
    if (xi.map == 2 && xi.op == 0xc7 && !xi.vex)
        return hvt_exec_cmpxchg8b(e, &xi);
    if (xi.map == 3 && xi.vex && xi.op >= 0x90 && xi.op <= 0x93)
        return hvt_exec_gather(e, &xi);
    return hvt_exec_simd(e, &xi);
}
