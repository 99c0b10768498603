/* SPDX-License-Identifier: MIT */
/* The core's byte-level parse against capstone on one instruction: do they read the same
 * memory operand? (tests/core/test_ea.c over random encodings, tests/fuzz/fuzz_decode.c) */
#ifndef HVT_TEST_PARSE_CHECK_H
#define HVT_TEST_PARSE_CHECK_H

#include <stdio.h>
#include <string.h>

#include <capstone/capstone.h>

#include "decode.h"

/* Outcome of pc_check. */
enum pc_result {
    PC_SKIP = 0,     /* capstone does not decode it, or one of its known differences */
    PC_AGREE = 1,    /* one memory operand, read the same by both */
    PC_NOMEM = 2,    /* agreed on the length; no single ModRM memory operand to compare */
    PC_NOTWHOLE = 3, /* capstone decodes it, the parse does not (outside EVEX/XOP/3DNow!) */
    PC_DIFFER = 4,   /* the memory operands differ: WHY says how */
};

/* A capstone base/index register as a GPR number (16 = RIP, 32 + n = XMMn/YMMn), -1 none. */
static inline int pc_reg(csh h, unsigned r)
{
    static const char *const n64[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                        "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    static const char *const n32[16] = {"eax",  "ecx",  "edx",  "ebx", "esp",  "ebp",
                                        "esi",  "edi",  "r8d",  "r9d", "r10d", "r11d",
                                        "r12d", "r13d", "r14d", "r15d"};
    static const char *const n16[8] = {"ax", "cx", "dx", "bx", "sp", "bp", "si", "di"};
    const char *name;
    if (r == X86_REG_INVALID || r == X86_REG_EIZ || r == X86_REG_RIZ)
        return -1;
    if (r == X86_REG_RIP || r == X86_REG_EIP)
        return 16;
    if (r >= X86_REG_XMM0 && r <= X86_REG_XMM15)
        return 32 + (int)(r - X86_REG_XMM0);
    if (r >= X86_REG_YMM0 && r <= X86_REG_YMM15)
        return 32 + (int)(r - X86_REG_YMM0);
    name = cs_reg_name(h, r);
    for (int i = 0; name && i < 16; i++)
        if (!strcmp(name, n64[i]) || !strcmp(name, n32[i]) || (i < 8 && !strcmp(name, n16[i])))
            return i;
    return -2;
}

/* Decodes B (N bytes) with capstone handle H (detail on; mode MODE) into CI and parses the
 * same bytes with hvt_dec_parse; WHY (may be NULL) says what differs. */
static inline enum pc_result pc_check(csh h, cs_insn *ci, enum hvt_emu_mode mode, const uint8_t *b,
                                      size_t n, char *why, size_t len)
{
    static const uint8_t pre[] = {0x66, 0x67, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0xf0};
    const uint8_t *code = b, *p;
    size_t size = n;
    uint64_t addr = 0;
    struct hvt_dinsn d;
    const cs_x86 *x;
    const cs_x86_op *mem = NULL;
    unsigned nmem = 0, k;
    if (!cs_disasm_iter(h, &code, &size, &addr, ci))
        return PC_SKIP;
    x = &ci->detail->x86;
    for (unsigned i = 0; i < x->op_count; i++)
        if (x->operands[i].type == X86_OP_MEM) {
            mem = &x->operands[i];
            nmem++;
        }
    memset(&d, 0, sizeof(d));
    k = hvt_dec_parse(mode, ci->bytes, ci->size, &d);
    if (k == HVT_DENC_UD)
        return PC_SKIP; /* capstone takes VEX after legacy prefixes; the CPU raises #UD */
    if (ci->id == X86_INS_UD0 || ci->id == X86_INS_UD2B)
        return PC_SKIP; /* capstone decodes UD0/UD1 without their ModRM byte */
    if (k != HVT_DENC_OK || d.enc.elen > ci->size) {
        for (p = ci->bytes;
             p + 1 < ci->bytes + ci->size &&
             (memchr(pre, *p, sizeof(pre)) || (mode == HVT_MODE_LONG64 && (*p & 0xf0) == 0x40));
             p++)
            ;
        if (*p == 0x62 || *p == 0x8f ||
            (p[0] == 0x0f && p + 1 < ci->bytes + ci->size && p[1] == 0x0f))
            return PC_SKIP; /* EVEX, XOP, 3DNow!: not parsed */
        if (why)
            snprintf(why, len, "not whole: %s %s (length %u, parse %u)", ci->mnemonic, ci->op_str,
                     ci->size, d.enc.elen);
        return PC_NOTWHOLE;
    }
    if (nmem != 1 || !d.enc.has_mem)
        return PC_NOMEM;
    {
        const struct hvt_dop *m = &d.enc.mem;
        int cb = pc_reg(h, mem->mem.base), cx = pc_reg(h, mem->mem.index);
        int pb = m->base == HVT_DREG_NONE ? -1 : m->base == HVT_DREG_RIP ? 16 : m->base;
        int px = m->index == HVT_DREG_NONE     ? -1
                 : (m->flags & HVT_DOP_VINDEX) ? 32 + m->index
                                               : m->index;
        uint64_t dm = d.addrsize == 8 ? ~0ull : d.addrsize == 4 ? 0xffffffffull : 0xffff;
        unsigned cscale = mem->mem.scale > 0 ? (unsigned)mem->mem.scale : 1;
        if (cb != pb || cx != px || (px >= 0 && cscale != m->scale) ||
            (((uint64_t)mem->mem.disp ^ (uint64_t)m->val) & dm)) {
            if (why)
                snprintf(why, len, "differs: %s %s: capstone %d %d %u %llx, parse %d %d %u %llx",
                         ci->mnemonic, ci->op_str, cb, cx, cscale,
                         (unsigned long long)mem->mem.disp, pb, px, m->scale,
                         (unsigned long long)m->val);
            return PC_DIFFER;
        }
    }
    return PC_AGREE;
}

#endif
