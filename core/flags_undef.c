/* SPDX-License-Identifier: MIT */
/* Reference core: the table of architecturally undefined flags per instruction (SDM vol. 2). */
#include "flags_undef.h"

#include <capstone/capstone.h>
#include <string.h>

#include "emu.h"

uint64_t hvt_core_undef_flags(unsigned insn_id, unsigned opsize, unsigned count)
{
    const uint64_t cf = HVT_RFLAGS_CF, pf = HVT_RFLAGS_PF, af = HVT_RFLAGS_AF;
    const uint64_t zf = HVT_RFLAGS_ZF, sf = HVT_RFLAGS_SF, of = HVT_RFLAGS_OF;
    unsigned bits = opsize * 8;
    unsigned c = count & (opsize == 8 ? 63u : 31u);
    uint64_t m = 0;

    switch (insn_id) {
    case X86_INS_AND:
    case X86_INS_OR:
    case X86_INS_XOR:
    case X86_INS_TEST:
        return af;
    case X86_INS_MUL:
    case X86_INS_IMUL:
        return sf | zf | af | pf;
    case X86_INS_DIV:
    case X86_INS_IDIV:
        return cf | of | sf | zf | af | pf;
    case X86_INS_BT:
    case X86_INS_BTS:
    case X86_INS_BTR:
    case X86_INS_BTC:
        return of | sf | af | pf;
    case X86_INS_SHL:
    case X86_INS_SAL:
    case X86_INS_SHR:
    case X86_INS_SAR:
        if (!c)
            return 0;
        m = af;
        if (c != 1)
            m |= of;
        if (c >= bits && insn_id != X86_INS_SAR)
            m |= cf;
        return m;
    case X86_INS_ROL:
    case X86_INS_ROR:
    case X86_INS_RCL:
    case X86_INS_RCR:
        return c > 1 ? of : 0;
    default:
        return 0;
    }
}

uint64_t hvt_core_undef_flags_of(const char *mnemonic, unsigned opsize, unsigned count)
{
    static const struct {
        const char *mnem;
        unsigned id;
    } ids[] = {
        {"and", X86_INS_AND},   {"or", X86_INS_OR},     {"xor", X86_INS_XOR},
        {"test", X86_INS_TEST}, {"mul", X86_INS_MUL},   {"imul", X86_INS_IMUL},
        {"div", X86_INS_DIV},   {"idiv", X86_INS_IDIV}, {"bt", X86_INS_BT},
        {"bts", X86_INS_BTS},   {"btr", X86_INS_BTR},   {"btc", X86_INS_BTC},
        {"shl", X86_INS_SHL},   {"sal", X86_INS_SAL},   {"shr", X86_INS_SHR},
        {"sar", X86_INS_SAR},   {"rol", X86_INS_ROL},   {"ror", X86_INS_ROR},
        {"rcl", X86_INS_RCL},   {"rcr", X86_INS_RCR},
    };
    for (size_t i = 0; mnemonic && i < sizeof(ids) / sizeof(ids[0]); i++)
        if (!strcmp(mnemonic, ids[i].mnem))
            return hvt_core_undef_flags(ids[i].id, opsize, count);
    return 0; /* every flag the instruction writes is defined (or it writes none) */
}
