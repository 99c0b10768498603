/* SPDX-License-Identifier: MIT */
/* Reference core extensions: string ops, SIMD moves, CMPXCHG8B/16B and AVX2 gathers. */
#ifndef HVT_CORE_EXEC_EXT_H
#define HVT_CORE_EXEC_EXT_H

#include <stdint.h>

#include "emu.h"

/*
 * These instructions are decoded from their bytes by a small decoder of their own (prefixes,
 * REX, VEX, ModRM/SIB/VSIB), so they do not depend on which capstone detail the main decoder
 * keeps. The executor's dispatcher hands them over with hvt_exec_ext() when
 * hvt_exec_ext_owns() says the capstone id is one of them.
 *
 * Contract with the executor (core.c): hvt_exec_ext() updates e->st (the working copy),
 * including RIP (advanced on completion; left at the instruction when a REP op stops early).
 * When an instruction commits partial progress (REP iterations, gather elements) and then
 * ends with RETRY or EXCEPTION, it sets e->partial: the working copy must then be committed to
 * the caller's state as on OKAY. res->out.iterations counts the iterations / elements this
 * pass completed.
 */

/* Most REP iterations one pass makes. A longer REP op ends OKAY with RIP still at the
 * instruction and the registers of the completed iterations (as an interrupt window between
 * iterations would leave them); the guest re-executes it. */
#define HVT_EXT_REP_MAX 65536u

/* 1 when capstone instruction id ID (x86_insn) is handled by hvt_exec_ext. */
int hvt_exec_ext_owns(unsigned id);

/* Emulates the instruction whose LEN bytes are BYTES (LEN from the main decoder; 0 lets this
 * decoder decide). Returns an HVT_OUT_* value with e->res filled as emu.h describes;
 * UNIMPLEMENTED (with a detail) for forms it does not model. */
int hvt_exec_ext(struct hvt_emu *e, const uint8_t *bytes, unsigned len);

/* ---- shared between exec_ext.c, exec_string.c, exec_simd.c, exec_gather.c ---------------- */

/* The decoded form these files use. */
struct hvt_xi {
    const uint8_t *b;
    unsigned len;
    unsigned adsize; /* 2, 4, 8 */
    unsigned opsize; /* 2, 4, 8 (GPR operand size from 66/REX.W/mode) */
    int seg_ovr;     /* enum hvt_seg of an override, -1 without */
    unsigned rep;    /* 0, 0xf3 or 0xf2: the last of them */
    unsigned lock;
    unsigned p66;
    unsigned rex;  /* REX byte or 0 */
    unsigned map;  /* 1 = one-byte, 2 = 0F, 3 = 0F38, 4 = 0F3A */
    unsigned vex;  /* 1 for VEX-encoded */
    unsigned vl;   /* VEX.L */
    unsigned vw;   /* VEX.W (or REX.W) */
    unsigned vvvv; /* VEX.vvvv, un-inverted */
    unsigned pp;   /* VEX.pp: 0 none, 1 66, 2 F3, 3 F2 */
    uint8_t op;
    unsigned has_modrm;
    unsigned mod, reg, rm; /* reg and rm with REX/VEX R and B applied (rm: register forms) */
    /* memory operand */
    int base;  /* GPR, -1 none, 16 = RIP */
    int index; /* GPR, -1 none */
    unsigned has_sib;
    unsigned vindex; /* SIB index field with REX/VEX.X: the vector index register (VSIB) */
    unsigned scale;
    int64_t disp;
    unsigned seg; /* segment used (override, else DS or SS by base) */
};

/* Effective address of the memory operand (non-VSIB), truncated to the address size. */
uint64_t hvt_xi_ea(struct hvt_emu *e, const struct hvt_xi *xi);
/* Truncation of an offset to an address size. */
static inline uint64_t hvt_xi_admask(unsigned adsize, uint64_t v)
{
    return adsize == 8 ? v : adsize == 4 ? (uint32_t)v : (uint16_t)v;
}
/* Advances RIP past the instruction (wrapping per mode). */
void hvt_xi_next(struct hvt_emu *e, const struct hvt_xi *xi);
/* GPR write of SIZE bytes: 1/2 merge, 4 zero-extends, 8 whole. */
void hvt_xi_set_gpr(struct hvt_emu *e, unsigned reg, unsigned size, uint64_t v);
uint64_t hvt_xi_get_gpr(const struct hvt_emu *e, unsigned reg, unsigned size);
/* Ends the pass UNIMPLEMENTED with "WHAT" as detail. */
int hvt_xi_unimpl(struct hvt_emu *e, const char *what);
/* Ends the pass UNHANDLEABLE with "WHAT" as detail. */
int hvt_xi_unhandleable(struct hvt_emu *e, const char *what);
/* #UD */
int hvt_xi_ud(struct hvt_emu *e);
/* #UD unless the CPU profile has feature F (enum hvt_cpu_feature); 0 when it has. */
int hvt_xi_need(struct hvt_emu *e, unsigned f);

/* Flags of DST - SRC at SIZE bytes (CMP semantics) merged into RFLAGS. */
uint64_t hvt_xi_sub_flags(uint64_t rflags, uint64_t dst, uint64_t src, unsigned size);

int hvt_exec_string(struct hvt_emu *e, const struct hvt_xi *xi);
int hvt_exec_simd(struct hvt_emu *e, const struct hvt_xi *xi);
int hvt_exec_cmpxchg8b(struct hvt_emu *e, const struct hvt_xi *xi);
int hvt_exec_gather(struct hvt_emu *e, const struct hvt_xi *xi);

/* SIMD availability: #UD / #NM per CR0.EM/TS, CR4.OSFXSR (SSE) or CR4.OSXSAVE + XCR0 (AVX);
 * UNHANDLEABLE when the state carries no SIMD registers. HVT_OUT_OKAY when usable. */
int hvt_xi_simd_check(struct hvt_emu *e, int avx);

#endif
