/* SPDX-License-Identifier: MIT */
/* Oracle: the table of instruction forms (base set; string, SIMD, gather extensions). */
#include <string.h>


#include "orc_internal.h"

#define ALU(n, i)                                                                            \
    {n " m,r", n, K_RM_R, 0, (i) * 8, (i) * 8 + 1, -1, (i) != 7, (i) == 1 || (i) == 4 || (i) == 6 ? F_LOGIC : F_NONE, 0, 0, 0, 0, 0}, \
    {n " r,m", n, K_R_RM, 0, (i) * 8 + 2, (i) * 8 + 3, -1, 0, (i) == 1 || (i) == 4 || (i) == 6 ? F_LOGIC : F_NONE, 0, 0, 0, 0, 0}, \
    {n " m,imm", n, K_RM_IMM, 0, 0x80, 0x81, (i), (i) != 7, (i) == 1 || (i) == 4 || (i) == 6 ? F_LOGIC : F_NONE, 0, 0, 0, 0, 0}, \
    {n " m,imm8", n, K_RM_IMM8, 0, -1, 0x83, (i), (i) != 7, (i) == 1 || (i) == 4 || (i) == 6 ? F_LOGIC : F_NONE, 0, 0, 0, 0, 0}
#define SHIFT(n, i, fc)                                                                       \
    {n " m,1", n, K_RM_1, 0, 0xd0, 0xd1, (i), 0, fc, 0, 0, 0, 0, 0},                                      \
    {n " m,cl", n, K_RM_CL, 0, 0xd2, 0xd3, (i), 0, fc, 0, 0, 0, 0, 0},                                    \
    {n " m,imm8", n, K_RM_IMM8, 0, 0xc0, 0xc1, (i), 0, fc, 0, 0, 0, 0, 0}
#define BT(n, i, rop, lk)                                                                     \
    {n " m,imm8", n, K_BT_IMM, 1, -1, 0xba, (i), lk, F_BT, 0, 0, 0, 0, 0},                                \
    {n " m,r", n, K_BT_R, 1, -1, rop, -1, lk, F_BT, 0, 0, 0, 0, 0}
/* string instructions: NAME, MNEMONIC, byte opcode, REP kind */
#define STR(n, m, op, rep) {n, m, K_STR, 0, (op), (op) + 1, -1, 0, F_NONE, (rep), 0, 0, 0, 0}
/* SSE moves: NAME, kind, mandatory prefix, opcode, memory size, aligned, REX.W */
#define SSE(n, m, k, pfx, op, sz, al, w) {n, m, k, 1, -1, (op), -1, 0, F_NONE, 0, (pfx), (sz), (al), (w)}

const struct orc_form hvt_orc_forms[] = {
    {"mov m,r", "mov", K_RM_R, 0, 0x88, 0x89, -1, 0, F_NONE, 0, 0, 0, 0, 0},
    {"mov r,m", "mov", K_R_RM, 0, 0x8a, 0x8b, -1, 0, F_NONE, 0, 0, 0, 0, 0},
    {"mov m,imm", "mov", K_RM_IMM, 0, 0xc6, 0xc7, 0, 0, F_NONE, 0, 0, 0, 0, 0},
    {"mov r,moffs", "mov", K_MOFFS_LD, 0, 0xa0, 0xa1, -1, 0, F_NONE, 0, 0, 0, 0, 0},
    {"mov moffs,r", "mov", K_MOFFS_ST, 0, 0xa2, 0xa3, -1, 0, F_NONE, 0, 0, 0, 0, 0},
    {"movzx r,m8", "movzx", K_MOVX, 1, -1, 0xb6, -1, 0, F_NONE, 1, 0, 0, 0, 0},
    {"movzx r,m16", "movzx", K_MOVX, 1, -1, 0xb7, -1, 0, F_NONE, 2, 0, 0, 0, 0},
    {"movsx r,m8", "movsx", K_MOVX, 1, -1, 0xbe, -1, 0, F_NONE, 1, 0, 0, 0, 0},
    {"movsx r,m16", "movsx", K_MOVX, 1, -1, 0xbf, -1, 0, F_NONE, 2, 0, 0, 0, 0},
    {"movsxd r,m32", "movsxd", K_MOVX, 0, -1, 0x63, -1, 0, F_NONE, 4, 0, 0, 0, 0},
    ALU("add", 0), ALU("or", 1), ALU("adc", 2), ALU("sbb", 3),
    ALU("and", 4), ALU("sub", 5), ALU("xor", 6), ALU("cmp", 7),
    {"test m,r", "test", K_RM_R, 0, 0x84, 0x85, -1, 0, F_LOGIC, 0, 0, 0, 0, 0},
    {"test m,imm", "test", K_RM_IMM, 0, 0xf6, 0xf7, 0, 0, F_LOGIC, 0, 0, 0, 0, 0},
    {"inc m", "inc", K_RM, 0, 0xfe, 0xff, 0, 1, F_NONE, 0, 0, 0, 0, 0},
    {"dec m", "dec", K_RM, 0, 0xfe, 0xff, 1, 1, F_NONE, 0, 0, 0, 0, 0},
    {"not m", "not", K_RM, 0, 0xf6, 0xf7, 2, 1, F_NONE, 0, 0, 0, 0, 0},
    {"neg m", "neg", K_RM, 0, 0xf6, 0xf7, 3, 1, F_NONE, 0, 0, 0, 0, 0},
    {"mul m", "mul", K_RM, 0, 0xf6, 0xf7, 4, 0, F_MUL, 0, 0, 0, 0, 0},
    {"imul m", "imul", K_RM, 0, 0xf6, 0xf7, 5, 0, F_MUL, 0, 0, 0, 0, 0},
    {"div m", "div", K_RM, 0, 0xf6, 0xf7, 6, 0, F_DIV, 0, 0, 0, 0, 0},
    {"idiv m", "idiv", K_RM, 0, 0xf6, 0xf7, 7, 0, F_DIV, 0, 0, 0, 0, 0},
    {"imul r,m", "imul", K_R_RM, 1, -1, 0xaf, -1, 0, F_MUL, 0, 0, 0, 0, 0},
    {"imul r,m,imm", "imul", K_R_RM_IMM, 0, -1, 0x69, -1, 0, F_MUL, 0, 0, 0, 0, 0},
    {"imul r,m,imm8", "imul", K_R_RM_IMM, 0, -1, 0x6b, -1, 0, F_MUL, 1, 0, 0, 0, 0},
    {"xchg m,r", "xchg", K_RM_R, 0, 0x86, 0x87, -1, 1, F_NONE, 0, 0, 0, 0, 0},
    {"cmpxchg m,r", "cmpxchg", K_RM_R, 1, 0xb0, 0xb1, -1, 1, F_NONE, 0, 0, 0, 0, 0},
    {"xadd m,r", "xadd", K_RM_R, 1, 0xc0, 0xc1, -1, 1, F_NONE, 0, 0, 0, 0, 0},
    BT("bt", 4, 0xa3, 0), BT("bts", 5, 0xab, 1), BT("btr", 6, 0xb3, 1), BT("btc", 7, 0xbb, 1),
    SHIFT("rol", 0, F_ROT), SHIFT("ror", 1, F_ROT), SHIFT("rcl", 2, F_ROT),
    SHIFT("rcr", 3, F_ROT), SHIFT("shl", 4, F_SHIFT), SHIFT("shr", 5, F_SHIFT),
    SHIFT("sar", 7, F_SHIFT),
    {"setcc m8", "setcc", K_SETCC, 1, 0x90, -1, 0, 0, F_NONE, 0, 0, 0, 0, 0},
    {"cmovcc r,m", "cmovcc", K_CMOVCC, 1, -1, 0x40, -1, 0, F_NONE, 0, 0, 0, 0, 0},
    {"push r", "push", K_PUSH_R, 0, -1, 0x50, -1, 0, F_NONE, 0, 0, 0, 0, 0},
    {"pop r", "pop", K_POP_R, 0, -1, 0x58, -1, 0, F_NONE, 0, 0, 0, 0, 0},
    {"push m", "push", K_PUSH_M, 0, -1, 0xff, 6, 0, F_NONE, 0, 0, 0, 0, 0},
    {"pop m", "pop", K_POP_M, 0, -1, 0x8f, 0, 0, F_NONE, 0, 0, 0, 0, 0},
    {"call m", "call", K_BRANCH_M, 0, -1, 0xff, 2, 0, F_NONE, 0, 0, 0, 0, 0},
    {"jmp m", "jmp", K_BRANCH_M, 0, -1, 0xff, 4, 0, F_NONE, 0, 0, 0, 0, 0},
    {"ret", "ret", K_RET, 0, -1, 0xc3, -1, 0, F_NONE, 0, 0, 0, 0, 0},
    {"ret imm16", "ret", K_RET_IMM, 0, -1, 0xc2, -1, 0, F_NONE, 0, 0, 0, 0, 0},
    /* core extensions: string instructions, CMPXCHG8B/16B, MOVNTI, SSE moves (gen_ext.c) */
    STR("movs", "movs", 0xa4, ORC_REP_NONE), STR("rep movs", "movs", 0xa4, ORC_REP_F3),
    STR("stos", "stos", 0xaa, ORC_REP_NONE), STR("rep stos", "stos", 0xaa, ORC_REP_F3),
    STR("lods", "lods", 0xac, ORC_REP_NONE), STR("rep lods", "lods", 0xac, ORC_REP_F3),
    STR("cmps", "cmps", 0xa6, ORC_REP_NONE), STR("repe cmps", "cmps", 0xa6, ORC_REP_F3),
    STR("repne cmps", "cmps", 0xa6, ORC_REP_F2),
    STR("scas", "scas", 0xae, ORC_REP_NONE), STR("repe scas", "scas", 0xae, ORC_REP_F3),
    STR("repne scas", "scas", 0xae, ORC_REP_F2),
    STR("ins", "ins", 0x6c, ORC_REP_NONE), STR("rep ins", "ins", 0x6c, ORC_REP_F3),
    STR("outs", "outs", 0x6e, ORC_REP_NONE), STR("rep outs", "outs", 0x6e, ORC_REP_F3),
    {"cmpxchg8b m", "cmpxchg8b", K_CX8, 1, -1, 0xc7, 1, 1, F_NONE, 0, 0, 0, 0, 0},
    {"cmpxchg16b m", "cmpxchg16b", K_CX8, 1, -1, 0xc7, 1, 1, F_NONE, 0, 0, 0, 0, 1},
    {"movnti m,r", "movnti", K_RM_R, 1, -1, 0xc3, -1, 0, F_NONE, 1, 0, 0, 0, 0},
    SSE("movaps x,m", "movaps", K_SSE_LD, 0, 0x28, 16, 1, 0),
    SSE("movaps m,x", "movaps", K_SSE_ST, 0, 0x29, 16, 1, 0),
    SSE("movapd x,m", "movapd", K_SSE_LD, 0x66, 0x28, 16, 1, 0),
    SSE("movapd m,x", "movapd", K_SSE_ST, 0x66, 0x29, 16, 1, 0),
    SSE("movups x,m", "movups", K_SSE_LD, 0, 0x10, 16, 0, 0),
    SSE("movups m,x", "movups", K_SSE_ST, 0, 0x11, 16, 0, 0),
    SSE("movupd x,m", "movupd", K_SSE_LD, 0x66, 0x10, 16, 0, 0),
    SSE("movupd m,x", "movupd", K_SSE_ST, 0x66, 0x11, 16, 0, 0),
    SSE("movdqa x,m", "movdqa", K_SSE_LD, 0x66, 0x6f, 16, 1, 0),
    SSE("movdqa m,x", "movdqa", K_SSE_ST, 0x66, 0x7f, 16, 1, 0),
    SSE("movdqu x,m", "movdqu", K_SSE_LD, 0xf3, 0x6f, 16, 0, 0),
    SSE("movdqu m,x", "movdqu", K_SSE_ST, 0xf3, 0x7f, 16, 0, 0),
    SSE("movntps m,x", "movntps", K_SSE_ST, 0, 0x2b, 16, 1, 0),
    SSE("movntdq m,x", "movntdq", K_SSE_ST, 0x66, 0xe7, 16, 1, 0),
    SSE("movd x,m", "movd", K_SSE_LD, 0x66, 0x6e, 4, 0, 0),
    SSE("movd m,x", "movd", K_SSE_ST, 0x66, 0x7e, 4, 0, 0),
    SSE("movq x,m", "movq", K_SSE_LD, 0x66, 0x6e, 8, 0, 1),
    SSE("movq m,x", "movq", K_SSE_ST, 0x66, 0x7e, 8, 0, 1),
    SSE("movq x,m (f3 0f 7e)", "movq", K_SSE_LD, 0xf3, 0x7e, 8, 0, 0),
    SSE("movq m,x (66 0f d6)", "movq", K_SSE_ST, 0x66, 0xd6, 8, 0, 0),
};
const unsigned hvt_orc_nforms = sizeof(hvt_orc_forms) / sizeof(hvt_orc_forms[0]);

unsigned hvt_orc_form_count(void)
{
    return hvt_orc_nforms;
}

const char *hvt_orc_form_name(unsigned form)
{
    return form < hvt_orc_nforms ? hvt_orc_forms[form].name : "?";
}

int hvt_orc_form_matches(unsigned form, const char *name)
{
    if (form >= hvt_orc_nforms || !name)
        return 0;
    return !strcmp(hvt_orc_forms[form].name, name) || !strcmp(hvt_orc_forms[form].mnem, name);
}

uint64_t hvt_orc_flags_undef(const struct orc_form *f, unsigned opsize, uint64_t count)
{
    /* one table (the core's) defines "undefined" for the core and for this harness; the count
     * operand is 8 bits wide (CL or imm8): the core masks it as the CPU does */
    return hvt_core_undef_flags_of(f->mnem, opsize, (unsigned)(count & 0xff));
}
