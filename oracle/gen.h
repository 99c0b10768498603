/* SPDX-License-Identifier: MIT */
/* Oracle: the case generator's working state (page tables, layout) shared by gen*.c. */
#ifndef HVT_ORC_GEN_H
#define HVT_ORC_GEN_H

#include "orc_internal.h"

#define ORC_GEN_MAX_PAGES 16

struct orc_gen {
    struct hvt_orc_case *c;
    struct orc_rng r;
    uint64_t top; /* top-level paging structure (CR3) */
    uint64_t next_pool, next_pt, next_stub_pt;
    unsigned n_pages;
    struct {
        uint64_t la, pa;
    } pages[ORC_GEN_MAX_PAGES];
};

void hvt_orc_gen_begin(struct orc_gen *g, struct hvt_orc_case *c);
void hvt_orc_gen_end(struct orc_gen *g);
uint64_t hvt_orc_rand_la(struct orc_gen *g);
uint64_t hvt_orc_place(struct orc_gen *g, uint64_t la_hint, int important);
void hvt_orc_place_exact(struct orc_gen *g, uint64_t la, int important);
void hvt_orc_put_la(struct orc_gen *g, uint64_t la, const void *src, unsigned n);
void hvt_orc_fill_pages(struct orc_gen *g);
uint64_t hvt_orc_interesting(struct orc_rng *r);
uint64_t hvt_orc_stub_la(const struct hvt_orc_case *c);
void hvt_orc_map_stub(struct orc_gen *g);

/* A hand-made case: BITS 64 (4-level paging, CPL as given) or 32 (paging off, flat segments).
 * Code at 0x400000 (32-bit: 0x10000), then three pages (data at +0x1000, +0x2000, stack page
 * +0x3000) on frames 0x11000.. whose leaf entries are LEAF[i] (0 = not present); UPPER is the
 * bits of the three upper-level entries. Registers are zero: the caller sets them. */
void hvt_orc_craft(struct hvt_orc_case *c, unsigned bits, unsigned cpl, const uint8_t *insn,
               unsigned len, const uint64_t leaf[3], uint64_t upper);

/* The extension forms' cases (gen_ext.c): the SIMD register file of an SSE case (random XMM/YMM, MXCSR, the
 * SSE enable bits, now and then CR0.EM/TS or no CR4.OSFXSR), and a whole string-instruction
 * case of form F (called after hvt_orc_gen_begin with mode, segments and GPRs set). */
void hvt_orc_gen_simd_state(struct hvt_orc_case *c, struct orc_rng *r);
void hvt_orc_gen_str(struct orc_gen *g, const struct orc_form *f);

#endif
