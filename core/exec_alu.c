/* SPDX-License-Identifier: MIT */
/* Reference core executor: integer arithmetic, shifts/rotates and condition codes with flags. */
#include "exec.h"

uint64_t hvt_szp(unsigned size, uint64_t r)
{
    uint64_t f = 0;
    r &= hvt_szmask(size);
    if (!r)
        f |= HVT_RFLAGS_ZF;
    if (r & hvt_szsign(size))
        f |= HVT_RFLAGS_SF;
    if (!__builtin_parity((unsigned)(r & 0xff)))
        f |= HVT_RFLAGS_PF;
    return f;
}

uint64_t hvt_alu(unsigned op, unsigned size, uint64_t a, uint64_t b, uint64_t *fl)
{
    const uint64_t m = hvt_szmask(size), s = hvt_szsign(size);
    uint64_t r, f = *fl & ~HVT_FL_ARITH, c, v;
    a &= m;
    b &= m;
    switch (op) {
    case HVT_ALU_INC:
    case HVT_ALU_ADD:
    case HVT_ALU_ADC:
        if (op == HVT_ALU_INC)
            b = 1;
        c = op == HVT_ALU_ADC && (*fl & HVT_RFLAGS_CF);
        r = (a + b + c) & m;
        v = (a & b) | ((a | b) & ~r); /* carry out of each bit */
        if (op == HVT_ALU_INC)
            f |= *fl & HVT_RFLAGS_CF; /* INC leaves CF alone */
        else if (v & s)
            f |= HVT_RFLAGS_CF;
        if ((a ^ r) & (b ^ r) & s)
            f |= HVT_RFLAGS_OF;
        if ((a ^ b ^ r) & 0x10)
            f |= HVT_RFLAGS_AF;
#ifdef HVT_MUTANT_FLAG /* replayer tests: a deliberate bug, ADD/ADC/INC report PF inverted */
        f ^= HVT_RFLAGS_PF;
#endif
        break;
    case HVT_ALU_NEG:
    case HVT_ALU_DEC:
    case HVT_ALU_SUB:
    case HVT_ALU_CMP:
    case HVT_ALU_SBB:
        if (op == HVT_ALU_DEC)
            b = 1;
        if (op == HVT_ALU_NEG) {
            b = a;
            a = 0;
        }
        c = op == HVT_ALU_SBB && (*fl & HVT_RFLAGS_CF);
        r = (a - b - c) & m;
        v = (~a & b) | (~(a ^ b) & r); /* borrow out of each bit */
        if (op == HVT_ALU_DEC)
            f |= *fl & HVT_RFLAGS_CF;
        else if (v & s)
            f |= HVT_RFLAGS_CF;
        if ((a ^ b) & (a ^ r) & s)
            f |= HVT_RFLAGS_OF;
        if ((a ^ b ^ r) & 0x10)
            f |= HVT_RFLAGS_AF;
        break;
    case HVT_ALU_AND:
    case HVT_ALU_TEST:
        r = a & b;
        break; /* CF = OF = 0; AF undefined: cleared (docs/CORE.md) */
    case HVT_ALU_OR:
        r = a | b;
        break;
    case HVT_ALU_XOR:
        r = a ^ b;
        break;
    case HVT_ALU_NOT:
    default:
        return ~a & m; /* NOT changes no flag */
    }
    *fl = f | hvt_szp(size, r);
    return r;
}

uint64_t hvt_shift(unsigned op, unsigned size, uint64_t a, unsigned count, uint64_t *fl)
{
    const unsigned bits = size * 8;
    const uint64_t m = hvt_szmask(size), s = hvt_szsign(size);
    unsigned c = count & (size == 8 ? 63u : 31u), t;
    uint64_t r, f = *fl, cf;
    int64_t sa;

    a &= m;
    if (!c)
        return a; /* a masked count of 0 changes no flag */
    switch (op) {
    case HVT_SH_SHL:
        cf = c <= bits ? (a >> (bits - c)) & 1 : 0;
        r = c >= bits ? 0 : (a << c) & m;
        f &= ~HVT_FL_ARITH;
        f |= hvt_szp(size, r) | (cf ? HVT_RFLAGS_CF : 0);
        /* OF: defined for count 1 as MSB(result) ^ CF; the same formula for larger counts */
        if (!!(r & s) != !!cf)
            f |= HVT_RFLAGS_OF;
        break;
    case HVT_SH_SHR:
        cf = (a >> (c - 1)) & 1;
        r = c >= bits ? 0 : a >> c;
        f &= ~HVT_FL_ARITH;
        f |= hvt_szp(size, r) | (cf ? HVT_RFLAGS_CF : 0);
        /* OF: MSB of the operand shifted by count-1, XOR MSB(result): for count 1 the
         * original MSB (as defined), for larger counts 0 */
        if (((a >> (c - 1)) ^ r) & s)
            f |= HVT_RFLAGS_OF;
        break;
    case HVT_SH_SAR:
        sa = hvt_sext(a, size);
        cf = (uint64_t)(sa >> (c - 1 > 63 ? 63 : c - 1)) & 1;
        r = (uint64_t)(sa >> (c > 63 ? 63 : c)) & m;
        f &= ~HVT_FL_ARITH;
        f |= hvt_szp(size, r) | (cf ? HVT_RFLAGS_CF : 0); /* OF = 0 */
        break;
    case HVT_SH_ROL:
    case HVT_SH_ROR:
        t = c % bits;
        if (op == HVT_SH_ROL)
            r = t ? ((a << t) | (a >> (bits - t))) & m : a;
        else
            r = t ? ((a >> t) | (a << (bits - t))) & m : a;
        f &= ~(HVT_RFLAGS_CF | HVT_RFLAGS_OF);
        if (op == HVT_SH_ROL) {
            cf = r & 1;
            if (!!(r & s) != !!cf)
                f |= HVT_RFLAGS_OF;
        } else {
            cf = !!(r & s);
            if (!!(r & s) != !!(r & (s >> 1)))
                f |= HVT_RFLAGS_OF;
        }
        if (cf)
            f |= HVT_RFLAGS_CF;
        break;
    case HVT_SH_RCL:
    case HVT_SH_RCR:
    default:
        t = size == 1 ? c % 9 : size == 2 ? c % 17 : c;
        if (!t)
            return a; /* rotation by a multiple of size+1: nothing changes */
        cf = !!(f & HVT_RFLAGS_CF);
        r = a;
        for (unsigned i = 0; i < t; i++) {
            uint64_t ncf;
            if (op == HVT_SH_RCL) {
                ncf = !!(r & s);
                r = ((r << 1) | cf) & m;
            } else {
                ncf = r & 1;
                r = (r >> 1) | (cf ? s : 0);
            }
            cf = ncf;
        }
        f &= ~(HVT_RFLAGS_CF | HVT_RFLAGS_OF);
        if (cf)
            f |= HVT_RFLAGS_CF;
        /* OF: MSB(old ^ new): the defined value for count 1 (RCL: MSB(r) ^ CF; RCR: MSB(old)
         * ^ old CF), the same formula for larger counts */
        if ((a ^ r) & s)
            f |= HVT_RFLAGS_OF;
        break;
    }
    *fl = f;
    return r;
}

int hvt_cond(unsigned cc, uint64_t f)
{
    int cf = !!(f & HVT_RFLAGS_CF), zf = !!(f & HVT_RFLAGS_ZF), sf = !!(f & HVT_RFLAGS_SF);
    int of = !!(f & HVT_RFLAGS_OF), pf = !!(f & HVT_RFLAGS_PF);
    int r;
    switch (cc >> 1) {
    case 0:
        r = of;
        break;
    case 1:
        r = cf;
        break;
    case 2:
        r = zf;
        break;
    case 3:
        r = cf || zf;
        break;
    case 4:
        r = sf;
        break;
    case 5:
        r = pf;
        break;
    case 6:
        r = sf != of;
        break;
    default:
        r = zf || sf != of;
        break;
    }
    return (cc & 1) ? !r : r;
}
