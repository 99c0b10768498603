/* SPDX-License-Identifier: MIT */
/* Native oracle: runs one x86-64 instruction on the host CPU in a forked user-mode sandbox. */
#ifndef HVT_ORACLE_NATIVE_H
#define HVT_ORACLE_NATIVE_H

#include <stdint.h>
#include <stdio.h>

#include "hvtrace/oracle.h"
#include "hvtrace/types.h"

/*
 * The sandbox is a child process. It maps the code page(s) and the data pages of a case at the
 * chosen addresses (which must be free in the calling process: pick them in
 * [HVT_NATIVE_LO, HVT_NATIVE_HI), away from the binary, the libraries, the heap and ASan's
 * shadow), loads every GPR, RFLAGS (the arithmetic flags and DF), MXCSR and YMM0..15 through a
 * signal frame, executes the instruction followed by INT3, and reads everything back from the
 * signal context of whatever stopped it (INT3 = completed, or the fault). A page mapped
 * PROT_NONE forces a #PF at a chosen element or iteration. The child is killed after a couple of
 * seconds (alarm), so nothing hangs. The instruction runs at CPL 3 in 64-bit mode with flat
 * segments (FS/GS overrides see the sandbox's own bases: avoid them).
 */

#define HVT_NATIVE_LO 0x10000000ull /* a range free in a PIE process, also under ASan */
#define HVT_NATIVE_HI 0x70000000ull
#define HVT_NATIVE_PAGE 4096u
#define HVT_NATIVE_MAX_PAGES 8

/* The flags a case can set and that are compared: CF PF AF ZF SF DF OF. */
#define HVT_NATIVE_RFLAGS_MASK 0x0cd5ull

enum hvt_native_prot {
    HVT_NATIVE_NONE = 0, /* mapped PROT_NONE: any access is a #PF (forced fault) */
    HVT_NATIVE_R = 1,
    HVT_NATIVE_RW = 2,
};

struct hvt_native_page {
    uint64_t addr; /* page-aligned, in [HVT_NATIVE_LO, HVT_NATIVE_HI) */
    uint32_t prot; /* enum hvt_native_prot */
    uint32_t reserved;
    uint8_t data[HVT_NATIVE_PAGE];
};

struct hvt_native_case {
    uint64_t code_addr; /* where the instruction is placed (its page(s) are mapped R+X) */
    uint8_t insn[HVT_INSN_MAX];
    uint8_t insn_len;
    /* gpr[], rflags (HVT_NATIVE_RFLAGS_MASK bits), mxcsr and ymm[] are loaded; the rest of the
     * state is ignored. With HVT_STATE_SIMD_VALID clear, YMM are zero and MXCSR is 0x1f80. */
    struct hvt_vcpu_state in;
    unsigned n_pages;
    struct hvt_native_page pages[HVT_NATIVE_MAX_PAGES];
};

/* How the native run ended. */
enum hvt_native_stop {
    HVT_NATIVE_DONE = 0,  /* the instruction completed (the trailing INT3 was reached) */
    HVT_NATIVE_FAULT = 1, /* an exception stopped it: vector, error code, CR2 below */
};

struct hvt_native_result {
    uint32_t stop;       /* enum hvt_native_stop */
    uint32_t vector;     /* x86 vector of the fault (14 #PF, 13 #GP, 6 #UD, 0 #DE, 17 #AC, ...) */
    uint64_t error_code; /* as the kernel saw it (#PF: P/W/U/I bits; U is always set) */
    uint64_t cr2;        /* #PF: the faulting linear address */
    int signo;           /* the signal the child got (SIGTRAP when completed) */
    /* gpr[], rip (the end of the instruction when DONE, the instruction when FAULT), rflags
     * (masked with HVT_NATIVE_RFLAGS_MASK), mxcsr, ymm[] with HVT_STATE_SIMD_VALID. */
    struct hvt_vcpu_state out;
    unsigned n_pages;
    struct hvt_native_page pages[HVT_NATIVE_MAX_PAGES]; /* contents after the run */
};

/* Runs case C natively and fills R. Blocks for the child (at most ~2 s).
 * Errors: -HVT_E_INVALID (bad case: unaligned or out-of-range page, overlapping pages, more than
 * HVT_NATIVE_MAX_PAGES, empty instruction), -HVT_E_UNSUPPORTED (not an x86-64 host),
 * -HVT_E_IO (fork/mmap failed, an address was taken in the sandbox, the child died or timed
 * out without reporting). */
int hvt_native_run(const struct hvt_native_case *c, struct hvt_native_result *r);

/* 1 when the host CPU (and OS, for AVX state) supports the named feature, 0 when not, -1 for an
 * unknown name. Names: those of hvt_cpu_feature_name ("sse2", "avx2", "cx16", ...). */
int hvt_native_has(const char *feature);

/* The page of R holding ADDR, or NULL. */
const struct hvt_native_page *hvt_native_result_page(const struct hvt_native_result *r,
                                                     uint64_t addr);

/* check-core --against native: hvt_oracle_native_check in include/hvtrace/oracle.h. */

#endif
