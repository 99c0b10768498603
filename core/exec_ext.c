/* SPDX-License-Identifier: MIT */
/* Reference core extensions: dispatch of the string, SIMD and gather forms, shared helpers. */
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

void hvt_xi_next(struct hvt_emu *e, const struct hvt_dinsn *d)
{
    uint64_t ip = e->st->rip + d->len;
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

/* ---- entry ----------------------------------------------------------------------------- */

uint64_t hvt_xi_ea(const struct hvt_emu *e, const struct hvt_dinsn *d)
{
    return hvt_dec_ea(&d->enc.mem, d->addrsize, e->st->gpr, e->st->rip + d->len, 0, 0);
}

int hvt_exec_ext(struct hvt_emu *e, const struct hvt_dinsn *d)
{
    const struct hvt_denc *c;

    if (!e || !e->st || !e->res || !d)
        return HVT_OUT_UNHANDLEABLE;
    c = &d->enc;
    e->res->out.iterations = 0;
    if (c->status == HVT_DENC_UD)
        return hvt_xi_ud(e);
    if (c->status != HVT_DENC_OK)
        return hvt_xi_unimpl(e, "ext: undecodable form");
    if (c->elen != d->len)
        return hvt_xi_unhandleable(e, "ext: decoder length disagrees");
    if (c->map == 1) {
        uint8_t op = c->opcode;
        if ((op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf) || (op >= 0x6c && op <= 0x6f))
            return hvt_exec_string(e, d);
        return hvt_xi_unimpl(e, "ext: not a string op");
    }
    if (c->map == 2 && c->opcode == 0xc7 && !c->vex)
        return hvt_exec_cmpxchg8b(e, d);
    if (c->map == 3 && c->vex && c->opcode >= 0x90 && c->opcode <= 0x93)
        return hvt_exec_gather(e, d);
    return hvt_exec_simd(e, d);
}

int hvt_exec_ext_bytes(struct hvt_emu *e, const uint8_t *bytes, unsigned len)
{
    struct hvt_dinsn d;

    if (!e || !e->st || !e->res || !bytes)
        return HVT_OUT_UNHANDLEABLE;
    memset(&d, 0, sizeof(d));
    hvt_dec_parse(e->mode, bytes, len ? len : HVT_INSN_MAX, &d);
    d.len = len ? (uint8_t)len : d.enc.elen;
    return hvt_exec_ext(e, &d);
}
