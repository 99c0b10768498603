/* SPDX-License-Identifier: MIT */
/* hvtrace oracle: random differential cases for the reference core, run on it and on unicorn. */
#ifndef HVTRACE_ORACLE_H
#define HVTRACE_ORACLE_H

#include "hvtrace/export.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hvtrace/core.h"
#include "hvtrace/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A case is one instruction with everything it needs: a vCPU state (mode, CPL, control
 * registers, segments, GPRs, flags), a guest-physical RAM image of HVT_ORC_RAM_SIZE bytes with
 * page tables, code, data and stack pages, and a note of what was provoked on purpose. The same
 * case runs on the reference core (through its ops table over a copy of the RAM) and on unicorn
 * (same RAM; state loaded by a short boot stub the oracle writes in a reserved region), and the
 * two outcomes are compared: registers, the defined flags, every byte of RAM outside the
 * oracle's reserved region (data pages, stack pages and the paging structures with their A/D
 * bits), and faults (vector, error code, CR2). Known unicorn deviations are excluded by name
 * (hvt_orc_deviation_name) and counted, never silently.
 */

#define HVT_ORC_RAM_SIZE 0x400000u /* 4 MiB of guest-physical RAM per case */

/* Paging modes a case can use. */
enum hvt_orc_paging {
    HVT_ORC_PG_OFF = 0, /* 32-bit protected mode, CR0.PG = 0 */
    HVT_ORC_PG_2L,      /* 2-level 32-bit, 4K pages only (CR4.PSE = 0) */
    HVT_ORC_PG_2L_PSE,  /* 2-level 32-bit with 4M pages */
    HVT_ORC_PG_PAE,     /* PAE (PDPTE registers loaded as at CR3 load) with 2M pages */
    HVT_ORC_PG_4L,      /* 4-level with 2M and 1G pages */
    HVT_ORC_PG_5L,      /* 5-level (LA57) */
    HVT_ORC_PG__COUNT
};

/* Case flags (hvt_orc_case.provoked): situations generated on purpose. */
#define HVT_ORC_P_SEG_LIMIT (1u << 0)    /* an operand is outside its segment's limit */
#define HVT_ORC_P_NONCANON (1u << 1)     /* a data/stack address is non-canonical */
#define HVT_ORC_P_SPLIT (1u << 2)        /* an operand crosses a page boundary */
#define HVT_ORC_P_CODE_SPLIT (1u << 3)   /* the instruction crosses a page boundary */
#define HVT_ORC_P_RSVD (1u << 4)         /* some paging entry has a reserved bit set */
#define HVT_ORC_P_NOT_PRESENT (1u << 5)  /* some paging entry is not present */

/* A linear page of a case and the frame the generator mapped it to. */
#define HVT_ORC_MAX_PAGES 16
struct hvt_orc_page {
    uint64_t la, pa;
};

struct hvt_orc_case {
    uint64_t seed;     /* the case seed: `--seed SEED --cases 1` regenerates this case */
    unsigned form;     /* index into the form table (hvt_orc_form_name) */
    unsigned bits;     /* 64 or 32 */
    unsigned paging;   /* enum hvt_orc_paging */
    unsigned cpl;      /* 0 or 3 */
    unsigned opsize;   /* operand size in bytes (1, 2, 4, 8) */
    uint32_t provoked; /* HVT_ORC_P_* */
    uint64_t flags_undef; /* RFLAGS bits this instance leaves undefined (not compared) */
    uint64_t mem_la;   /* linear address of the explicit memory operand (or stack slot) */
    uint64_t stack_la; /* linear address of the stack slot, when the form uses the stack */
    unsigned n_pages;  /* the linear pages the case maps (code, data, stack), with frames */
    struct hvt_orc_page pages[HVT_ORC_MAX_PAGES];
    struct hvt_vcpu_state st;
    uint8_t insn[HVT_INSN_MAX];
    uint8_t insn_len;
    uint8_t *ram; /* HVT_ORC_RAM_SIZE bytes; owned by the case (hvt_orc_case_init/fini) */
};

/* Status of one run. */
enum hvt_orc_status {
    HVT_ORC_DONE = 0,      /* the instruction completed */
    HVT_ORC_FAULT,         /* it raised an exception (vector, error code, CR2) */
    HVT_ORC_UNIMPLEMENTED, /* the core said UNIMPLEMENTED */
    HVT_ORC_UNHANDLEABLE,  /* the core gave up (or an op was refused) */
    HVT_ORC_RETRY,         /* the core asked for RETRY: never expected on plain RAM */
    HVT_ORC_HARNESS,       /* the harness could not run the case (detail says why) */
};

/* Port accesses of one run (INS/OUTS cases; inputs answer orc's deterministic value). */
#define HVT_ORC_IO_LOG 64
struct hvt_orc_io {
    uint16_t port;
    uint8_t size; /* 1, 2, 4 */
    uint8_t out;  /* 1 for OUT */
    uint32_t value;
};

struct hvt_orc_result {
    int status; /* enum hvt_orc_status */
    unsigned vector;
    int has_ec;          /* error code known (unicorn: see docs/CORE-CHECKING.md) */
    uint32_t error_code;
    uint64_t cr2;
    int noncanon_rip;    /* unicorn: the instruction left a non-canonical RIP behind */
    struct hvt_vcpu_state st;
    uint8_t *ram; /* HVT_ORC_RAM_SIZE bytes, owned (hvt_orc_result_init/fini) */
    char detail[96];
    unsigned io_n; /* port accesses made; the first HVT_ORC_IO_LOG are in io[] */
    struct hvt_orc_io io[HVT_ORC_IO_LOG];
};

/* Allocate / free the RAM of a case or result. init returns 0 or -HVT_E_NOMEM; fini accepts
 * a zeroed or initialised object and leaves it zeroed. */
HVT_API int hvt_orc_case_init(struct hvt_orc_case *c);
HVT_API void hvt_orc_case_fini(struct hvt_orc_case *c);
HVT_API int hvt_orc_result_init(struct hvt_orc_result *r);
HVT_API void hvt_orc_result_fini(struct hvt_orc_result *r);

/* ---- forms ------------------------------------------------------------------------------ */

/* The instruction forms the oracle generates, e.g. "add m,r", "bts m,r", "shl m,cl", "pop m",
 * "call m" (the base instruction set), and "rep movs", "repne scas", "rep ins", "cmpxchg16b m",
 * "movnti m,r", "movdqa x,m", "movq m,x" (the core extensions). Names are stable: they appear
 * in reports. */
HVT_API unsigned hvt_orc_form_count(void);
HVT_API const char *hvt_orc_form_name(unsigned form);
/* 1 when FORM matches the --insn filter NAME: the exact form name, or its mnemonic ("add"
 * matches "add m,r", "add r,m", ...). */
HVT_API int hvt_orc_form_matches(unsigned form, const char *name);

/* ---- generation ------------------------------------------------------------------------- */

struct hvt_orc_filter {
    size_t size;        /* sizeof(struct hvt_orc_filter) */
    unsigned bits;      /* 64, 32, or 0 for both */
    const char *insn;   /* NULL, or a form/mnemonic name (hvt_orc_form_matches) */
    int paging;         /* -1, or one enum hvt_orc_paging */
    /* the CPU profile the core follows in hvt_orc_check (NULL: "unicorn", the choices QEMU
     * makes, so that they compare equal rather than as deviations) */
    const struct hvt_cpu_profile *cpu;
};
/* The first version (older, smaller filters are accepted with cpu NULL; recorder.h has the
 * rules). */
#define HVT_ORC_FILTER_SIZE_V1 offsetof(struct hvt_orc_filter, cpu)
HVT_API void hvt_orc_filter_init(struct hvt_orc_filter *f);

/* The seed of case I of a run with seed SEED: case 0 is SEED itself, so a case seed given back
 * as --seed with --cases 1 reproduces that case. */
HVT_API uint64_t hvt_orc_case_seed(uint64_t seed, uint64_t i);

/* Generates the case of CASE_SEED into C (whose RAM must be initialised). Deterministic: the
 * same seed and filter give the same case. Errors: -HVT_E_INVALID (bad filter, or no form
 * matches it). */
HVT_API int hvt_orc_gen(struct hvt_orc_case *c, uint64_t case_seed, const struct hvt_orc_filter *f);

/* One line describing the case (form, mode, paging, CPL, bytes, memory address). */
HVT_API void hvt_orc_case_describe(const struct hvt_orc_case *c, char *buf, size_t len);

/* Reads N bytes at linear address LA of the case, through the pages it maps (c->pages; paging
 * off: physical = linear). Returns 0, or -HVT_E_NOT_FOUND when a byte is outside them. */
HVT_API int hvt_orc_case_read(const struct hvt_orc_case *c, uint64_t la, void *buf, unsigned n);

/* Prints the case's initial state (GPRs, RFLAGS, control registers, memory operand) to F. */
HVT_API void hvt_orc_case_dump(const struct hvt_orc_case *c, FILE *f);

/* ---- running ---------------------------------------------------------------------------- */

/* Runs C on CORE through an ops table over a copy of the case's RAM; fills R. Returns 0, or
 * -HVT_E_INVALID for bad arguments (an emulation problem is a status, not an error). */
/* Makes CORE follow CPU, or with NULL the built-in "unicorn" profile: what a core compared
 * against unicorn follows, so that choices QEMU makes like some CPUs (a 67-prefixed REP that
 * completes nothing keeps RCX; REPE/REPNE faulting after progress keep the last flags) compare
 * equal. Errors: those of hvt_core_set_cpu. */
HVT_API int hvt_orc_core_follow(struct hvt_core *core, const struct hvt_cpu_profile *cpu);

HVT_API int hvt_orc_run_core(struct hvt_core *core, const struct hvt_orc_case *c,
                             struct hvt_orc_result *r);

/* 1 when this build has unicorn, 0 otherwise. */
HVT_API int hvt_orc_unicorn_available(void);
/* Runs C on unicorn (a fresh engine per case); fills R. Returns 0, -HVT_E_UNSUPPORTED when
 * unicorn is not built in, -HVT_E_INVALID for bad arguments. */
HVT_API int hvt_orc_run_unicorn(const struct hvt_orc_case *c, struct hvt_orc_result *r);
/* 1 when unicorn's #PF/#GP error codes can be read (found by calibration on first use: see
 * docs/CORE-CHECKING.md); 0 when only vector and CR2 are compared. */
HVT_API int hvt_orc_unicorn_has_error_codes(void);

/* ---- comparison ------------------------------------------------------------------------- */

/* Known unicorn deviations, excluded by name. */
enum hvt_orc_deviation {
    HVT_ORC_DEV_NONE = 0,
    HVT_ORC_DEV_SEG_CHECKS,       /* qemu-no-seg-checks: no limit/type check on data access */
    HVT_ORC_DEV_AD_ON_FAULT,      /* qemu-a-bits-on-faulting-walk */
    HVT_ORC_DEV_NONCANON_BRANCH,  /* qemu-noncanonical-branch: faults on the next fetch */
    HVT_ORC_DEV_NONCANON_STACK,   /* qemu-noncanonical-stack-gp: #GP instead of #SS */
    HVT_ORC_DEV_RMW_PF_READ,      /* qemu-rmw-pf-as-read: RMW faults reported as reads */
    HVT_ORC_DEV_RET_IMM16,        /* qemu-ret-imm16-signed: RET imm16 sign-extends imm16 */
    HVT_ORC_DEV_LOCK_NEG_FLAGS,   /* qemu-lock-neg-flags: LOCK NEG leaves SF/ZF/PF wrong */
    HVT_ORC_DEV_RCX_FLAGS_ON_FAULT, /* qemu-rcl-rcr-flags-on-fault: CF/OF changed by a faulting
                                       RCL/RCR */
    HVT_ORC_DEV_CMPXCHG32_RAX,    /* qemu-cmpxchg32-zero-extends-rax: on success too */
    HVT_ORC_DEV_LOOKAHEAD,        /* qemu-translation-lookahead: #PF on the page after the
                                     instruction, which the CPU never fetches */
    HVT_ORC_DEV_CORE_SPLIT_LOCK,  /* not unicorn's: the core's documented UNHANDLEABLE for a
                                     LOCKed operand split across pages (core/mmu.h) */
    HVT_ORC_DEV_SSE_ALIGN,        /* qemu-no-sse-alignment-check: MOVAPS/MOVAPD/MOVDQA/MOVNT*
                                     on a misaligned operand run (or #PF) instead of #GP(0) */
    HVT_ORC_DEV_WALK_BEFORE_ALIGN, /* qemu-walk-before-alignment-gp: CMPXCHG16B walks the
                                     operand's page tables (A bits) before its #GP(0) */
    HVT_ORC_DEV_SSE_SPLIT_PARTIAL, /* qemu-sse-split-partial: a 16-byte SSE access across pages
                                     is two 8-byte halves: a #PF on the second leaves the first
                                     half loaded into XMM or stored to memory */
    HVT_ORC_DEV_SSE_UD_NM_A_BITS, /* qemu-sse-ud-nm-before-fetch: #UD/#NM of an SSE form is
                                     raised at translation: the rest of the instruction is never
                                     fetched (no #PF or A bit on its second page) and the
                                     operand's upper levels get A bits */
    HVT_ORC_DEV_SSE_NM_BEFORE_UD, /* qemu-sse-nm-before-ud: CR0.TS #NM checked before the #UD
                                     of CR4.OSFXSR = 0 / CR0.EM = 1 */
    HVT_ORC_DEV__COUNT
};
HVT_API const char *hvt_orc_deviation_name(unsigned dev);

/* Compares the core's result REF with the oracle's UC for case C. Returns 0 when they agree,
 * 1 on a mismatch (DIFF, if not NULL, receives a readable multi-line description), or 2 when
 * they differ only by a known deviation (*DEV says which). */
HVT_API int hvt_orc_compare(const struct hvt_orc_case *c, const struct hvt_orc_result *ref,
                            const struct hvt_orc_result *uc, char *diff, size_t difflen,
                            unsigned *dev);

/* ---- a whole run ------------------------------------------------------------------------ */

struct hvt_orc_form_stats {
    uint64_t cases, mismatches, excluded;
};

struct hvt_orc_run {
    uint64_t cases, mismatches, excluded, harness_errors;
    uint64_t excluded_by[HVT_ORC_DEV__COUNT];
    struct hvt_orc_form_stats *per_form; /* hvt_orc_form_count() entries */
};

/* Called for each mismatch (case, both results, diff text); may be NULL. */
typedef void (*hvt_orc_mismatch_fn)(void *arg, const struct hvt_orc_case *c,
                                    const struct hvt_orc_result *ref,
                                    const struct hvt_orc_result *uc, const char *diff);

/* Runs N cases of SEED under filter F on the reference core (HVT_CORE_REF) and unicorn.
 * RUN->per_form is allocated here and freed by hvt_orc_run_fini. Errors: -HVT_E_UNSUPPORTED
 * (no unicorn), -HVT_E_INVALID, -HVT_E_NOMEM, or the core's open error. */
HVT_API int hvt_orc_check(uint64_t seed, uint64_t n, const struct hvt_orc_filter *f,
                          hvt_orc_mismatch_fn on_mismatch, void *arg, struct hvt_orc_run *run);
HVT_API void hvt_orc_run_fini(struct hvt_orc_run *run);

/* ---- the native oracle: the host CPU as the reference -------------------------------- */

/* check-core --against native: CASES random string, SIMD-move, CMPXCHG8B/16B and AVX2 gather
 * cases from SEED, each run on the reference core and natively on the host CPU in a sandbox
 * child process (oracle/native.h), compared on outcome, GPRs, RIP, flags, YMM and memory.
 * The core follows CPU (NULL: this host's profile from hvt_orc_cpu_host, which is then the
 * one that must match). Prints the profile ("cpu: TEXT"; the probes with VERBOSE), mismatches
 * with the values of both sides (a gather's destination and mask element by element),
 * skipped features by name, a per-form table with VERBOSE and the line
 * "N cases, M mismatches" to OUT. Returns M (>= 0) or -HVT_E_INVALID, -HVT_E_UNSUPPORTED (not
 * an x86-64 host), -HVT_E_NOMEM, -HVT_E_IO (the sandbox failed), or the core's open error. */
HVT_API int hvt_oracle_native_check(uint64_t seed, uint64_t cases, int verbose,
                                    const struct hvt_cpu_profile *cpu, FILE *out);

/* This host's CPU profile: CPUID (hvt_cpu_profile_cpuid) for vendor, model and features, and
 * for each implementation choice a small instruction run natively in the sandbox to see which
 * alternative the CPU takes (a choice whose instruction the CPU lacks keeps the vendor's
 * default). Name "host". REPORT (may be NULL) gets one line per probe: the instruction, what
 * went in and what came out. Returns 0, the number (> 0) of probes whose result no
 * alternative describes (their choice keeps the vendor's default), or -HVT_E_INVALID,
 * -HVT_E_UNSUPPORTED (not an x86-64 host), -HVT_E_NOMEM, -HVT_E_IO (the sandbox failed). */
HVT_API int hvt_orc_cpu_host(struct hvt_cpu_profile *out, char *report, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* HVTRACE_ORACLE_H */
