/* SPDX-License-Identifier: MIT */
/* hvtrace: the KVM host: guests on /dev/kvm recorded at their device exits; KVM's emulator checked.
 */
#ifndef HVTRACE_KVM_H
#define HVTRACE_KVM_H

#include "hvtrace/export.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hvtrace/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What the KVM host is
 * --------------------
 * A small VMM on /dev/kvm that runs the simulated host's guest programs (long mode, 4-level
 * paging, the same page tables and device pages) for real, one thread per vCPU, with racing
 * agents as guest code on another vCPU, and records what it sees at KVM's device exits:
 *
 * - An EVENT is one guest instruction at a device exit, until the vCPU leaves it; a PASS is
 *   one KVM exit. A read (MMIO read, IN) exit is a RETRY pass (cause MMIO or PIO): the access
 *   is recorded and its answer served in the next pass. A write (MMIO write, OUT) exit is
 *   complete. A REP string instruction exits once per iteration: each is a pass with one
 *   iteration committed. After a read exit the vCPU is single-stepped once, so the pass that
 *   completes the instruction ends at the instruction's exact end state.
 * - KVM's device access (address, size, direction, data) is recorded as observed. Everything
 *   KVM does not report (the fetch, page-walk reads, RAM operands, device reads KVM served from
 *   its own read cache) is the reference core's shadow reconstruction, run from the pass's
 *   start state over the live guest memory at the exit, and flagged HVT_AF_RECONSTRUCTED.
 *   Where the shadow's device access or end state differs from KVM's, the difference is
 *   counted by name (struct hvt_kvm_stats).
 * - A write exit reports the state after the instruction. The state before it (the event's
 *   initial state) is reconstructed (the instruction ending at RIP, or the REP iteration at
 *   RIP, that the reference core re-runs into exactly KVM's state), or exact with
 *   HVT_KVM_LOCKSTEP, which single-steps every guest instruction.
 * - The trace header records the host (kvm), the kernel release, the KVM module, and the CPU
 *   profile made from KVM_GET_SUPPORTED_CPUID as the vCPUs are shown it.
 *
 * Everything here needs a usable /dev/kvm. Without it (absent, no permission, KVM_CREATE_VM
 * refused) every call returns -HVT_E_UNSUPPORTED with the reason, and callers skip.
 */

/* hvt_kvm_options.flags */
#define HVT_KVM_LOCKSTEP (1u << 0)  /* single-step every instruction: exact pre-states */
#define HVT_KVM_OVERWRITE (1u << 1) /* replace an existing output file */

#define HVT_KVM_MAX_VCPUS 16

struct hvt_kvm_options {
    size_t size;          /* sizeof(struct hvt_kvm_options) */
    const char *scenario; /* "clean", "pageout", "cmps", "mixed" (hvt_kvm_scenario_name) */
    uint32_t vcpus;       /* 2..HVT_KVM_MAX_VCPUS (the last runs the agent when the scenario
                             has one); 0 = 2 */
    uint64_t events;      /* stop after this many events (1..10^8); 0 = the scenario's default */
    uint64_t seed;        /* device delays and agent targeting; default 1 */
    unsigned flags;       /* HVT_KVM_* */
    /* a real guest instead of a scenario: a vmlinux ELF (64-bit entry), optional initrd and
     * command line; it runs on one vCPU until SECONDS of wall time or EVENTS events */
    const char *kernel;
    const char *initrd;
    const char *append;
    uint32_t seconds;    /* kernel boot: wall-time budget; 0 = 60 */
    const char *console; /* kernel boot: file the UART's output is written to (NULL: none) */
};
#define HVT_KVM_OPTIONS_SIZE_V1 sizeof(struct hvt_kvm_options)

struct hvt_kvm_stats {
    size_t size;    /* sizeof(struct hvt_kvm_stats); set by the caller */
    uint64_t exits; /* KVM_RUN returns, all vCPUs */
    uint64_t mmio_exits, pio_exits, debug_exits;
    uint64_t events, passes;      /* recorded (or, without a file, counted) */
    uint64_t agent_actions;       /* writes made by the agent vCPU on request */
    uint64_t reconstructed_init;  /* events whose initial state was reconstructed */
    uint64_t unreconstructed;     /* write exits whose pre-state no candidate explained */
    uint64_t shadow_ok;           /* passes where the shadow core agreed with KVM */
    uint64_t shadow_named;        /* passes that differed only by a named KVM deviation */
    uint64_t shadow_mismatch;     /* passes that differed otherwise */
    uint64_t dev_rep_last_at_rep; /* kvm-rep-last-iteration-at-rep */
    uint64_t dev_rep_rf;          /* kvm-rep-exit-sets-rf */
    uint64_t wall_ns;
    uint64_t rec_accesses, file_bytes;
    char module[32];          /* kvm_pvm, kvm_intel, kvm_amd */
    char release[65];         /* the kernel release */
    char first_mismatch[160]; /* what the first unexplained shadow difference was */
};
#define HVT_KVM_STATS_SIZE_V1 sizeof(struct hvt_kvm_stats)

/* Fills *O with defaults (and O->size). O may not be NULL. */
HVT_API void hvt_kvm_options_init(struct hvt_kvm_options *o);

/* 0 when /dev/kvm can create a VM here, -HVT_E_UNSUPPORTED (WHY, may be NULL, says what
 * failed) otherwise. */
HVT_API int hvt_kvm_probe(char *why, size_t len);

/* The scenarios the KVM host runs, and one-line summaries (NULL when I is out of range). */
HVT_API size_t hvt_kvm_scenario_count(void);
HVT_API const char *hvt_kvm_scenario_name(size_t i);
HVT_API const char *hvt_kvm_scenario_summary(size_t i);

/* Runs O's scenario (or kernel) on KVM and records it into PATH (NULL: a plain VMM that only
 * serves the device exits, nothing stepped, shadowed or recorded: the overhead baseline). ST (may
 * be NULL; size set) gets the figures. Errors: -HVT_E_INVALID (bad options), -HVT_E_NOT_FOUND
 * (unknown scenario, no kernel file), -HVT_E_UNSUPPORTED (no usable KVM: ERR says why),
 * -HVT_E_EXISTS / -HVT_E_IO (the output), -HVT_E_INTERNAL (the guest stopped unexpectedly: ERR
 * names the exit). ERR gets "what: why". */
HVT_API int hvt_kvm_record(const char *path, const struct hvt_kvm_options *o,
                           struct hvt_kvm_stats *st, char *err, size_t len);

/* check-kvm: CASES oracle cases from SEED (64-bit, 4-level paging, CPL 0: the instructions
 * KVM's emulator runs on kvm_pvm), each loaded into a KVM guest, single-stepped, and compared
 * with the reference core as check-core compares (outcome, vector, error code, CR2, GPRs,
 * RIP, defined flags, RAM with the paging structures). Differences KVM is known to have are
 * excluded by name and counted. Prints mismatches (all with VERBOSE), the exclusions and
 * "N cases, M mismatches" to OUT. Returns M (>= 0), or -HVT_E_UNSUPPORTED (no usable KVM, or
 * a KVM whose ring-0 code is not emulated: the message says so), -HVT_E_NOMEM, -HVT_E_IO. */
HVT_API int hvt_kvm_check(uint64_t seed, uint64_t cases, int verbose, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* HVTRACE_KVM_H */
