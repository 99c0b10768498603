/* SPDX-License-Identifier: MIT */
/* Reference core decoder: one decoded form (capstone for the instruction, the byte-level parse
 * for its encoding and memory operand), one effective-address routine, and a cache. */
#ifndef HVT_CORE_DECODE_H
#define HVT_CORE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "emu.h"

/* Operand kinds of the decoded form. */
enum hvt_dop_kind {
    HVT_DOP_NONE = 0,
    HVT_DOP_REG = 1,
    HVT_DOP_IMM = 2,
    HVT_DOP_MEM = 3,
};

/* Register classes (hvt_dop.rcls). */
enum hvt_dreg_class {
    HVT_RC_GPR = 0,  /* reg = 0..15 (enum hvt_gpr); HVT_DOP_HIGH8 in flags for AH/CH/DH/BH */
    HVT_RC_SEG = 1,  /* reg = enum hvt_seg */
    HVT_RC_CR = 2,   /* reg = control register number */
    HVT_RC_XMM = 3,  /* reg = 0..15; size 16 */
    HVT_RC_YMM = 4,  /* reg = 0..15; size 32 */
    HVT_RC_OTHER = 5 /* anything the executor does not model (DR, MM, ST, K, ZMM, ...) */
};

/* Memory base/index values besides 0..15. */
#define HVT_DREG_NONE 0xff
#define HVT_DREG_RIP 0xfe

/* hvt_dop.flags */
#define HVT_DOP_HIGH8 (1u << 0)  /* AH, CH, DH, BH: bits 15:8 of register reg */
#define HVT_DOP_VINDEX (1u << 1) /* MEM: index is a vector register (gathers) */

struct hvt_dop {
    uint8_t kind;  /* enum hvt_dop_kind */
    uint8_t size;  /* bytes */
    uint8_t flags; /* HVT_DOP_* */
    uint8_t rcls;  /* REG: enum hvt_dreg_class */
    uint8_t reg;   /* REG: register number */
    uint8_t base;  /* MEM: GPR 0..15, HVT_DREG_RIP or HVT_DREG_NONE */
    uint8_t index; /* MEM: GPR 0..15 (or vector register with HVT_DOP_VINDEX) or NONE */
    uint8_t scale; /* MEM: 1, 2, 4, 8 */
    uint8_t seg;   /* MEM: enum hvt_seg actually used (override, else DS or SS by base) */
    uint8_t pad[7];
    int64_t val; /* IMM: the value sign-extended to 64 bits; MEM: displacement */
};

/* hvt_dinsn.pfx */
#define HVT_PFX_LOCK (1u << 0)
#define HVT_PFX_REP (1u << 1)   /* F3 */
#define HVT_PFX_REPNE (1u << 2) /* F2 */
#define HVT_PFX_SEG (1u << 3)   /* a segment override is present (seg_ovr) */
#define HVT_PFX_OPSZ (1u << 4)  /* 66 */
#define HVT_PFX_ADSZ (1u << 5)  /* 67 */
#define HVT_PFX_REX (1u << 6)   /* a REX prefix (rex holds it) */

/* hvt_dinsn.fault: a decode-time verdict that wins over execution. */
#define HVT_DF_NONE 0
#define HVT_DF_UD 1    /* #UD: e.g. LOCK where it is not allowed */
#define HVT_DF_UNREP 2 /* capstone gave operands the decoded form cannot hold: UNIMPLEMENTED */

/* hvt_denc.status: how the byte-level parse of the encoding went. */
#define HVT_DENC_OK 0
#define HVT_DENC_UNKNOWN 1 /* not a known encoding (EVEX, XOP, 3DNow!), or too few bytes */
#define HVT_DENC_UD 2      /* VEX after a 66, F2, F3, LOCK or REX prefix: #UD */

/* The instruction's encoding as the one byte-level parse (hvt_dec_parse) sees it: opcode map,
 * opcode, VEX fields, ModRM/SIB, and the memory operand they encode. Every memory operand the
 * executor addresses comes from here (mem), through hvt_dec_ea. */
struct hvt_denc {
    uint8_t status; /* HVT_DENC_* */
    uint8_t map;    /* 1 = one-byte, 2 = 0F, 3 = 0F38, 4 = 0F3A */
    uint8_t opcode;
    uint8_t elen; /* bytes through the displacement (immediates excluded) */
    uint8_t rep;  /* 0, 0xf3 or 0xf2: the last of them */
    uint8_t vex;  /* VEX-encoded */
    uint8_t vl;   /* VEX.L */
    uint8_t vw;   /* VEX.W, else REX.W */
    uint8_t vvvv; /* VEX.vvvv, un-inverted (0 without VEX) */
    uint8_t pp;   /* VEX.pp: 0 none, 1 66, 2 F3, 3 F2 */
    uint8_t has_modrm;
    uint8_t mod; /* ModRM.mod */
    uint8_t reg; /* ModRM.reg with REX.R / VEX.R */
    uint8_t rm;  /* ModRM.rm with REX.B / VEX.B (register forms) */
    uint8_t has_sib;
    uint8_t vindex;  /* SIB index with REX.X / VEX.X: the vector index register of VSIB */
    uint8_t has_mem; /* mem is the ModRM (or moffs) memory operand */
    uint8_t pad[7];
    struct hvt_dop mem; /* kind MEM, size 0 (the operand size is the instruction's business) */
};

/* The decoded form of one instruction: what the executor needs, nothing from capstone. */
struct hvt_dinsn {
    uint16_t id;      /* capstone x86_insn id */
    uint8_t len;      /* instruction length in bytes */
    uint8_t mode;     /* enum hvt_emu_mode it was decoded for */
    uint8_t opsize;   /* effective operand size from mode and prefixes: 2, 4, 8 */
    uint8_t addrsize; /* effective address size: 2, 4, 8 */
    uint8_t pfx;      /* HVT_PFX_* */
    uint8_t rex;      /* the REX byte, 0 without */
    uint8_t seg_ovr;  /* enum hvt_seg of the override, when HVT_PFX_SEG */
    uint8_t nops;     /* operands in op[] */
    uint8_t nmem;     /* memory operands among them */
    uint8_t fault;    /* HVT_DF_* */
    uint8_t rel_size; /* size of a relative branch displacement (0 = none) */
    uint8_t pad[3];
    int64_t rel; /* relative branch displacement, sign-extended */
    struct hvt_dop op[4];
    struct hvt_denc enc;
    char mnemonic[32]; /* capstone's mnemonic, prefixes included ("lock add") */
};

/* Parses the encoding of the instruction at BYTES (N >= 1 bytes) for MODE into D without
 * capstone: legacy prefixes (the last of F2/F3 wins; in 64-bit mode ES/CS/SS/DS overrides are
 * ignored, as the CPU does), REX (only right before the opcode), VEX, opcode map and opcode,
 * ModRM, SIB and displacement (also the moffs of MOV A0-A3). Fills mode, opsize, addrsize, pfx,
 * rex, seg_ovr and enc; leaves the rest of D alone. Returns enc.status. */
unsigned hvt_dec_parse(enum hvt_emu_mode mode, const uint8_t *bytes, size_t n, struct hvt_dinsn *d);

/* 1 when B is a legacy prefix (LOCK, REP/REPNE, 66, 67, a segment override). */
int hvt_dec_legacy_prefix(uint8_t b);

/* The effective address (offset in the segment) of memory operand O of an instruction with
 * address size ADDRSIZE: base (a GPR, or NEXT_RIP for RIP-relative) + index * scale +
 * displacement + ADJ, wrapped to the address size. With a vector index (VSIB) the index is
 * VELEM, the element's index value (sign-extended); otherwise VELEM is ignored. The one
 * effective-address routine of the core: plain operands, string/SIMD forms and gathers. */
static inline uint64_t hvt_dec_ea(const struct hvt_dop *o, unsigned addrsize, const uint64_t *gpr,
                                  uint64_t next_rip, int64_t adj, uint64_t velem)
{
    uint64_t ea = (uint64_t)o->val + (uint64_t)adj;
    if (o->base == HVT_DREG_RIP)
        ea += next_rip;
    else if (o->base != HVT_DREG_NONE)
        ea += gpr[o->base];
    if (o->flags & HVT_DOP_VINDEX)
        ea += velem * o->scale;
    else if (o->index != HVT_DREG_NONE)
        ea += gpr[o->index] * o->scale;
    return addrsize >= 8 ? ea : addrsize == 4 ? (uint32_t)ea : (uint16_t)ea;
}

/* Capstone builds some of its tables at first use without a lock (its Intel printer sorts a
 * register table the first time it needs it): two threads making the process's first
 * disassemblies race. This makes them once, in every mode, before any other: call it before
 * opening a capstone handle (the decoder and the replayer's disassembler do). */
void hvt_capstone_once(void);

/* Decoder and decoded-instruction cache (one per core instance; not thread-safe). */
struct hvt_decoder;

/* Creates a decoder with a bounded cache of CACHE_ENTRIES (rounded up to a power of two, at
 * least 64). Returns NULL when out of memory. */
struct hvt_decoder *hvt_dec_new(unsigned cache_entries);
void hvt_dec_free(struct hvt_decoder *dec);

/* Turns the cache off (every decode goes to capstone) or back on. */
void hvt_dec_set_cache(struct hvt_decoder *dec, int on);

/* Looks up BYTES (N fetched bytes, N >= 1) in the cache for MODE: on a hit returns the decoded
 * form of the instruction that starts there (its length <= N). NULL on a miss. */
const struct hvt_dinsn *hvt_dec_lookup(struct hvt_decoder *dec, enum hvt_emu_mode mode,
                                       const uint8_t *bytes, size_t n);

/* Decodes with capstone and inserts into the cache. Returns the decoded form, or NULL when
 * capstone cannot decode an instruction from these N bytes (more bytes may help; with all 15
 * the encoding is invalid). *CS_ERR is set when capstone itself could not be opened. */
const struct hvt_dinsn *hvt_dec_decode(struct hvt_decoder *dec, enum hvt_emu_mode mode,
                                       const uint8_t *bytes, size_t n, int *cs_err);

/* Cache statistics (tests, benchmarks). */
struct hvt_dec_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t decodes; /* capstone calls */
};
void hvt_dec_stats(const struct hvt_decoder *dec, struct hvt_dec_stats *out);

#endif
