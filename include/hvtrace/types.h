/* SPDX-License-Identifier: MIT */
/* hvtrace: the data model every component shares: vCPU state, access tags, outcomes, events. */
#ifndef HVTRACE_TYPES_H
#define HVTRACE_TYPES_H

#include "hvtrace/export.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest single access the core makes (one YMM register). Larger accesses are split. */
#define HVT_DATA_MAX 32
/* Longest x86 instruction. */
#define HVT_INSN_MAX 15

/* ---- access classification ------------------------------------------------------------ */

/* What an access does. */
enum hvt_access_kind {
    HVT_ACC_READ = 0,
    HVT_ACC_WRITE = 1,
    HVT_ACC_FETCH = 2,   /* instruction fetch (a read on the read op, tag class FETCH) */
    HVT_ACC_CMPXCHG = 3, /* locked compare-exchange (locked RMW, A/D updates) */
    HVT_ACC_IO_IN = 4,
    HVT_ACC_IO_OUT = 5,
    HVT_ACC__COUNT
};

/* Where the access landed; set by whoever serves it (the host), not by the core. */
enum hvt_space {
    HVT_SPACE_RAM = 0,
    HVT_SPACE_MMIO = 1,
    HVT_SPACE_PORT = 2,
    HVT_SPACE__COUNT
};

/* The role of an access, so that passes can be matched access by access. */
enum hvt_tag_class {
    HVT_TAG_FETCH = 0, /* instruction bytes */
    HVT_TAG_DATA = 1,  /* explicit memory operand */
    HVT_TAG_STACK = 2, /* implicit stack access (PUSH/POP/CALL/RET) */
    HVT_TAG_DESC = 3,  /* descriptor table (GDT/LDT/IDT/TSS) */
    HVT_TAG_WALK = 4,  /* page-walk read of a paging-structure entry */
    HVT_TAG_AD = 5,    /* accessed/dirty bit update of a paging-structure entry */
    HVT_TAG_IO = 6,    /* port I/O */
    HVT_TAG__COUNT
};

/* Walk levels: 1 = PTE, 2 = PDE, 3 = PDPTE (4/5-level), 4 = PML4E, 5 = PML5E.
 * HVT_WALK_PAE_PDPTE tags a read of a PAE PDPTE from memory (hardware loads them into
 * registers at CR3 load; a core that re-reads them per walk shows up with this level). */
#define HVT_WALK_PAE_PDPTE 6

struct hvt_tag {
    uint8_t cls;      /* enum hvt_tag_class */
    uint8_t operand;  /* operand index: 0 = first memory operand (MOVS/CMPS: 0 src, 1 dst) */
    uint8_t level;    /* walk / A/D level (1..5, HVT_WALK_PAE_PDPTE); 0 otherwise */
    uint8_t reserved; /* must be 0 */
    uint32_t element; /* element index: REP iteration, gather/scatter element; 0 otherwise */
};

/* Segment registers, in x86 encoding order, then the system segments and tables. */
enum hvt_seg {
    HVT_SEG_ES = 0,
    HVT_SEG_CS = 1,
    HVT_SEG_SS = 2,
    HVT_SEG_DS = 3,
    HVT_SEG_FS = 4,
    HVT_SEG_GS = 5,
    HVT_SEG_LDTR = 6,
    HVT_SEG_TR = 7,
    HVT_SEG_GDTR = 8,
    HVT_SEG_IDTR = 9,
    HVT_SEG_NONE = 15 /* physical access with no linear address (walks, A/D, port I/O) */
};

/* What an op (a physical access) answered; also the recorded outcome of an access. */
enum hvt_op_result {
    HVT_OP_OKAY = 0,
    HVT_OP_RETRY = 1,          /* the device model must help; the pass ends, re-executed later */
    HVT_OP_UNHANDLEABLE = 2,   /* the access cannot be served; the pass ends UNHANDLEABLE */
    HVT_OP_CMPXCHG_FAILED = 3, /* cmpxchg found another value (returned in *old) */
    HVT_OP__COUNT
};

/* ---- x86 architectural constants -------------------------------------------------------- */

/* CR0 bits */
#define HVT_CR0_PE (1ull << 0)
#define HVT_CR0_MP (1ull << 1)
#define HVT_CR0_EM (1ull << 2)
#define HVT_CR0_TS (1ull << 3)
#define HVT_CR0_ET (1ull << 4)
#define HVT_CR0_NE (1ull << 5)
#define HVT_CR0_WP (1ull << 16)
#define HVT_CR0_AM (1ull << 18)
#define HVT_CR0_NW (1ull << 29)
#define HVT_CR0_CD (1ull << 30)
#define HVT_CR0_PG (1ull << 31)
/* CR4 bits */
#define HVT_CR4_VME (1ull << 0)
#define HVT_CR4_PVI (1ull << 1)
#define HVT_CR4_TSD (1ull << 2)
#define HVT_CR4_DE (1ull << 3)
#define HVT_CR4_PSE (1ull << 4)
#define HVT_CR4_PAE (1ull << 5)
#define HVT_CR4_MCE (1ull << 6)
#define HVT_CR4_PGE (1ull << 7)
#define HVT_CR4_PCE (1ull << 8)
#define HVT_CR4_OSFXSR (1ull << 9)
#define HVT_CR4_OSXMMEXCPT (1ull << 10)
#define HVT_CR4_UMIP (1ull << 11)
#define HVT_CR4_LA57 (1ull << 12)
#define HVT_CR4_FSGSBASE (1ull << 16)
#define HVT_CR4_PCIDE (1ull << 17)
#define HVT_CR4_OSXSAVE (1ull << 18)
#define HVT_CR4_SMEP (1ull << 20)
#define HVT_CR4_SMAP (1ull << 21)
#define HVT_CR4_PKE (1ull << 22)
/* EFER bits */
#define HVT_EFER_SCE (1ull << 0)
#define HVT_EFER_LME (1ull << 8)
#define HVT_EFER_LMA (1ull << 10)
#define HVT_EFER_NXE (1ull << 11)
/* RFLAGS bits (bit 1 always reads 1) */
#define HVT_RFLAGS_CF (1ull << 0)
#define HVT_RFLAGS_FIXED (1ull << 1)
#define HVT_RFLAGS_PF (1ull << 2)
#define HVT_RFLAGS_AF (1ull << 4)
#define HVT_RFLAGS_ZF (1ull << 6)
#define HVT_RFLAGS_SF (1ull << 7)
#define HVT_RFLAGS_TF (1ull << 8)
#define HVT_RFLAGS_IF (1ull << 9)
#define HVT_RFLAGS_DF (1ull << 10)
#define HVT_RFLAGS_OF (1ull << 11)
#define HVT_RFLAGS_IOPL (3ull << 12)
#define HVT_RFLAGS_RF (1ull << 16)
#define HVT_RFLAGS_VM (1ull << 17)
#define HVT_RFLAGS_AC (1ull << 18)
/* Exception vectors (hvt_pass_outcome.vector) */
#define HVT_VEC_DE 0
#define HVT_VEC_DB 1
#define HVT_VEC_BP 3
#define HVT_VEC_OF 4
#define HVT_VEC_BR 5
#define HVT_VEC_UD 6
#define HVT_VEC_NM 7
#define HVT_VEC_DF 8
#define HVT_VEC_TS 10
#define HVT_VEC_NP 11
#define HVT_VEC_SS 12
#define HVT_VEC_GP 13
#define HVT_VEC_PF 14
#define HVT_VEC_MF 16
#define HVT_VEC_AC 17
#define HVT_VEC_MC 18
#define HVT_VEC_XM 19
/* Page-fault error code bits (hvt_pass_outcome.error_code with vector HVT_VEC_PF) */
#define HVT_PFEC_P (1u << 0)
#define HVT_PFEC_W (1u << 1)
#define HVT_PFEC_U (1u << 2)
#define HVT_PFEC_RSVD (1u << 3)
#define HVT_PFEC_I (1u << 4)
#define HVT_PFEC_PK (1u << 5)
/* Paging-structure entry bits */
#define HVT_PTE_P (1ull << 0)
#define HVT_PTE_W (1ull << 1)
#define HVT_PTE_U (1ull << 2)
#define HVT_PTE_A (1ull << 5)
#define HVT_PTE_D (1ull << 6)
#define HVT_PTE_PS (1ull << 7)
#define HVT_PTE_NX (1ull << 63)

/* ---- vCPU state ------------------------------------------------------------------------ */

/* Segment attribute bits (the descriptor's access-rights byte and flags, packed as in Xen's
 * segment_register.attr): type 3:0, S 4, DPL 6:5, P 7, AVL 8, L 9, D/B 10, G 11. */
#define HVT_SEG_ATTR_TYPE(a) ((a)&0xfu)
#define HVT_SEG_ATTR_S (1u << 4)
#define HVT_SEG_ATTR_DPL(a) (((a) >> 5) & 3u)
#define HVT_SEG_ATTR_P (1u << 7)
#define HVT_SEG_ATTR_AVL (1u << 8)
#define HVT_SEG_ATTR_L (1u << 9)
#define HVT_SEG_ATTR_DB (1u << 10)
#define HVT_SEG_ATTR_G (1u << 11)
/* attr == 0 with this bit set means "unusable" (null selector loaded) */
#define HVT_SEG_ATTR_UNUSABLE (1u << 16)

struct hvt_segment {
    uint16_t sel;
    uint16_t reserved;
    uint32_t attr;  /* HVT_SEG_ATTR_* */
    uint32_t limit; /* byte-granular (already scaled by G) */
    uint32_t reserved2;
    uint64_t base;
};

struct hvt_dtable {
    uint64_t base;
    uint32_t limit;
    uint32_t reserved;
};

/* GPR indices: x86 register encoding order. */
enum hvt_gpr {
    HVT_RAX = 0, HVT_RCX, HVT_RDX, HVT_RBX, HVT_RSP, HVT_RBP, HVT_RSI, HVT_RDI,
    HVT_R8, HVT_R9, HVT_R10, HVT_R11, HVT_R12, HVT_R13, HVT_R14, HVT_R15
};

/* hvt_vcpu_state.flags */
#define HVT_STATE_SIMD_VALID (1u << 0)  /* ymm[] and mxcsr are meaningful */
#define HVT_STATE_PDPTE_VALID (1u << 1) /* pdpte[] holds the PAE PDPTE registers */

struct hvt_vcpu_state {
    uint64_t gpr[16];
    uint64_t rip;
    uint64_t rflags;
    struct hvt_segment seg[8]; /* indexed by enum hvt_seg: ES CS SS DS FS GS LDTR TR */
    struct hvt_dtable gdtr, idtr;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t efer;
    uint64_t xcr0;
    uint64_t pdpte[4]; /* PAE PDPTE registers as loaded at the last CR3 load */
    uint32_t flags;    /* HVT_STATE_* */
    uint32_t mxcsr;
    uint8_t ymm[16][32]; /* YMM0..15, little-endian; XMMn is the low 16 bytes */
};

/* ---- passes and events ----------------------------------------------------------------- */

/* How a pass ended. */
enum hvt_outcome {
    HVT_OUT_OKAY = 0,
    HVT_OUT_RETRY = 1,         /* will be re-executed from the start */
    HVT_OUT_EXCEPTION = 2,     /* fault/trap: vector, error code, CR2 */
    HVT_OUT_UNHANDLEABLE = 3,  /* the emulator gave up (an op could not be served, ...) */
    HVT_OUT_UNIMPLEMENTED = 4, /* the core does not implement this instruction or form */
    HVT_OUT__COUNT
};

/* Why a pass ended with RETRY. */
enum hvt_retry_cause {
    HVT_RETRY_NONE = 0,
    HVT_RETRY_MMIO = 1,        /* an MMIO access needs the device model */
    HVT_RETRY_PIO = 2,         /* a port access needs the device model */
    HVT_RETRY_REP_PARTIAL = 3, /* a REP string op stopped after some iterations */
    HVT_RETRY_OTHER = 4,
    HVT_RETRY__COUNT
};

/* hvt_pass_outcome.flags */
#define HVT_PO_HAS_ERROR_CODE (1u << 0)

struct hvt_pass_outcome {
    uint8_t kind;        /* enum hvt_outcome */
    uint8_t retry_cause; /* enum hvt_retry_cause, when kind == RETRY */
    uint8_t vector;      /* when kind == EXCEPTION */
    uint8_t flags;       /* HVT_PO_* */
    uint32_t error_code; /* when HVT_PO_HAS_ERROR_CODE */
    uint64_t cr2;        /* when vector == 14 (#PF) */
    uint32_t iterations; /* REP iterations / gather elements completed by this pass */
    uint32_t retire;     /* HVT_RETIRE_* of an OKAY pass: what the instruction leaves for the
                            next one; 0 when not reported (a version-1 core, an older trace) */
};

/* hvt_pass_outcome.retire (and hvt_core_result.retire): set only on OKAY. */
#define HVT_RETIRE_STI_SHADOW (1u << 0)    /* STI set IF from 0: interrupts blocked for one insn */
#define HVT_RETIRE_MOV_SS_SHADOW (1u << 1) /* MOV SS / POP SS: interrupts and #DB blocked */
#define HVT_RETIRE_HLT (1u << 2)           /* HLT: the vCPU halts after the instruction */
#define HVT_RETIRE_SINGLESTEP (1u << 3)    /* RFLAGS.TF was set: a single-step #DB trap follows */
#define HVT_RETIRE_KNOWN 0xfu              /* the flags above */
#define HVT_RETIRE_REPORTED (1u << 31)     /* the core reports retire flags (a version-2 core);
                                              clear: unknown (a version-1 core, an old trace) */

/* hvt_access.flags */
#define HVT_AF_LINEAR_VALID (1u << 0) /* linear holds the linear address of the access */
#define HVT_AF_LOCKED (1u << 1)       /* part of a LOCKed instruction */
#define HVT_AF_SPLIT (1u << 2)        /* one piece of an access split at a page boundary */
/* not observed but reconstructed: a host that sees only part of what its emulator did (the
 * KVM host sees KVM's device accesses) records the rest as the reference core's shadow run
 * made it (since format 1.2) */
#define HVT_AF_RECONSTRUCTED (1u << 3)

/* One guest memory or I/O access, as made by the core and answered by the host. */
struct hvt_access {
    uint8_t kind;    /* enum hvt_access_kind */
    uint8_t space;   /* enum hvt_space */
    uint8_t seg;     /* enum hvt_seg */
    uint8_t outcome; /* enum hvt_op_result */
    struct hvt_tag tag;
    uint32_t size;  /* bytes, 1..HVT_DATA_MAX */
    uint32_t flags; /* HVT_AF_* */
    uint64_t linear;
    uint64_t phys;     /* guest-physical address, or the port number for port I/O */
    uint32_t callsite; /* interned call-site id, 0 = none */
    uint32_t reserved;
    /* read/fetch/io-in: the value returned (valid when outcome is OKAY);
     * write/io-out: the value written; cmpxchg: the new value. */
    uint8_t data[HVT_DATA_MAX];
    uint8_t old[HVT_DATA_MAX]; /* cmpxchg: the expected value the core passed */
    uint8_t cur[HVT_DATA_MAX]; /* cmpxchg: the value found (== old unless CMPXCHG_FAILED) */
};

struct hvt_pass {
    uint32_t index; /* 0 = first pass */
    uint32_t lost;  /* accesses of this pass that were lost (recorder drop mode) */
    struct hvt_pass_outcome out;
    struct hvt_vcpu_state end; /* register state at pass end */
    uint32_t n_accesses;
    struct hvt_access *accesses;
};

/* hvt_event.flags */
#define HVT_EV_ABANDONED (1u << 0)  /* a new event began on the vCPU before this one ended */
#define HVT_EV_INCOMPLETE (1u << 1) /* records of this event were lost */

/* One emulation of one guest instruction on one vCPU, from the first pass to completion. */
struct hvt_event {
    uint64_t id;
    uint32_t vcpu;
    uint32_t flags;   /* HVT_EV_* */
    uint64_t time_ns; /* when the event began, ns since the trace's start time */
    struct hvt_vcpu_state init;
    uint8_t insn_len; /* 0 when the instruction bytes are not known */
    uint8_t insn[HVT_INSN_MAX];
    uint32_t n_passes;
    struct hvt_pass *passes;
};

/* An explicit record that records were lost, at the position of the loss. */
struct hvt_lost {
    uint32_t vcpu;
    uint32_t reserved;
    uint64_t count;    /* records lost */
    uint64_t event_id; /* the event during which records were lost, or HVT_NO_EVENT */
    uint32_t pass;     /* pass index within that event */
    uint32_t access;   /* index of the first lost access within that pass */
};
#define HVT_NO_EVENT UINT64_MAX

/* One frame of an interned call site. Strings are owned by whoever returned the call site. */
struct hvt_frame {
    uint64_t ip;
    uint64_t offset;      /* ip - function start, when function is known */
    const char *function; /* NULL when unknown */
    const char *module;   /* NULL when unknown */
};

struct hvt_callsite {
    uint32_t id; /* > 0 */
    uint32_t n_frames;
    const struct hvt_frame *frames; /* innermost first */
};

/* ---- names ----------------------------------------------------------------------------- */

/* Short lowercase names for enum values ("read", "walk", "retry", ...); "?" when out of range. */
HVT_API const char *hvt_access_kind_name(unsigned kind);
HVT_API const char *hvt_space_name(unsigned space);
HVT_API const char *hvt_tag_class_name(unsigned cls);
HVT_API const char *hvt_seg_name(unsigned seg);
HVT_API const char *hvt_op_result_name(unsigned res);
HVT_API const char *hvt_outcome_name(unsigned kind);
HVT_API const char *hvt_retry_cause_name(unsigned cause);

#ifdef __cplusplus
}
#endif
#endif /* HVTRACE_TYPES_H */
