/* SPDX-License-Identifier: MIT */
/* Oracle internals: the physical/linear layout of a case, the RNG, and the form table. */
#ifndef HVT_ORC_INTERNAL_H
#define HVT_ORC_INTERNAL_H

#include <stdint.h>

#include "hvtrace/oracle.h"

/*
 * Guest-physical layout of a case (HVT_ORC_RAM_SIZE = 4 MiB):
 *   0x010000 .. 0x0fffff  data pool: code, data and stack frames (4K each). Large pages map
 *                         physical 0 (2M, 4M, 1G), so their offsets land in this pool.
 *   0x300000 .. 0x3effff  paging structures of the case
 *   0x3f0000 .. 0x3fffff  reserved for the unicorn boot stub: code, GDT, stack and its own
 *                         paging structures. Never compared (the stub writes its stack there).
 * The stub's linear window (ORC_STUB_LA*) is mapped by entries that only the stub uses, with
 * A and D already set, so loading the state on unicorn changes nothing the core could see.
 */
#define ORC_POOL_LO 0x010000u
#define ORC_POOL_HI 0x100000u
#define ORC_PT_LO 0x300000u
#define ORC_PT_HI 0x3f0000u
#define ORC_STUB_PHYS 0x3f0000u /* 16 frames: code, gdt, stack, then stub paging structures */
#define ORC_STUB_CODE (ORC_STUB_PHYS + 0x0000u)
#define ORC_STUB_GDT (ORC_STUB_PHYS + 0x1000u)
#define ORC_STUB_STACK (ORC_STUB_PHYS + 0x2000u)
#define ORC_STUB_PT (ORC_STUB_PHYS + 0x3000u)
#define ORC_STUB_PAGES 3u
/* The stub's linear base per paging mode (each uses a top-level slot the case never uses). */
#define ORC_STUB_LA64 0x00007f8000000000ull  /* 4-level: PML4 slot 255 */
#define ORC_STUB_LA57 0x0001000000000000ull  /* 5-level: PML5 slot 1 */
#define ORC_STUB_LA32 0xffc00000u            /* 32-bit paging: PDE 1023 / PAE PDE 3:510 */

/* GDT selectors the stub uses (descriptors built by the unicorn runner from the state). */
#define ORC_GDT_ENTRIES 16u
#define ORC_SEL_CODE64_0 0x08u
#define ORC_SEL_DATA_0 0x10u
#define ORC_SEL_CODE32_0 0x18u
#define ORC_SEL_CODE64_3 0x23u
#define ORC_SEL_DATA_3 0x2bu
#define ORC_SEL_CODE32_3 0x33u
/* 32-bit data segments of the case: ES, SS, DS, FS, GS at GDT index 8 + seg */
#define ORC_SEL_CASE(seg, rpl) ((uint16_t)(((8u + (seg)) << 3) | (rpl)))

/* A small, fast, seedable RNG (splitmix64). */
struct orc_rng {
    uint64_t s;
};
static inline uint64_t orc_next(struct orc_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* Uniform in [0, n). */
static inline uint64_t orc_below(struct orc_rng *r, uint64_t n)
{
    return n ? orc_next(r) % n : 0;
}
/* 1 with probability PCT percent. */
static inline int orc_pct(struct orc_rng *r, unsigned pct)
{
    return orc_below(r, 100) < pct;
}

/* Form kinds: what the encoder has to produce. */
enum orc_kind {
    K_RM_R,      /* op m, r (memory destination) */
    K_R_RM,      /* op r, m */
    K_RM_IMM,    /* op m, imm (imm8 for byte forms, imm16/32 otherwise) */
    K_RM_IMM8,   /* op m, imm8 sign-extended (83 /n, 6B) or shift count */
    K_RM,        /* unary op m */
    K_RM_1,      /* shift m, 1 */
    K_RM_CL,     /* shift m, cl */
    K_R_RM_IMM,  /* imul r, m, imm */
    K_MOFFS_LD,  /* mov al/ax/eax/rax, moffs */
    K_MOFFS_ST,  /* mov moffs, al/.. */
    K_MOVX,      /* movzx/movsx r, m8/m16 ; movsxd r, m32 */
    K_PUSH_R,
    K_POP_R,
    K_PUSH_M,
    K_POP_M,
    K_BRANCH_M,  /* call/jmp near m */
    K_RET,
    K_RET_IMM,
    K_SETCC,
    K_CMOVCC,
    K_BT_IMM,
    K_BT_R,
    /* core extensions: strings, CMPXCHG8B/16B, SIMD (gen_ext.c) */
    K_STR,       /* string instruction: MOVS CMPS STOS LODS SCAS INS OUTS; sub = REP kind */
    K_CX8,       /* cmpxchg8b / cmpxchg16b m (0F C7 /1) */
    K_SSE_LD,    /* SSE move xmm <- m (mandatory prefix mpfx, memory size msize) */
    K_SSE_ST,    /* SSE move m <- xmm */
};

/* K_STR: which prefix the form carries (orc_form.sub). */
#define ORC_REP_NONE 0
#define ORC_REP_F3 1 /* REP (REPE for CMPS/SCAS) */
#define ORC_REP_F2 2 /* REPNE */

/* Flag classes: which flags an instruction leaves undefined (see gen.c). */
enum orc_fclass {
    F_NONE,  /* no flags written, or all written flags defined */
    F_LOGIC, /* AF undefined */
    F_MUL,   /* SF ZF AF PF undefined */
    F_DIV,   /* all six undefined */
    F_BT,    /* OF SF AF PF undefined */
    F_SHIFT, /* per count: AF, OF (count != 1), CF (count >= width) */
    F_ROT,   /* per count: OF (count != 1) */
};

struct orc_form {
    const char *name; /* "add m,r" */
    const char *mnem; /* "add" */
    uint8_t kind;     /* enum orc_kind */
    uint8_t esc;      /* 1: 0x0F escape */
    int16_t op8;      /* opcode of the byte form, -1 none */
    int16_t opv;      /* opcode of the 16/32/64 form, -1 none */
    int8_t ext;       /* ModRM.reg digit, -1 when it names a register */
    uint8_t lock;     /* LOCK is valid (memory destination RMW) */
    uint8_t fclass;   /* enum orc_fclass */
    uint8_t sub;      /* kind-specific: shift /n, movx source size, K_STR rep kind,
                         K_RM_R: 1 = no 16-bit form (movnti) */
    /* core-extension forms */
    uint8_t mpfx;     /* mandatory prefix (0x66, 0xf3) of an SSE move, 0 none */
    uint8_t msize;    /* SSE memory operand size in bytes */
    uint8_t align;    /* SSE: the operand must be 16-byte aligned (#GP(0) otherwise) */
    uint8_t wbit;     /* SSE: REX.W is part of the encoding (movq via 6E/7E) */
};

/* 1 for the core-extension forms the unicorn harness runs (strings, CMPXCHG8B/16B, SSE moves). */
static inline int orc_kind_is_ext(unsigned kind)
{
    return kind >= K_STR;
}

extern const struct orc_form hvt_orc_forms[];
extern const unsigned hvt_orc_nforms;

/* The value the K-th port input (IN, INS) of a case reads from PORT: both runners answer it. */
uint32_t hvt_orc_io_value(uint16_t port, unsigned k);

/* Undefined-flag mask of one instance: the core's table (hvt_core_undef_flags_of, core.h),
 * looked up by the form's mnemonic. */
uint64_t hvt_orc_flags_undef(const struct orc_form *f, unsigned opsize, uint64_t count);

#define ORC_FLAGS_ARITH                                                                       \
    (HVT_RFLAGS_CF | HVT_RFLAGS_PF | HVT_RFLAGS_AF | HVT_RFLAGS_ZF | HVT_RFLAGS_SF | HVT_RFLAGS_OF)

/* Architectural bits: HVT_CR0_*, HVT_CR4_*, HVT_EFER_*, HVT_RFLAGS_* (include/hvtrace/types.h). */

#endif
