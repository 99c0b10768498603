/* SPDX-License-Identifier: MIT */
/* hvtrace: the CPU profile: the guest's CPU model, its features and implementation choices. */
#ifndef HVTRACE_CPU_H
#define HVTRACE_CPU_H

#include "hvtrace/export.h"

#include <stddef.h>
#include <stdint.h>

#include "hvtrace/error.h"
#include "hvtrace/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A CPU profile says which CPU a guest was shown: vendor and family/model/stepping, the CPUID
 * features an emulator consults, and one named choice for each behaviour the architecture
 * leaves to the implementation (where CPU models differ, e.g. what a faulting AVX2 gather
 * leaves in its mask). Hosts record it in the trace header; cores follow it (a missing feature
 * is #UD); replay uses the trace's profile or a what-if override. docs/CORE.md lists every
 * feature and choice, and which known CPUs take which alternative.
 *
 * Text form (trace header, the core option "cpu", `--cpu`): whitespace-separated tokens.
 *   NAME                     a built-in profile as the base (first token only)
 *   name=S vendor=S family=N model=N stepping=N features=f1,f2,...
 *   +FEATURE / -FEATURE      add or remove one feature
 *   CHOICE=ALTERNATIVE       e.g. gather-fault-mask=keep
 * Numbers are decimal or 0x-hex. hvt_cpu_profile_format() writes the full form, which parses
 * back to the same profile.
 */

/* CPUID features. "consulted" ones change what the reference core does; the others are
 * recorded for the reader of a trace. */
enum hvt_cpu_feature {
    HVT_CPUF_SSE = 0, /* consulted: legacy SSE moves */
    HVT_CPUF_SSE2,    /* consulted: SSE2 moves, MOVD/MOVQ, MOVNTI */
    HVT_CPUF_SSE3,
    HVT_CPUF_SSSE3,
    HVT_CPUF_SSE41,
    HVT_CPUF_SSE42,
    HVT_CPUF_CX8,  /* consulted: CMPXCHG8B */
    HVT_CPUF_CX16, /* consulted: CMPXCHG16B */
    HVT_CPUF_MOVBE,
    HVT_CPUF_XSAVE, /* consulted: CR4.OSXSAVE */
    HVT_CPUF_AVX,   /* consulted: VEX-encoded moves */
    HVT_CPUF_AVX2,  /* consulted: gathers */
    HVT_CPUF_AVX512F,
    HVT_CPUF_BMI2,
    HVT_CPUF_ERMS,
    HVT_CPUF_FSRM,
    HVT_CPUF_PSE,     /* consulted: CR4.PSE */
    HVT_CPUF_PAE,     /* consulted: CR4.PAE */
    HVT_CPUF_NX,      /* consulted: EFER.NXE */
    HVT_CPUF_LM,      /* consulted: EFER.LMA (long mode) */
    HVT_CPUF_PDPE1GB, /* consulted: 1 GiB pages (PS in a PDPTE) */
    HVT_CPUF_LA57,    /* consulted: CR4.LA57 */
    HVT_CPUF_SMEP,    /* consulted: CR4.SMEP */
    HVT_CPUF_SMAP,    /* consulted: CR4.SMAP */
    HVT_CPUF_PKU,     /* consulted: CR4.PKE */
    HVT_CPUF_UMIP,
    HVT_CPUF__COUNT
};

/* Implementation-specific behaviours, each with its alternatives (value 0 is the first). */
enum hvt_cpu_choice {
    /* A REP string instruction with a 67 prefix in 64-bit mode that completes no iteration
     * (count zero, or a fault on the first): 0 "write": ECX is written (bits 63:32 of RCX
     * cleared), and ESI/EDI for MOVS/STOS; 1 "keep": RCX, RSI and RDI are left as they were. */
    HVT_CPUC_REP_A32_NO_PROGRESS = 0,
    /* REPE/REPNE CMPS/SCAS stopped by a fault after at least one iteration:
     * 0 "initial": RFLAGS as before the instruction; 1 "last": the flags of the last
     * completed comparison. */
    HVT_CPUC_REP_CMPS_FAULT_FLAGS = 1,
    /* An AVX2 gather stopped by a fault: 0 "sign-extend": every mask element not gathered
     * holds its sign bit across the element (all ones or zero); 1 "keep": the elements from
     * the faulting one on keep their value, those before it are zero. */
    HVT_CPUC_GATHER_FAULT_MASK = 2,
    /* A VEX.128 gather stopped by a fault: 0 "zero": bits 255:128 of the mask are zero, and of
     * the destination once an element was gathered; 1 "keep": both keep bits 255:128. */
    HVT_CPUC_GATHER_FAULT_UPPER = 3,
    HVT_CPUC__COUNT
};

#define HVT_CPU_MAX_CHOICES 16 /* room in struct hvt_cpu_profile; >= HVT_CPUC__COUNT */
#define HVT_CPU_NAME_MAX 32
#define HVT_CPU_VENDOR_MAX 16
#define HVT_CPU_TEXT_MAX 1024 /* longest text form hvt_cpu_profile_format() writes */

struct hvt_cpu_profile {
    char name[HVT_CPU_NAME_MAX];      /* "amd-zen3", "host", ... */
    char vendor[HVT_CPU_VENDOR_MAX];  /* "GenuineIntel", "AuthenticAMD", ... */
    uint32_t family, model, stepping; /* display family/model (extended fields folded in) */
    uint32_t reserved;
    uint64_t features;                   /* bit N = enum hvt_cpu_feature N */
    uint8_t choice[HVT_CPU_MAX_CHOICES]; /* per enum hvt_cpu_choice: its alternative */
};

#define HVT_CPU_HAS(p, f) ((((p)->features) >> (f)) & 1u)

/* The name of the profile every host records and every core follows when none is given:
 * fixed, so that a trace is the same whatever machine records it. */
#define HVT_CPU_DEFAULT "intel-icelake-server"

/* Names: "sse2", "gather-fault-mask", "keep"; NULL when out of range. */
HVT_API const char *hvt_cpu_feature_name(unsigned f);
HVT_API const char *hvt_cpu_choice_name(unsigned c);
HVT_API unsigned hvt_cpu_choice_alternatives(unsigned c); /* 0 when out of range */
HVT_API const char *hvt_cpu_choice_value_name(unsigned c, unsigned v);
/* One line describing choice C / alternative V of it, and the known CPUs taking V. */
HVT_API const char *hvt_cpu_choice_summary(unsigned c);
HVT_API const char *hvt_cpu_choice_value_cpus(unsigned c, unsigned v);
/* Index of a name, or -HVT_E_NOT_FOUND. */
HVT_API int hvt_cpu_feature_find(const char *name);
HVT_API int hvt_cpu_choice_find(const char *name);

/* Built-in profiles: the name of the I-th (NULL past the end), its one-line summary. */
HVT_API const char *hvt_cpu_profile_builtin(size_t i);
HVT_API const char *hvt_cpu_profile_builtin_summary(size_t i);

/* Fills *OUT with the built-in profile NAME. Errors: -HVT_E_INVALID (NULL), -HVT_E_NOT_FOUND. */
HVT_API int hvt_cpu_profile_named(struct hvt_cpu_profile *out, const char *name);

/* Fills *OUT with the default profile (HVT_CPU_DEFAULT). */
HVT_API void hvt_cpu_profile_default(struct hvt_cpu_profile *out);

/* Fills *OUT from this machine's CPUID (vendor, family/model/stepping, features; AVX and
 * AVX2 only when the OS enables their state) and takes the choices of the built-in profile of
 * the same vendor, as CPUID cannot tell them. The native oracle's hvt_orc_cpu_host() probes
 * the choices instead. Name "host-cpuid". Errors: -HVT_E_UNSUPPORTED (not an x86-64 host). */
HVT_API int hvt_cpu_profile_cpuid(struct hvt_cpu_profile *out);

/* Parses the text form into *OUT (see above). Tokens this build does not know (a feature, a
 * choice, a key, an alternative) are skipped and described in WARN (may be NULL), "; "-separated;
 * the return value is then the number of them (> 0). Without a base name, fields start from
 * an empty profile (no features, choices 0). Errors: -HVT_E_INVALID (NULL, a token without
 * '=', a bad number, a text over HVT_CPU_TEXT_MAX), -HVT_E_NOT_FOUND (an unknown base name);
 * WARN then says which token. */
HVT_API int hvt_cpu_profile_parse(struct hvt_cpu_profile *out, const char *text, char *warn,
                                  size_t warnlen);

/* Writes the full text form of P into BUF (at most HVT_CPU_TEXT_MAX bytes with the NUL).
 * Returns the length, or -HVT_E_INVALID (NULL), -HVT_E_LIMIT (BUF too small). */
HVT_API int hvt_cpu_profile_format(const struct hvt_cpu_profile *p, char *buf, size_t len);

/* The features of P as space-separated names (for the trace header's cpu_features). */
HVT_API int hvt_cpu_profile_features_text(const struct hvt_cpu_profile *p, char *buf, size_t len);

/* Whether ST could exist on a CPU of profile P: a control-register or EFER bit that needs a
 * feature P lacks (CR4.PSE pse, CR4.PAE pae, CR4.UMIP umip, CR4.LA57 la57, CR4.OSXSAVE xsave,
 * CR4.SMEP smep, CR4.SMAP smap, CR4.PKE pku, EFER.NXE nx, EFER.LME/LMA lm) makes it
 * impossible. Returns 0, or 1 with WHY (may be NULL) naming the bit and the feature;
 * -HVT_E_INVALID for NULL arguments. */
HVT_API int hvt_cpu_profile_check_state(const struct hvt_cpu_profile *p,
                                        const struct hvt_vcpu_state *st, char *why, size_t len);

/* 1 when A and B say the same (name ignored), 0 otherwise. */
HVT_API int hvt_cpu_profile_equal(const struct hvt_cpu_profile *a, const struct hvt_cpu_profile *b);

#ifdef __cplusplus
}
#endif
#endif /* HVTRACE_CPU_H */
