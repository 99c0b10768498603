/* SPDX-License-Identifier: MIT */
/* Reference core: the per-instruction emulation context shared by the MMU and the executor. */
#ifndef HVT_CORE_EMU_H
#define HVT_CORE_EMU_H

#include <stdint.h>

#include "hvtrace/core.h"
#include "hvtrace/cpu.h"

/* Internal status of every core step: the values of enum hvt_outcome.
 * HVT_OUT_OKAY (0) continue; anything else ends the pass with that outcome, with e->res
 * already filled (exception vector/error code/CR2, retry cause, detail). */

/* Reference-core options (set through hvt_core_set_option). */
struct hvt_ref_opts {
    int pdpte_reread;   /* re-read PAE PDPTEs from memory on every walk (not what hardware does) */
    int gather_discard; /* discard partial gather progress on RETRY */
    int decode_cache;   /* use the decoded-instruction cache */
    struct hvt_cpu_profile cpu; /* the guest's CPU: features (#UD when absent) and choices */
    uint64_t cr4_forbid, efer_forbid; /* hvt_cpu_state_forbidden of cpu */
};

/* Execution modes the core supports (derived from CR0, EFER, CS). */
enum hvt_emu_mode {
    HVT_MODE_REAL = 0, /* not supported: UNHANDLEABLE */
    HVT_MODE_PROT16,   /* 16-bit protected mode (CS.D = 0) */
    HVT_MODE_PROT32,   /* 32-bit protected mode, or compatibility mode (CS.D = 1) */
    HVT_MODE_LONG64,   /* 64-bit mode (EFER.LMA and CS.L) */
};

struct hvt_emu {
    struct hvt_vcpu_state *st;   /* working copy: committed to the caller's state on OKAY */
    const struct hvt_core_ops *ops;
    void *opctx;
    struct hvt_core_result *res;
    const struct hvt_ref_opts *opts;
    enum hvt_emu_mode mode;
    unsigned cpl;               /* current privilege level (CS.DPL, SS.DPL in practice) */
    unsigned locked;            /* the instruction has a LOCK prefix: ops get HVT_OPF_LOCKED */
    unsigned partial;           /* the instruction committed partial progress (REP
                                   iterations, gather elements) before ending RETRY or
                                   EXCEPTION: commit the working state as on OKAY */
};

/* Whether the instruction's CPU profile has feature F / takes alternative V of choice C.
 * Without options (unit tests of the MMU) it is the default profile: every feature, the
 * first alternative of every choice. */
static inline int hvt_emu_has(const struct hvt_emu *e, unsigned f)
{
    return !e->opts || HVT_CPU_HAS(&e->opts->cpu, f);
}
static inline unsigned hvt_emu_choice(const struct hvt_emu *e, unsigned c)
{
    return e->opts ? e->opts->cpu.choice[c] : 0;
}

/* Fills e->res for an exception and returns HVT_OUT_EXCEPTION. */
int hvt_emu_raise(struct hvt_emu *e, unsigned vector, int has_ec, uint32_t ec, uint64_t cr2);

/* Maps an op's answer to a pass outcome: OKAY -> 0, RETRY -> HVT_OUT_RETRY (cause from the op
 * info's space: MMIO or PIO), UNHANDLEABLE -> HVT_OUT_UNHANDLEABLE; fills e->res. */
int hvt_emu_op_status(struct hvt_emu *e, int op_result, const struct hvt_op_info *info);

/* Mode of a state: see enum hvt_emu_mode. */
enum hvt_emu_mode hvt_emu_mode_of(const struct hvt_vcpu_state *st);

/* A tag value. */
static inline struct hvt_tag hvt_mktag(unsigned cls, unsigned operand, unsigned level,
                                       uint32_t element)
{
    struct hvt_tag t = {(uint8_t)cls, (uint8_t)operand, (uint8_t)level, 0, element};
    return t;
}

/* The architectural constants (HVT_CR0_*, HVT_CR4_*, HVT_EFER_*, HVT_RFLAGS_*, HVT_VEC_*) are
 * public: include/hvtrace/types.h. */

#endif
