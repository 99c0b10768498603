/* SPDX-License-Identifier: MIT */
/* hvtrace: the core ABI: emulate one x86 instruction through a table of tagged physical ops. */
#ifndef HVTRACE_CORE_H
#define HVTRACE_CORE_H

#include "hvtrace/export.h"

#include <stdint.h>
#include <stddef.h>

#include "hvtrace/cpu.h"
#include "hvtrace/error.h"
#include "hvtrace/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the core ABI below (ops table, result, plugin descriptor, services). The host
 * asks a plugin's entry for HVT_CORE_ABI_VERSION first and then for each older version down to
 * HVT_CORE_ABI_VERSION_MIN; it loads the newest one the plugin implements.
 *   1: emulate() on the state and the ops table.
 *   2: emulate2() with the environment (MSRs, XSAVE area, the core services), retire flags in
 *      the result, the plugin flags; an invalid opcode is #UD (EXCEPTION vector 6), never
 *      UNIMPLEMENTED. Version-1 plugins still load: they get no environment, and the host
 *      fills the version-2 result fields as "not reported". */
#define HVT_CORE_ABI_VERSION 2
#define HVT_CORE_ABI_VERSION_MIN 1

/* ---- the contract (docs/CORE-ABI.md has it in full) -------------------------------------
 *
 * - One call emulates one instruction at state->rip, deterministically: the same state and op
 *   answers give the same op calls in the same order.
 * - Tags: kind, tag class, operand (DATA, DESC), element (DATA and IO of string instructions,
 *   gather/scatter lanes), level (WALK, AD), physical address or port, size and the data
 *   written are required: replay compares them. The linear address, the segment and the
 *   SPLIT/LOCKED flags are advisory.
 * - An iteration is one round of a string instruction; an element one gather/scatter lane.
 *   DATA/IO accesses carry the iteration within the pass, from 0; walks and A/D updates carry
 *   none. out.iterations counts what the pass completed.
 * - REP: a core loops itself, or runs one iteration per call (HVT_COREF_REP_ONE: OKAY with RIP
 *   unchanged and RCX stepped; the call that finishes advances RIP), which the replayer
 *   aggregates.
 * - RETRY: the pass leaves the state as it found it, except committed REP iterations and
 *   gather elements (out.iterations); EXCEPTION, UNHANDLEABLE and UNIMPLEMENTED commit nothing
 *   else either.
 * - An invalid opcode is #UD (EXCEPTION vector 6), never UNIMPLEMENTED; UNIMPLEMENTED is a valid
 *   instruction the core cannot emulate.
 * - Ops and services are plain C functions: they may clobber every vector and x87/MMX
 *   register. A core that keeps guest values in vector registers across an op or services
 *   call saves and restores them itself. */

/* ---- physical-access ops: the one way a core reaches guest memory and ports ------------- */

/* hvt_op_info.flags */
#define HVT_OPF_LINEAR_VALID (1u << 0) /* linear holds the linear address of the access */
#define HVT_OPF_LOCKED (1u << 1)       /* part of a LOCKed (atomic) instruction */
#define HVT_OPF_SPLIT (1u << 2)        /* one piece of an access split at a page boundary */

/* What the core says about an access, beyond its address and size. */
struct hvt_op_info {
    struct hvt_tag tag;
    uint8_t kind;  /* enum hvt_access_kind */
    uint8_t seg;   /* enum hvt_seg; HVT_SEG_NONE for walks, A/D updates and port I/O */
    uint8_t space; /* OUT: the op sets where it served the access (enum hvt_space); the core
                      initialises it to RAM for memory and PORT for port I/O */
    uint8_t flags; /* HVT_OPF_* */
    uint32_t reserved;
    uint64_t linear;
};

/* Every op returns an enum hvt_op_result. RETRY or UNHANDLEABLE end the pass: the core then
 * returns the same outcome and, per the RETRY contract, leaves the vCPU state as it was
 * (except committed REP iterations and gather elements, reported in the result).
 * SIZE is 1..HVT_DATA_MAX; an access never crosses a page boundary (the core splits). */
struct hvt_core_ops {
    size_t size; /* sizeof(struct hvt_core_ops) */
    int (*read)(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info);
    int (*write)(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                 struct hvt_op_info *info);
    /* Atomically: if memory at GPA equals *OLD, store *NEW and return OKAY; otherwise copy the
     * current contents into *OLD and return CMPXCHG_FAILED. */
    int (*cmpxchg)(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                   struct hvt_op_info *info);
    int (*io_in)(void *ctx, uint16_t port, void *buf, uint32_t size, struct hvt_op_info *info);
    int (*io_out)(void *ctx, uint16_t port, const void *buf, uint32_t size,
                  struct hvt_op_info *info);
};
/* Size versioning as in recorder.h: an older, smaller table is accepted (the ops it lacks are
 * NULL), a newer, larger one when the ops this library does not know are NULL. */
#define HVT_CORE_OPS_SIZE_V1 sizeof(struct hvt_core_ops)

/* ---- result of one emulation ----------------------------------------------------------- */

/* hvt_core_result.retire: HVT_RETIRE_* (include/hvtrace/types.h), what the instruction leaves
 * for the next one (version 2); the host copies it into out.retire. */

struct hvt_core_result {
    struct hvt_pass_outcome out; /* OKAY, RETRY (cause), EXCEPTION (vector, error code, CR2),
                                    UNHANDLEABLE, UNIMPLEMENTED; iterations completed */
    uint8_t insn_len;            /* bytes decoded, 0 when the fetch or decode failed */
    uint8_t insn[HVT_INSN_MAX];
    char detail[64];             /* short text: mnemonic, or why UNHANDLEABLE/UNIMPLEMENTED */
    uint32_t retire;             /* HVT_RETIRE_* (version 2; a version-1 core leaves it 0) */
};
/* The result without retire: what hvt_core_emulate fills (a caller built before version 2
 * has a result of this size); hvt_core_emulate2 and emulate2 take the whole struct. */
#define HVT_CORE_RESULT_SIZE_V1 offsetof(struct hvt_core_result, retire)

/* ---- core services: the reference MMU for cores that work with linear addresses ---------
 *
 * Hypervisor emulators (Xen's x86_emulate, KVM's emulate.c, bhyve, QEMU's) take segment:offset
 * or linear addresses and leave segmentation and paging to the host. Version 2 gives such a
 * core the reference core's MMU as a table of functions, bound for one emulate2() call to the
 * state, the ops and the result it was called with. Every access they make goes through the
 * host's ops, tagged: WALK reads and AD compare-exchanges in the canonical order of
 * docs/CORE.md, then the data access, split at page boundaries. The reference core runs on
 * the same functions, so there is one MMU.
 *
 * Every service returns an enum hvt_outcome: HVT_OUT_OKAY to go on; anything else ends the
 * pass, with the core result already filled (exception vector, error code and CR2; the retry
 * cause; the UNHANDLEABLE detail): the core returns from emulate2() without changing the
 * state (the RETRY contract below) and without touching the result's outcome.
 * Linear addresses wrap as the mode does; the mode and CPL are read from the state at each
 * call, so a core that loads CS or SS mid-instruction sees the new ones. */

struct hvt_svc; /* one emulate2() call's session: opaque, owned by the host */

/* Access intent, one of R/W/X, or'ed with the flags. */
#define HVT_SVC_R 0u              /* data read */
#define HVT_SVC_W 1u              /* data write, or read-modify-write (walks as a write, sets D) */
#define HVT_SVC_X 2u              /* instruction fetch */
#define HVT_SVC_IMPLICIT (1u << 4) /* implicit supervisor access (descriptor tables) */
#define HVT_SVC_STACK (1u << 5)    /* stack access: segment faults are #SS, not #GP */
#define HVT_SVC_LOCKED (1u << 6)   /* part of a LOCKed instruction: the ops see HVT_OPF_LOCKED */

/* A translated operand: up to two physical pieces (it crosses a page boundary). */
struct hvt_svc_xlat {
    uint64_t la;     /* linear address of the first byte */
    uint32_t size;   /* total bytes */
    uint8_t seg;     /* enum hvt_seg it was addressed through */
    uint8_t n;       /* 1 or 2 pieces */
    uint8_t intent;  /* HVT_SVC_* it was translated for */
    uint8_t reserved;
    uint64_t gpa[2];
    uint32_t len[2];
};

struct hvt_core_services {
    uint32_t size;     /* sizeof(struct hvt_core_services) */
    uint32_t reserved;
    /* Segmentation: the linear address of SEG:OFF for SIZE bytes, with the present, type,
     * limit (expand-down too) and canonical checks and their exact fault (#GP(0) / #SS(0)).
     * OFF is already truncated to the address size. */
    int (*linear)(struct hvt_svc *s, unsigned seg, uint64_t off, uint32_t size, unsigned intent,
                  uint64_t *la);
    /* Paging: the guest-physical address of one linear address for INTENT (R/W/X, IMPLICIT):
     * WALK reads, rights checks (U/S, R/W, NX, SMEP, SMAP, WP), then the A/D updates; #PF
     * with the exact error code and CR2. With paging off, the linear address. */
    int (*translate)(struct hvt_svc *s, uint64_t la, unsigned intent, uint64_t *gpa);
    /* Both together for an operand (every page it touches translated before any data
     * access), plus #AC when ALIGN (0: none; 1: natural; else that power of two) applies.
     * SIZE is 1..4096. */
    int (*map)(struct hvt_svc *s, unsigned seg, uint64_t off, uint32_t size, unsigned intent,
               unsigned align, struct hvt_svc_xlat *x);
    /* Data accesses on a mapped operand: one op call per page piece (longer pieces in
     * HVT_DATA_MAX steps), tagged TAG, with the linear address and segment. */
    int (*read_x)(struct hvt_svc *s, const struct hvt_svc_xlat *x, void *buf, struct hvt_tag tag);
    int (*write_x)(struct hvt_svc *s, const struct hvt_svc_xlat *x, const void *buf,
                   struct hvt_tag tag);
    /* Locked compare-exchange of a one-piece operand: *SUCCESS says whether it stored NEW_;
     * on failure *OLD holds the value found. A split operand is UNHANDLEABLE. */
    int (*cmpxchg_x)(struct hvt_svc *s, const struct hvt_svc_xlat *x, void *old,
                     const void *new_, int *success, struct hvt_tag tag);
    /* map + read_x / write_x / cmpxchg_x in one call (ALIGN as in map; INTENT's R/W part is
     * implied). What a linear-address emulator's read/write/cmpxchg hooks map onto. */
    int (*read)(struct hvt_svc *s, unsigned seg, uint64_t off, void *buf, uint32_t size,
                unsigned flags, unsigned align, struct hvt_tag tag);
    int (*write)(struct hvt_svc *s, unsigned seg, uint64_t off, const void *buf, uint32_t size,
                 unsigned flags, unsigned align, struct hvt_tag tag);
    int (*cmpxchg)(struct hvt_svc *s, unsigned seg, uint64_t off, void *old, const void *new_,
                   uint32_t size, unsigned flags, int *success, struct hvt_tag tag);
    /* Instruction fetch: LEN (1..HVT_DATA_MAX) bytes at CS:(RIP + OFF), checked as an X
     * access, tag HVT_TAG_FETCH, one op per page piece. Any split is fine: a byte at a time,
     * or all 15 bytes at once (docs/CORE-ABI.md: fetches compare as the bytes they cover). */
    int (*fetch)(struct hvt_svc *s, uint64_t off, uint8_t *buf, uint32_t len);
    /* The I/O permission check of SIZE bytes at PORT: when CPL > IOPL (protected mode), the
     * TSS bitmap (descriptor reads tagged HVT_TAG_DESC) -> #GP(0). */
    int (*io_check)(struct hvt_svc *s, uint16_t port, uint32_t size);
    /* Port I/O through the ops (tag HVT_TAG_IO, element ELEMENT for string I/O); call
     * io_check first. */
    int (*io_in)(struct hvt_svc *s, uint16_t port, void *buf, uint32_t size, uint32_t element);
    int (*io_out)(struct hvt_svc *s, uint16_t port, const void *buf, uint32_t size,
                  uint32_t element);
    /* Ends the pass with an exception (fills the result): the same outcome a fault found by
     * the services gives. Returns HVT_OUT_EXCEPTION. */
    int (*raise)(struct hvt_svc *s, unsigned vector, int has_error_code, uint32_t error_code,
                 uint64_t cr2);
    /* The current privilege level and the mode: 16, 32 (protected or compatibility) or 64;
     * 0 for real mode, which the services do not support (every call is UNHANDLEABLE). */
    unsigned (*cpl)(struct hvt_svc *s);
    unsigned (*mode_bits)(struct hvt_svc *s);
};
#define HVT_CORE_SERVICES_SIZE_V1 ((uint32_t)sizeof(struct hvt_core_services))

/* The services table this library implements (the one emulate2() receives). */
HVT_API const struct hvt_core_services *hvt_core_services(void);

/* ---- environment of one emulation (version 2) ------------------------------------------ */

/* One model-specific register the host knows. A core that executes WRMSR (or updates an MSR
 * as a side effect) stores the new value and sets HVT_MSRF_WRITTEN; RDMSR of an index not in
 * the list is the core's to handle (#GP, as hardware does for an unknown MSR, or
 * UNHANDLEABLE). */
#define HVT_MSRF_WRITTEN (1u << 0)
struct hvt_msr {
    uint32_t index;
    uint32_t flags; /* HVT_MSRF_* */
    uint64_t value;
};

/* MSR indexes the host fills from the state (it always has these). */
#define HVT_MSR_EFER 0xc0000080u
#define HVT_MSR_FS_BASE 0xc0000100u
#define HVT_MSR_GS_BASE 0xc0000101u

/* XSAVE state components (bits of hvt_core_env.xsave_valid, as in XCR0). */
#define HVT_XSTATE_X87 (1ull << 0)
#define HVT_XSTATE_SSE (1ull << 1)
#define HVT_XSTATE_AVX (1ull << 2)
#define HVT_XSTATE_OPMASK (1ull << 5)
#define HVT_XSTATE_ZMM_HI256 (1ull << 6)
#define HVT_XSTATE_HI16_ZMM (1ull << 7)
#define HVT_XSTATE_PKRU (1ull << 9)
/* Offsets in the standard (non-compacted) XSAVE layout. */
#define HVT_XSAVE_LEGACY_SIZE 512u /* FCW..XMM15: the FXSAVE image */
#define HVT_XSAVE_HEADER 512u      /* XSTATE_BV, XCOMP_BV */
#define HVT_XSAVE_AVX 576u         /* YMM0..15 upper halves, 256 bytes */
#define HVT_XSAVE_OPMASK 1088u     /* k0..k7, 64 bytes */
#define HVT_XSAVE_ZMM_HI256 1152u  /* ZMM0..15 upper halves, 512 bytes */
#define HVT_XSAVE_HI16_ZMM 1664u   /* ZMM16..31, 1024 bytes */
#define HVT_XSAVE_PKRU 2688u       /* PKRU, 8 bytes */
#define HVT_XSAVE_SIZE 2752u       /* the whole area with every component above */

struct hvt_core_env {
    uint32_t size;   /* sizeof(struct hvt_core_env) */
    uint32_t n_msrs;
    struct hvt_msr *msrs; /* N_MSRS registers; the core may update values (HVT_MSRF_WRITTEN) */
    /* XSAVE-format (standard layout, 64-byte aligned) copy of the extended state, XSAVE_SIZE
     * bytes, with the components in XSAVE_VALID meaningful. The host fills x87 (defaults when
     * it has none), SSE and AVX from the state (mirroring ymm[] and mxcsr); the core may
     * change them: the host copies SSE/AVX back into the state after an OKAY pass. */
    uint8_t *xsave;
    uint32_t xsave_size;
    uint32_t reserved;
    uint64_t xsave_valid; /* HVT_XSTATE_* */
    /* The core services bound to this call; a core that walks pages itself may ignore them. */
    const struct hvt_core_services *svc;
    struct hvt_svc *session;
};

/* ---- plugin descriptor: what a core shared object exports ------------------------------- */

/* A core built as a shared object exports this function under the name HVT_CORE_ENTRY_SYMBOL.
 * Called with the host's HVT_CORE_ABI_VERSION; returns the core's descriptor, or NULL when the
 * core does not implement that ABI version. */
#define HVT_CORE_ENTRY_SYMBOL "hvt_core_entry"

/* hvt_core_plugin.flags (version 2) */
#define HVT_COREF_REP_ONE (1u << 0) /* REP string instructions run one iteration per call
                                       (OKAY, RIP unchanged, RCX stepped): the replayer calls
                                       again and adds them up */
#define HVT_COREF_LINEAR (1u << 1)  /* the core works with linear addresses on the services:
                                       its access order is its own (semantic replay) */
#define HVT_COREF_XSAVE (1u << 2)   /* the core wants hvt_core_env.xsave filled */
#define HVT_COREF_NO_ENV (1u << 3)  /* the core reads neither the environment nor the
                                       services (it walks pages itself): the host builds
                                       none and passes an empty one */

struct hvt_core_plugin {
    uint32_t abi_version; /* HVT_CORE_ABI_VERSION the core was built with */
    uint32_t size;        /* sizeof(struct hvt_core_plugin) */
    const char *name;     /* "hvtrace-ref" */
    const char *version;
    const char *build_id;
    /* Creates an instance (decode cache, options). Instances are not thread-safe: use one per
     * thread. Returns 0 or -HVT_E_NOMEM. */
    int (*create)(void **inst);
    void (*destroy)(void *inst);
    /* Options, by name; unknown names give -HVT_E_UNSUPPORTED, bad values -HVT_E_INVALID. */
    int (*set_option)(void *inst, const char *key, const char *value);
    /* Emulates one instruction at STATE->rip (may be NULL in a version-2 descriptor that
     * sets emulate2). Deterministic: the same state and op answers
     * give the same op calls in the same order. Updates STATE on OKAY (and on the partial
     * progress the result reports). Returns 0 (the outcome is in RES) or a negative error for
     * bad arguments. */
    int (*emulate)(void *inst, struct hvt_vcpu_state *state, const struct hvt_core_ops *ops,
                   void *ctx, struct hvt_core_result *res);
    /* ---- version 2 (the host uses emulate2 when it is set, else emulate) ---- */
    uint32_t flags;    /* HVT_COREF_* */
    uint32_t reserved;
    /* As emulate, with the environment ENV (MSRs, XSAVE area, services); ENV->size tells
     * which fields the host filled. */
    int (*emulate2)(void *inst, struct hvt_vcpu_state *state, struct hvt_core_env *env,
                    const struct hvt_core_ops *ops, void *ctx, struct hvt_core_result *res);
};
/* A smaller descriptor (an older plugin) is read with the missing tail as zero; a larger one
 * (a newer plugin) up to what this library knows. Below the first version: refused. */
#define HVT_CORE_PLUGIN_SIZE_V1 ((uint32_t)offsetof(struct hvt_core_plugin, flags))
#define HVT_CORE_PLUGIN_SIZE_V2 ((uint32_t)sizeof(struct hvt_core_plugin))

typedef const struct hvt_core_plugin *(*hvt_core_entry_fn)(uint32_t abi_version);

/* ---- host side: choosing and driving a core -------------------------------------------- */

struct hvt_core;

/* The reference core's name, accepted by hvt_core_open. */
#define HVT_CORE_REF "ref"

/* Opens a core: HVT_CORE_REF (or NULL) for the built-in reference core, or a path to a shared
 * object (anything containing '/' or ending in ".so") exporting HVT_CORE_ENTRY_SYMBOL.
 * Errors: -HVT_E_INVALID, -HVT_E_NOT_FOUND (no such core or file), -HVT_E_BAD_PLUGIN (no entry
 * symbol, ABI mismatch), -HVT_E_NOMEM. ERRBUF (may be NULL) receives dlerror()-style detail. */
HVT_API int hvt_core_open(struct hvt_core **out, const char *name_or_path, char *errbuf,
                          size_t errlen);

/* Closes the core (and unloads its plugin). C may be NULL. */
HVT_API void hvt_core_close(struct hvt_core *c);

/* The descriptor of an open core (name, version, build id). */
HVT_API const struct hvt_core_plugin *hvt_core_info(const struct hvt_core *c);

/* Sets an option on the core. Every core should take "cpu" (the guest's CPU profile, below);
 * reference-core options:
 *   "cpu" = the text form of a CPU profile (include/hvtrace/cpu.h) or a built-in's name: the
 *                                    features (#UD when one is absent) and choices to follow
 *   "pdpte-reread" = "0"|"1"       re-read PAE PDPTEs from memory on every walk (not hardware)
 *   "gather-partial" = "keep"|"discard"   on RETRY mid-gather: keep completed elements and the
 *                                    written-back mask (hardware, Xen) or discard them
 *   "decode-cache" = "0"|"1"       use the decoded-instruction cache (default 1)
 * Errors: -HVT_E_UNSUPPORTED (unknown key), -HVT_E_INVALID (bad value). */
HVT_API int hvt_core_set_option(struct hvt_core *c, const char *key, const char *value);

/* Tells the core which CPU the guest was shown: hvt_core_set_option(c, "cpu", text form of P).
 * Errors: -HVT_E_INVALID (NULL), -HVT_E_UNSUPPORTED (a core that does not follow profiles:
 * it keeps behaving as it always does, which the caller should say). */
HVT_API int hvt_core_set_cpu(struct hvt_core *c, const struct hvt_cpu_profile *p);

/* Decode-cache counters of an open core (benchmarks, diagnostics). */
struct hvt_core_stats {
    uint64_t decode_hits;   /* emulations whose instruction came from the decode cache */
    uint64_t decode_misses; /* emulations that had to decode (capstone) */
};

/* Fills *OUT with C's counters since it was opened. Only the built-in reference core keeps
 * them: a plugin core (even hvtcore_ref.so) gives -HVT_E_UNSUPPORTED. Errors: -HVT_E_INVALID
 * (NULL argument), -HVT_E_UNSUPPORTED. */
HVT_API int hvt_core_stats(const struct hvt_core *c, struct hvt_core_stats *out);

/* Emulates one instruction; see struct hvt_core_plugin.emulate. A version-2 core runs with
 * the default environment (hvt_core_emulate2 with ENV NULL). Fills HVT_CORE_RESULT_SIZE_V1
 * bytes of RES: the retire flags need hvt_core_emulate2. */
HVT_API int hvt_core_emulate(struct hvt_core *c, struct hvt_vcpu_state *state,
                             const struct hvt_core_ops *ops, void *ctx,
                             struct hvt_core_result *res);

/* Emulates one instruction with the environment ENV: the host's MSR list and XSAVE area
 * (ENV->size at least sizeof(struct hvt_core_env); its svc and session fields are set here,
 * for the call). ENV NULL: EFER and the FS/GS bases as MSRs, the XSAVE image of the state when
 * the core sets HVT_COREF_XSAVE, and what the core changed in them copied back into STATE on
 * OKAY. A version-1 core is called without the environment and its RES->retire is 0.
 * On return RES->retire has HVT_RETIRE_REPORTED for a version-2 core's OKAY pass.
 * Errors: -HVT_E_INVALID (NULL argument, bad ops table or ENV size), or the core's. */
HVT_API int hvt_core_emulate2(struct hvt_core *c, struct hvt_vcpu_state *state,
                              struct hvt_core_env *env, const struct hvt_core_ops *ops,
                              void *ctx, struct hvt_core_result *res);

/* The core ABI version an open core was loaded with (1 or 2); 0 for NULL. */
HVT_API unsigned hvt_core_abi(const struct hvt_core *c);

/* The built-in reference core's descriptor (what its plugin build also exports). */
HVT_API const struct hvt_core_plugin *hvt_core_ref(void);

/* The RFLAGS bits (of CF PF AF ZF SF OF) that the SDM leaves architecturally undefined after
 * the instruction MNEMONIC (lowercase, "shl", "mul", ...) with operand size OPSIZE (bytes: 1,
 * 2, 4, 8) and, for shifts and rotates, the raw COUNT operand (masked as the CPU masks it).
 * A differential harness masks these before comparing two emulators; docs/CORE.md says what
 * the reference core writes into them. 0 for instructions whose flags are all defined (or
 * untouched) and for mnemonics it does not know. */
HVT_API uint64_t hvt_core_undef_flags_of(const char *mnemonic, unsigned opsize, unsigned count);

#ifdef __cplusplus
}
#endif
#endif /* HVTRACE_CORE_H */
