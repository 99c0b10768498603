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

/* Version of the core ABI below (ops table, result, plugin descriptor). Bumped on any
 * incompatible change; a plugin built for another version is refused. */
#define HVT_CORE_ABI_VERSION 1

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

struct hvt_core_result {
    struct hvt_pass_outcome out; /* OKAY, RETRY (cause), EXCEPTION (vector, error code, CR2),
                                    UNHANDLEABLE, UNIMPLEMENTED; iterations completed */
    uint8_t insn_len;            /* bytes decoded, 0 when the fetch or decode failed */
    uint8_t insn[HVT_INSN_MAX];
    char detail[64];             /* short text: mnemonic, or why UNHANDLEABLE/UNIMPLEMENTED */
};

/* ---- plugin descriptor: what a core shared object exports ------------------------------- */

/* A core built as a shared object exports this function under the name HVT_CORE_ENTRY_SYMBOL.
 * Called with the host's HVT_CORE_ABI_VERSION; returns the core's descriptor, or NULL when the
 * core does not implement that ABI version. */
#define HVT_CORE_ENTRY_SYMBOL "hvt_core_entry"

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
    /* Emulates one instruction at STATE->rip. Deterministic: the same state and op answers
     * give the same op calls in the same order. Updates STATE on OKAY (and on the partial
     * progress the result reports). Returns 0 (the outcome is in RES) or a negative error for
     * bad arguments. */
    int (*emulate)(void *inst, struct hvt_vcpu_state *state, const struct hvt_core_ops *ops,
                   void *ctx, struct hvt_core_result *res);
};
/* A smaller descriptor (an older plugin) is read with the missing tail as zero; a larger one
 * (a newer plugin) up to what this library knows. Below the first version: refused. */
#define HVT_CORE_PLUGIN_SIZE_V1 ((uint32_t)sizeof(struct hvt_core_plugin))

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

/* Emulates one instruction; see struct hvt_core_plugin.emulate. */
HVT_API int hvt_core_emulate(struct hvt_core *c, struct hvt_vcpu_state *state,
                             const struct hvt_core_ops *ops, void *ctx,
                             struct hvt_core_result *res);

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
