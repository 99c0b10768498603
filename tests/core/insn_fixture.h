/* SPDX-License-Identifier: MIT */
/* Executor tests: one reference-core instance over the logging flat RAM, flat segments, paging
 * off (or 4-level identity paging), code placed at CODE, and checks of the logged op calls. */
#ifndef HVT_TEST_INSN_FIXTURE_H
#define HVT_TEST_INSN_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "hvt_test.h"
#include "ram_ops.h"
#include "emu.h"
#include "ref.h"

#define IX_RAM (4u << 20)
#define IX_CODE 0x10000ull
#define IX_DATA 0x20000ull
#define IX_STACK 0x30000ull

struct ix {
    struct ram *r;
    void *inst;
    struct hvt_vcpu_state st;
    struct hvt_core_result res;
    int rc; /* emulate's return */
};

/* Flat 64-bit (LONG64) or 32-bit protected-mode segments, CPL 0, paging off. */
static inline void ix_setup(struct ix *f, int long64)
{
    if (!f->r)
        f->r = ram_new(IX_RAM);
    if (!f->inst && hvt_core_ref()->create(&f->inst))
        abort();
    memset(f->r->mem, 0, IX_RAM);
    f->r->fail_at = -1;
    f->r->mmio_lo = f->r->mmio_hi = 0;
    f->r->mmio_result = HVT_OP_RETRY;
    ram_clear_log(f->r);
    memset(&f->st, 0, sizeof(f->st));
    for (unsigned i = 0; i < 6; i++) {
        f->st.seg[i].limit = 0xffffffffu;
        f->st.seg[i].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G | 3;
    }
    f->st.seg[HVT_SEG_CS].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_G | 0xb |
                                 (long64 ? HVT_SEG_ATTR_L : HVT_SEG_ATTR_DB);
    f->st.seg[HVT_SEG_LDTR].attr = HVT_SEG_ATTR_UNUSABLE;
    f->st.seg[HVT_SEG_TR].attr = HVT_SEG_ATTR_P | 0xb;
    f->st.seg[HVT_SEG_TR].limit = 0x67;
    f->st.cr0 = HVT_CR0_PE;
    if (long64) {
        /* long mode needs paging architecturally; the MMU follows CR0.PG, so identity-map the
         * first 1 GiB with one 1G page to keep the op log short (3 walk reads per access) */
        f->st.cr0 |= HVT_CR0_PG;
        f->st.cr4 = HVT_CR4_PAE;
        f->st.efer = HVT_EFER_LME | HVT_EFER_LMA;
        f->st.cr3 = 0x1000;
        ram_put64(f->r, 0x1000, 0x2000 | 0x27); /* PML4E: P RW US A */
        ram_put64(f->r, 0x2000, 0x0 | 0xe7);    /* PDPTE: 1G page P RW US A D PS */
    }
    f->st.rflags = 2;
    f->st.rip = IX_CODE;
    f->st.gpr[HVT_RSP] = IX_STACK;
}

static inline void ix_free(struct ix *f)
{
    hvt_core_ref()->destroy(f->inst);
    ram_free(f->r);
    f->inst = NULL;
    f->r = NULL;
}

/* Hex bytes ("48 01 03") into RAM at GPA; returns the count. */
static inline unsigned ix_put_hex(struct ix *f, uint64_t gpa, const char *hex)
{
    unsigned n = 0, v;
    while (*hex) {
        while (*hex == ' ')
            hex++;
        if (!*hex || sscanf(hex, "%2x", &v) != 1)
            break;
        f->r->mem[gpa + n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

/* Places HEX at the current RIP (linear == physical here) and emulates it once. */
static inline int ix_run(struct ix *f, const char *hex)
{
    ix_put_hex(f, f->st.rip, hex);
    ram_clear_log(f->r);
    f->rc = hvt_core_ref()->emulate(f->inst, &f->st, &ram_ops, f->r, &f->res);
    return f->res.out.kind;
}

/* The Nth logged op of tag class CLS (0-based), or NULL. */
static inline const struct ram_log_entry *ix_op(const struct ix *f, unsigned cls, unsigned nth)
{
    for (unsigned i = 0; i < f->r->n_log; i++)
        if (f->r->log[i].info.tag.cls == cls && nth-- == 0)
            return &f->r->log[i];
    return NULL;
}

static inline unsigned ix_count(const struct ix *f, unsigned cls)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->r->n_log; i++)
        n += f->r->log[i].info.tag.cls == cls;
    return n;
}

/* Ops that are not fetches, walks or A/D updates: the instruction's own accesses, in order. */
static inline unsigned ix_data_ops(const struct ix *f, const struct ram_log_entry **out,
                                   unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->r->n_log; i++) {
        unsigned c = f->r->log[i].info.tag.cls;
        if (c == HVT_TAG_FETCH || c == HVT_TAG_WALK || c == HVT_TAG_AD)
            continue;
        if (n < max)
            out[n] = &f->r->log[i];
        n++;
    }
    return n;
}

#define FL_CF HVT_RFLAGS_CF
#define FL_PF HVT_RFLAGS_PF
#define FL_AF HVT_RFLAGS_AF
#define FL_ZF HVT_RFLAGS_ZF
#define FL_SF HVT_RFLAGS_SF
#define FL_OF HVT_RFLAGS_OF
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

#endif
