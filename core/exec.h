/* SPDX-License-Identifier: MIT */
/* Reference core executor: per-instruction context, operand access and the handler groups. */
#ifndef HVT_CORE_EXEC_H
#define HVT_CORE_EXEC_H

#include <stdint.h>

#include "decode.h"
#include "emu.h"
#include "mmu.h"

/* The executor's view of one emulation: the MMU context plus the decoded instruction. */
struct hvt_x {
    struct hvt_emu e;
    const struct hvt_dinsn *d;
    struct hvt_vcpu_state *st; /* == e.st, the working copy */
    uint64_t next_rip;         /* RIP of the next instruction (already wrapped per mode) */
    int rip_set;               /* a branch set st->rip (else RIP = next_rip on OKAY) */
    int ext; /* handled by hvt_exec_ext (string, SIMD, gather forms): YMM state copied */
};

/* Mask of an operand of SIZE bytes, and its sign bit. */
static inline uint64_t hvt_szmask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}
static inline uint64_t hvt_szsign(unsigned size)
{
    return 1ull << (size * 8 - 1);
}
static inline int64_t hvt_sext(uint64_t v, unsigned size)
{
    uint64_t m = hvt_szsign(size);
    v &= hvt_szmask(size);
    return (int64_t)((v ^ m) - m);
}

/* Ends the pass UNIMPLEMENTED with "MNEMONIC: WHY" (WHY may be NULL) as detail. */
int hvt_x_unimpl(struct hvt_x *x, const char *why);
/* Ends the pass UNHANDLEABLE with detail WHY. */
int hvt_x_unhandleable(struct hvt_x *x, const char *why);
/* Shorthands for exceptions without/with error code. */
int hvt_x_ud(struct hvt_x *x);
int hvt_x_gp0(struct hvt_x *x);

/* ---- registers ----------------------------------------------------------------------- */

uint64_t hvt_x_gpr(const struct hvt_x *x, unsigned reg, unsigned size);
/* Writes SIZE bytes of REG as hardware does: 8 and 16 bits merge, 32 bits zero-extend. */
void hvt_x_set_gpr(struct hvt_x *x, unsigned reg, unsigned size, uint64_t v);
/* Register operand I (GPR, with AH..BH). */
uint64_t hvt_x_reg(const struct hvt_x *x, unsigned i);
void hvt_x_set_reg(struct hvt_x *x, unsigned i, uint64_t v);

/* ---- memory operands ----------------------------------------------------------------- */

/* Effective address (offset in the segment) of memory operand I, plus ADJ bytes, wrapped to
 * the address size. */
uint64_t hvt_x_ea(const struct hvt_x *x, unsigned i, int64_t adj);
/* Operand index of memory operand I for tags: 0 for the first memory operand, 1 for the next. */
unsigned hvt_x_memidx(const struct hvt_x *x, unsigned i);
/* Maps memory operand I (+ADJ bytes) for SIZE bytes with INTENT (HVT_MMU_R/W). */
int hvt_x_map(struct hvt_x *x, unsigned i, int64_t adj, unsigned size, unsigned intent,
              struct hvt_mmu_xlat *xl);
/* Reads/writes a mapped operand (SIZE <= 8) with tag DATA, operand index OPIDX. */
int hvt_x_mread(struct hvt_x *x, const struct hvt_mmu_xlat *xl, unsigned opidx, uint64_t *v);
int hvt_x_mwrite(struct hvt_x *x, const struct hvt_mmu_xlat *xl, unsigned opidx, uint64_t v);

/* Value of source operand I (register, immediate truncated to SIZE, or memory read). */
int hvt_x_src(struct hvt_x *x, unsigned i, unsigned size, uint64_t *v);
/* Writes destination operand I (register, or memory mapped W and written). */
int hvt_x_dst(struct hvt_x *x, unsigned i, unsigned size, uint64_t v);

/* Read-modify-write of operand I (register or memory at +ADJ bytes), SIZE bytes.
 * FN computes the new value from OLD and may update *FL (RFLAGS); it returns 1 to write the
 * new value, 0 to leave the destination alone. Memory: one map (W), one read, then a write,
 * or with e.locked a cmpxchg with the value read as expected, recomputed from the current
 * value when another writer raced (bounded, then UNHANDLEABLE). On OKAY, *OLDP (may be NULL)
 * receives the value FN finally saw and RFLAGS the flags it computed. */
typedef int (*hvt_rmw_fn)(struct hvt_x *x, const void *arg, uint64_t old, uint64_t *nv,
                          uint64_t *fl);
int hvt_x_rmw(struct hvt_x *x, unsigned i, int64_t adj, unsigned size, hvt_rmw_fn fn,
              const void *arg, uint64_t *oldp);

/* ---- stack --------------------------------------------------------------------------- */

/* Stack-pointer width: 8 in 64-bit mode, else 4 or 2 by SS.B. */
unsigned hvt_x_stack_width(const struct hvt_x *x);
/* Pushes SIZE bytes of V (SS-based, RSP decremented first; RSP changed only on success). */
int hvt_x_push(struct hvt_x *x, unsigned size, uint64_t v);
/* Reads SIZE bytes at the top of the stack at +OFF bytes (no RSP change). */
int hvt_x_peek(struct hvt_x *x, unsigned size, uint64_t off, uint64_t *v);
/* Adds N to the stack pointer with its width. */
void hvt_x_sp_add(struct hvt_x *x, int64_t n);

/* ---- flags and arithmetic (exec_alu.c) ----------------------------------------------- */

#define HVT_FL_ARITH                                                                               \
    (HVT_RFLAGS_CF | HVT_RFLAGS_PF | HVT_RFLAGS_AF | HVT_RFLAGS_ZF | HVT_RFLAGS_SF | HVT_RFLAGS_OF)

enum hvt_alu_op {
    HVT_ALU_ADD,
    HVT_ALU_OR,
    HVT_ALU_ADC,
    HVT_ALU_SBB,
    HVT_ALU_AND,
    HVT_ALU_SUB,
    HVT_ALU_XOR,
    HVT_ALU_CMP,
    HVT_ALU_TEST,
    HVT_ALU_INC,
    HVT_ALU_DEC,
    HVT_ALU_NEG,
    HVT_ALU_NOT
};
/* A op B on SIZE bytes; updates the flags the operation defines in *FL. */
uint64_t hvt_alu(unsigned op, unsigned size, uint64_t a, uint64_t b, uint64_t *fl);

enum hvt_sh_op {
    HVT_SH_ROL,
    HVT_SH_ROR,
    HVT_SH_RCL,
    HVT_SH_RCR,
    HVT_SH_SHL,
    HVT_SH_SHR,
    HVT_SH_SAR
};
/* Shift/rotate A (SIZE bytes) by the raw COUNT (masked here as hardware does). */
uint64_t hvt_shift(unsigned op, unsigned size, uint64_t a, unsigned count, uint64_t *fl);

/* Condition code CC (0..15, the low nibble of Jcc/SETcc/CMOVcc opcodes) on FLAGS. */
int hvt_cond(unsigned cc, uint64_t flags);
/* SF, ZF, PF of a result of SIZE bytes (AF, CF, OF cleared). */
uint64_t hvt_szp(unsigned size, uint64_t r);

/* Condition code (0..15) of a Jcc/SETcc/CMOVcc capstone id, -1 for any other id. */
int hvt_x_cc_of(unsigned id);

/* ---- handler groups ------------------------------------------------------------------ */

/* Each returns HVT_OUT_* (OKAY = done; anything else with x->e.res filled), or -1 when the
 * instruction id is not theirs. */
int hvt_exec_int(struct hvt_x *x);
int hvt_exec_flow(struct hvt_x *x);
/* IN/OUT (exec_io.c; the permission check is in exec_io.h). */
int hvt_exec_io(struct hvt_x *x);

#endif
