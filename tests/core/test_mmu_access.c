/* SPDX-License-Identifier: MIT */
/* MMU tests: segmentation (#GP/#SS, limits, expand-down, canonical), page-split operands,
 * alignment checks, data ops, cmpxchg and instruction fetch. */
#include "mmu_fixture.h"

static struct fx F;

#define PA 0x10000000ull /* two consecutive mapped pages: PA -> 0x200000, PB -> 0x300000 */
#define PB 0x10001000ull
#define GA 0x200000ull
#define GB 0x300000ull

static void reset_log(void)
{
    memset(&F.res, 0, sizeof(F.res));
    ram_clear_log(F.r);
}

static int lin(unsigned seg, uint64_t off, uint32_t size, unsigned intent, uint64_t *la)
{
    reset_log();
    *la = 0xdead;
    return hvt_mmu_linear(&F.e, seg, off, size, intent, la);
}

#define CHECK_LA(seg, off, size, intent, want)                                                     \
    do {                                                                                           \
        uint64_t la_;                                                                              \
        CHECK_EQ(lin(seg, off, size, intent, &la_), HVT_OUT_OKAY);                                 \
        CHECK_U64(la_, want);                                                                      \
    } while (0)
#define CHECK_SEGF(seg, off, size, intent, vec)                                                    \
    do {                                                                                           \
        uint64_t la_;                                                                              \
        CHECK_EXC(&F, lin(seg, off, size, intent, &la_), vec, 0, 0);                               \
    } while (0)

/* ---- segmentation ------------------------------------------------------------------------ */

static void test_seg_64bit(void)
{
    fx_setup(&F, FX_L4);
    F.st.seg[HVT_SEG_DS].base = 0x1000;
    F.st.seg[HVT_SEG_FS].base = 0x7000000000ull;
    F.st.seg[HVT_SEG_GS].base = 0x00007ffffffffff0ull;
    CHECK_LA(HVT_SEG_DS, 0x5000, 4, HVT_MMU_R, 0x5000);
    CHECK_LA(HVT_SEG_FS, 0x10, 4, HVT_MMU_W, 0x7000000010ull);
    CHECK_LA(HVT_SEG_GS, 0x8, 8, HVT_MMU_R, 0x00007ffffffffff8ull);
    CHECK_SEGF(HVT_SEG_GS, 0x10, 1, HVT_MMU_R, HVT_VEC_GP);
    CHECK_SEGF(HVT_SEG_GS, 0x9, 8, HVT_MMU_R, HVT_VEC_GP); /* only the last byte is bad */
    CHECK_SEGF(HVT_SEG_SS, 0x00007ffffffffffeull, 4, HVT_MMU_W, HVT_VEC_SS);
    CHECK_SEGF(HVT_SEG_DS, 0x00007ffffffffffeull, 4, HVT_MMU_W | HVT_MMU_STACK, HVT_VEC_SS);
    CHECK_LA(HVT_SEG_SS, 0x00007ffffffffffeull, 2, HVT_MMU_W, 0x00007ffffffffffeull);
    CHECK_LA(HVT_SEG_ES, 0xffff800000000000ull, 8, HVT_MMU_R, 0xffff800000000000ull);
    CHECK_SEGF(HVT_SEG_ES, 0xffff7ffffffffffcull, 8, HVT_MMU_R, HVT_VEC_GP);
    CHECK_SEGF(HVT_SEG_CS, 0x0000800000000000ull, 1, HVT_MMU_X, HVT_VEC_GP);
    /* 64-bit mode ignores segment types and limits */
    F.st.seg[HVT_SEG_DS].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | 0x1; /* read-only */
    F.st.seg[HVT_SEG_DS].limit = 0;
    CHECK_LA(HVT_SEG_DS, 0x5000, 4, HVT_MMU_W, 0x5000);
    CHECK_LA(HVT_SEG_CS, 0x5000, 4, HVT_MMU_W, 0x5000);
    F.st.seg[HVT_SEG_ES].attr = HVT_SEG_ATTR_UNUSABLE;
    CHECK_LA(HVT_SEG_ES, 0x5000, 4, HVT_MMU_R, 0x5000);
    /* but the tables have limits */
    CHECK_LA(HVT_SEG_GDTR, 0x78, 8, HVT_MMU_R | HVT_MMU_IMPLICIT, 0x8078);
    CHECK_SEGF(HVT_SEG_GDTR, 0x79, 8, HVT_MMU_R | HVT_MMU_IMPLICIT, HVT_VEC_GP);
    CHECK_LA(HVT_SEG_IDTR, 0xff0, 16, HVT_MMU_R | HVT_MMU_IMPLICIT, 0x9ff0);
    CHECK_SEGF(HVT_SEG_IDTR, 0xff1, 16, HVT_MMU_R | HVT_MMU_IMPLICIT, HVT_VEC_GP);
    CHECK_LA(HVT_SEG_TR, 0x64, 4, HVT_MMU_R | HVT_MMU_IMPLICIT, 0x7064);
    CHECK_SEGF(HVT_SEG_TR, 0x65, 4, HVT_MMU_R | HVT_MMU_IMPLICIT, HVT_VEC_GP);
    CHECK_SEGF(HVT_SEG_LDTR, 0, 8, HVT_MMU_R | HVT_MMU_IMPLICIT, HVT_VEC_GP);
    /* 64-bit table bases, canonical-checked */
    F.st.gdtr.base = 0xfffffffffffff000ull;
    CHECK_LA(HVT_SEG_GDTR, 0x8, 8, HVT_MMU_R | HVT_MMU_IMPLICIT, 0xfffffffffffff008ull);
    F.st.gdtr.base = 0x00007ffffffffffcull;
    CHECK_SEGF(HVT_SEG_GDTR, 0, 8, HVT_MMU_R | HVT_MMU_IMPLICIT, HVT_VEC_GP);
    CHECK_EQ(F.r->n_log, 0);
}

static void test_seg_la57_canonical(void)
{
    fx_setup(&F, FX_L5);
    CHECK_LA(HVT_SEG_DS, 0x0000800000000000ull, 8, HVT_MMU_R, 0x0000800000000000ull);
    CHECK_LA(HVT_SEG_DS, 0x00fffffffffffff8ull, 8, HVT_MMU_R, 0x00fffffffffffff8ull);
    CHECK_SEGF(HVT_SEG_DS, 0x00fffffffffffffcull, 8, HVT_MMU_R, HVT_VEC_GP);
    CHECK_SEGF(HVT_SEG_SS, 0x0100000000000000ull, 8, HVT_MMU_R, HVT_VEC_SS);
    CHECK_LA(HVT_SEG_DS, 0xff00000000000000ull, 8, HVT_MMU_R, 0xff00000000000000ull);
    CHECK_SEGF(HVT_SEG_DS, 0xfeffffffffffffffull, 1, HVT_MMU_R, HVT_VEC_GP);
    /* the same address is not canonical with 4-level paging */
    F.st.cr4 &= ~HVT_CR4_LA57;
    CHECK_SEGF(HVT_SEG_DS, 0x0000800000000000ull, 8, HVT_MMU_R, HVT_VEC_GP);
}

static void test_seg_protected_limits(void)
{
    fx_setup(&F, FX_NOPAGING);
    CHECK_EQ(F.e.mode, HVT_MODE_PROT32);
    F.st.seg[HVT_SEG_DS].base = 0xfffff000u;
    CHECK_LA(HVT_SEG_DS, 0x2000, 4, HVT_MMU_R, 0x1000); /* linear wraps at 32 bits */
    F.st.seg[HVT_SEG_DS].base = 0x10000;
    F.st.seg[HVT_SEG_DS].limit = 0xfff;
    CHECK_LA(HVT_SEG_DS, 0xffc, 4, HVT_MMU_R, 0x10ffc);
    CHECK_SEGF(HVT_SEG_DS, 0xffd, 4, HVT_MMU_R, HVT_VEC_GP);
    CHECK_SEGF(HVT_SEG_DS, 0x1000, 1, HVT_MMU_R, HVT_VEC_GP);
    CHECK_SEGF(HVT_SEG_DS, 0xffd, 4, HVT_MMU_W | HVT_MMU_STACK, HVT_VEC_SS);
    F.st.seg[HVT_SEG_SS].limit = 0xfff;
    CHECK_SEGF(HVT_SEG_SS, 0xffe, 4, HVT_MMU_R, HVT_VEC_SS);
    CHECK_LA(HVT_SEG_SS, 0xffe, 2, HVT_MMU_R, 0xffe);
    /* a flat 4 GiB segment: an access running past offset 0xffffffff exceeds the limit */
    CHECK_LA(HVT_SEG_ES, 0xfffffffcu, 4, HVT_MMU_R, 0xfffffffcu);
    CHECK_SEGF(HVT_SEG_ES, 0xfffffffeu, 4, HVT_MMU_R, HVT_VEC_GP);
    /* the tables */
    CHECK_LA(HVT_SEG_GDTR, 0x78, 8, HVT_MMU_R | HVT_MMU_IMPLICIT, 0x8078);
    CHECK_SEGF(HVT_SEG_GDTR, 0x80, 8, HVT_MMU_R | HVT_MMU_IMPLICIT, HVT_VEC_GP);
    CHECK_SEGF(HVT_SEG_LDTR, 0, 8, HVT_MMU_R | HVT_MMU_IMPLICIT, HVT_VEC_GP);
    F.st.seg[HVT_SEG_LDTR].attr = HVT_SEG_ATTR_P | 0x2;
    F.st.seg[HVT_SEG_LDTR].base = 0xa000;
    F.st.seg[HVT_SEG_LDTR].limit = 0xf;
    CHECK_LA(HVT_SEG_LDTR, 8, 8, HVT_MMU_R | HVT_MMU_IMPLICIT, 0xa008);
    CHECK_SEGF(HVT_SEG_LDTR, 9, 8, HVT_MMU_R | HVT_MMU_IMPLICIT, HVT_VEC_GP);
    CHECK_LA(HVT_SEG_TR, 0x60, 8, HVT_MMU_R | HVT_MMU_IMPLICIT, 0x7060);
}

static void test_seg_expand_down(void)
{
    struct hvt_segment *ds;
    fx_setup(&F, FX_NOPAGING);
    ds = &F.st.seg[HVT_SEG_DS];
    ds->attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_DB | 0x7; /* RW, expand-down */
    ds->limit = 0xfff;
    ds->base = 0x100;
    CHECK_SEGF(HVT_SEG_DS, 0xfff, 1, HVT_MMU_R, HVT_VEC_GP);
    CHECK_SEGF(HVT_SEG_DS, 0xffe, 4, HVT_MMU_R, HVT_VEC_GP); /* starts inside the hole */
    CHECK_LA(HVT_SEG_DS, 0x1000, 4, HVT_MMU_W, 0x1100);
    CHECK_LA(HVT_SEG_DS, 0xfffffffcu, 4, HVT_MMU_R, 0xfcu); /* linear wraps */
    CHECK_SEGF(HVT_SEG_DS, 0xfffffffdu, 4, HVT_MMU_R, HVT_VEC_GP);
    /* B = 0: the upper bound is 0xffff */
    ds->attr &= ~HVT_SEG_ATTR_DB;
    CHECK_LA(HVT_SEG_DS, 0xfffe, 2, HVT_MMU_R, 0x100fe);
    CHECK_SEGF(HVT_SEG_DS, 0xffff, 2, HVT_MMU_R, HVT_VEC_GP);
    CHECK_SEGF(HVT_SEG_DS, 0x10000, 1, HVT_MMU_R, HVT_VEC_GP);
    /* an expand-down stack segment faults with #SS */
    F.st.seg[HVT_SEG_SS] = *ds;
    CHECK_SEGF(HVT_SEG_SS, 0x800, 2, HVT_MMU_W, HVT_VEC_SS);
    CHECK_LA(HVT_SEG_SS, 0x2000, 2, HVT_MMU_W, 0x2100);
    /* read-only expand-down */
    ds->attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | 0x5;
    CHECK_LA(HVT_SEG_DS, 0x2000, 2, HVT_MMU_R, 0x2100);
    CHECK_SEGF(HVT_SEG_DS, 0x2000, 2, HVT_MMU_W, HVT_VEC_GP);
}

static void test_seg_types_and_null(void)
{
    fx_setup(&F, FX_NOPAGING);
    F.st.seg[HVT_SEG_DS].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_DB | 0x1;
    CHECK_LA(HVT_SEG_DS, 0x10, 4, HVT_MMU_R, 0x10);
    CHECK_SEGF(HVT_SEG_DS, 0x10, 4, HVT_MMU_W, HVT_VEC_GP);
    F.st.seg[HVT_SEG_SS].attr = F.st.seg[HVT_SEG_DS].attr;
    CHECK_SEGF(HVT_SEG_SS, 0x10, 4, HVT_MMU_W, HVT_VEC_SS);
    /* execute-only code: no reads; readable code: reads, never writes */
    F.st.seg[HVT_SEG_ES].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_DB | 0x9;
    CHECK_SEGF(HVT_SEG_ES, 0x10, 4, HVT_MMU_R, HVT_VEC_GP);
    F.st.seg[HVT_SEG_ES].attr |= 0x2;
    CHECK_LA(HVT_SEG_ES, 0x10, 4, HVT_MMU_R, 0x10);
    CHECK_SEGF(HVT_SEG_ES, 0x10, 4, HVT_MMU_W, HVT_VEC_GP);
    CHECK_SEGF(HVT_SEG_CS, 0x10, 4, HVT_MMU_W, HVT_VEC_GP);
    CHECK_LA(HVT_SEG_CS, 0x10, 4, HVT_MMU_R, 0x10);
    CHECK_LA(HVT_SEG_CS, 0x10, 4, HVT_MMU_X, 0x10);
    F.st.seg[HVT_SEG_CS].attr &= ~0x2u; /* execute-only CS: fetch yes, read no */
    CHECK_LA(HVT_SEG_CS, 0x10, 4, HVT_MMU_X, 0x10);
    CHECK_SEGF(HVT_SEG_CS, 0x10, 4, HVT_MMU_R, HVT_VEC_GP);
    /* unusable (null) and not-present segments */
    F.st.seg[HVT_SEG_FS].attr = HVT_SEG_ATTR_UNUSABLE;
    CHECK_SEGF(HVT_SEG_FS, 0, 1, HVT_MMU_R, HVT_VEC_GP);
    F.st.seg[HVT_SEG_SS].attr = HVT_SEG_ATTR_UNUSABLE;
    CHECK_SEGF(HVT_SEG_SS, 0, 1, HVT_MMU_R, HVT_VEC_SS);
    F.st.seg[HVT_SEG_GS].attr &= ~HVT_SEG_ATTR_P;
    CHECK_SEGF(HVT_SEG_GS, 0, 1, HVT_MMU_R, HVT_VEC_GP);
    /* real mode: base + offset and the limit, no type checks */
    fx_setup(&F, FX_NOPAGING);
    F.st.cr0 = 0;
    F.e.mode = hvt_emu_mode_of(&F.st);
    F.st.seg[HVT_SEG_DS].attr = 0;
    F.st.seg[HVT_SEG_DS].base = 0x10000;
    F.st.seg[HVT_SEG_DS].limit = 0xffff;
    CHECK_LA(HVT_SEG_DS, 0xfffe, 2, HVT_MMU_W, 0x1fffe);
    CHECK_SEGF(HVT_SEG_DS, 0xffff, 2, HVT_MMU_W, HVT_VEC_GP);
}

static void test_linear_bad_arguments(void)
{
    uint64_t la;
    fx_setup(&F, FX_L4);
    CHECK_EQ(hvt_mmu_linear(NULL, HVT_SEG_DS, 0, 1, HVT_MMU_R, &la), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_linear(&F.e, HVT_SEG_DS, 0, 1, HVT_MMU_R, NULL), HVT_OUT_UNHANDLEABLE);
    CHECK(strstr(F.res.detail, "linear") != NULL);
    CHECK_EQ(lin(HVT_SEG_NONE, 0, 1, HVT_MMU_R, &la), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(lin(10, 0, 1, HVT_MMU_R, &la), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(lin(HVT_SEG_DS, 0, 0, HVT_MMU_R, &la), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(lin(HVT_SEG_DS, 0, 1, 3, &la), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(lin(HVT_SEG_DS, 0, 1, HVT_MMU_X, &la), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(F.res.out.kind, HVT_OUT_UNHANDLEABLE);
}

/* ---- map, data ops ----------------------------------------------------------------------- */

static void setup_two_pages(void)
{
    fx_setup(&F, FX_L4);
    fx_map4k(&F, PA, GA, P_URW, P_URW);
    fx_map4k(&F, PB, GB, P_URW, P_URW);
}

static void check_data_op(unsigned i, unsigned kind, uint64_t gpa, uint32_t size, uint64_t la,
                          unsigned seg, uint8_t flags, struct hvt_tag tag)
{
    const struct ram_log_entry *l = &F.r->log[i];
    CHECK(i < F.r->n_log);
    CHECK_EQ(l->info.kind, kind);
    CHECK_U64(l->gpa, gpa);
    CHECK_EQ(l->size, size);
    CHECK_U64(l->info.linear, la);
    CHECK_EQ(l->info.seg, seg);
    CHECK_EQ(l->info.flags, flags);
    CHECK_EQ(l->info.tag.cls, tag.cls);
    CHECK_EQ(l->info.tag.operand, tag.operand);
    CHECK_EQ(l->info.tag.element, tag.element);
    CHECK_EQ(l->info.tag.level, 0);
}

static void test_split_write_translates_both_pages_first(void)
{
    struct hvt_mmu_xlat x;
    struct hvt_tag tag = hvt_mktag(HVT_TAG_DATA, 1, 0, 7);
    const uint8_t v[4] = {0x11, 0x22, 0x33, 0x44};
    uint8_t back[4] = {0};
    const uint8_t f = HVT_OPF_LINEAR_VALID | HVT_OPF_SPLIT;

    setup_two_pages();
    reset_log();
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 0xffe, 4, HVT_MMU_W, 1, &x), HVT_OUT_OKAY);
    CHECK_EQ(x.n, 2);
    CHECK_U64(x.la, PA + 0xffe);
    CHECK_EQ(x.seg, HVT_SEG_DS);
    CHECK_EQ(x.size, 4);
    CHECK_U64(x.gpa[0], GA + 0xffe);
    CHECK_EQ(x.len[0], 2);
    CHECK_U64(x.gpa[1], GB);
    CHECK_EQ(x.len[1], 2);
    /* page A: 4 reads + 4 A/D; page B: 4 reads + its leaf; no data op yet */
    CHECK_EQ(F.r->n_log, 13);
    CHECK_WALK(&F, 0, 4, fx_ent(4, PA), 8, PA + 0xffe);
    CHECK_AD(&F, 7, 1, fx_ent(1, PA), 8, PA + 0xffe, GA | P_URW, GA | P_URW | P_A | P_D);
    CHECK_WALK(&F, 8, 4, fx_ent(4, PB), 8, PB);
    CHECK_WALK(&F, 11, 1, fx_ent(1, PB), 8, PB);
    CHECK_AD(&F, 12, 1, fx_ent(1, PB), 8, PB, GB | P_URW, GB | P_URW | P_A | P_D);

    reset_log();
    CHECK_EQ(hvt_mmu_write(&F.e, &x, v, tag), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 2);
    check_data_op(0, HVT_ACC_WRITE, GA + 0xffe, 2, PA + 0xffe, HVT_SEG_DS, f, tag);
    check_data_op(1, HVT_ACC_WRITE, GB, 2, PB, HVT_SEG_DS, f, tag);
    CHECK_EQ(F.r->mem[GA + 0xfff], 0x22);
    CHECK_EQ(F.r->mem[GB + 1], 0x44);

    reset_log();
    F.e.locked = 1;
    CHECK_EQ(hvt_mmu_read(&F.e, &x, back, tag), HVT_OUT_OKAY);
    CHECK_MEM(back, v, 4);
    check_data_op(0, HVT_ACC_READ, GA + 0xffe, 2, PA + 0xffe, HVT_SEG_DS, f | HVT_OPF_LOCKED, tag);
    check_data_op(1, HVT_ACC_READ, GB, 2, PB, HVT_SEG_DS, f | HVT_OPF_LOCKED, tag);
}

static void test_split_second_page_fault_leaves_memory(void)
{
    struct hvt_mmu_xlat x;
    setup_two_pages();
    ram_put64(F.r, fx_ent(1, PB), GB | P_P | P_US); /* read-only */
    reset_log();
    CHECK_PF(&F, hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 0xffc, 8, HVT_MMU_W, 0, &x), 3, PB);
    CHECK_EQ(fx_count(&F, HVT_ACC_WRITE), 0);
    CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 4); /* page A's A/D only */
    CHECK_U64(ram_get64(F.r, fx_ent(1, PB)), GB | P_P | P_US);
    /* the xlat of a failed map cannot be used by mistake */
    CHECK_EQ(x.n, 0);
    CHECK_EQ(hvt_mmu_write(&F.e, &x, "abcdefgh", hvt_mktag(HVT_TAG_DATA, 0, 0, 0)),
             HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(fx_count(&F, HVT_ACC_WRITE), 0);
    /* a fault on the first page: CR2 is the operand's address, no walk of the second page */
    ram_put64(F.r, fx_ent(1, PA), 0);
    reset_log();
    CHECK_PF(&F, hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 0xffc, 8, HVT_MMU_R, 0, &x), 0, PA + 0xffc);
    CHECK_EQ(F.r->n_log, 4);
    /* a user access at CPL 3 */
    F.e.cpl = 3;
    CHECK_PF(&F, hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 0xffc, 8, HVT_MMU_W, 0, &x), 6, PA + 0xffc);
}

static void test_alignment_check(void)
{
    struct hvt_mmu_xlat x;
    setup_two_pages();
    F.e.cpl = 3;
    F.st.cr0 |= HVT_CR0_AM;
    F.st.rflags |= HVT_RFLAGS_AC;
    reset_log();
    CHECK_EXC(&F, hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 2, 4, HVT_MMU_R, 1, &x), HVT_VEC_AC, 0, 0);
    CHECK_EQ(F.r->n_log, 0); /* before paging */
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 2, 4, HVT_MMU_R, 0, &x), HVT_OUT_OKAY);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 4, 4, HVT_MMU_R, 1, &x), HVT_OUT_OKAY);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 3, 1, HVT_MMU_R, 1, &x), HVT_OUT_OKAY);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 2, 6, HVT_MMU_R, 1, &x), HVT_OUT_EXCEPTION);
    /* an explicit alignment */
    CHECK_EXC(&F, hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 8, 8, HVT_MMU_R, 16, &x), HVT_VEC_AC, 0, 0);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 2, 4, HVT_MMU_R, 2, &x), HVT_OUT_OKAY);
    /* implicit accesses are not checked, nor is anything below CPL 3 or without AM or AC */
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 2, 4, HVT_MMU_R | HVT_MMU_IMPLICIT, 1, &x),
             HVT_OUT_OKAY);
    F.st.rflags &= ~HVT_RFLAGS_AC;
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 2, 4, HVT_MMU_R, 1, &x), HVT_OUT_OKAY);
    F.st.rflags |= HVT_RFLAGS_AC;
    F.st.cr0 &= ~HVT_CR0_AM;
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 2, 4, HVT_MMU_R, 1, &x), HVT_OUT_OKAY);
    F.st.cr0 |= HVT_CR0_AM;
    F.e.cpl = 0;
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 2, 4, HVT_MMU_R, 1, &x), HVT_OUT_OKAY);
    /* segmentation faults come before #AC */
    F.e.cpl = 3;
    CHECK_EXC(&F, hvt_mmu_map(&F.e, HVT_SEG_SS, 0x0000800000000002ull, 4, HVT_MMU_R, 1, &x),
              HVT_VEC_SS, 0, 0);
}

static void test_split_wraps_at_4g(void)
{
    struct hvt_mmu_xlat x;
    fx_setup(&F, FX_NOPAGING);
    F.st.seg[HVT_SEG_DS].base = 0xfffffff0u;
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, 0xe, 4, HVT_MMU_R, 0, &x), HVT_OUT_OKAY);
    CHECK_EQ(x.n, 2);
    CHECK_U64(x.gpa[0], 0xfffffffeu);
    CHECK_U64(x.gpa[1], 0);
    F.r->mmio_lo = 0xfffff000u;
    F.r->mmio_hi = 0x100000000ull;
    F.r->mmio_result = HVT_OP_OKAY;
    F.r->mmio_value = 0x5a;
    {
        uint8_t b[4] = {0};
        F.r->mem[0] = 0x77;
        reset_log();
        CHECK_EQ(hvt_mmu_read(&F.e, &x, b, hvt_mktag(HVT_TAG_DATA, 0, 0, 0)), HVT_OUT_OKAY);
        CHECK_EQ(b[1], 0x5a);
        CHECK_EQ(b[2], 0x77);
        CHECK_U64(F.r->log[1].info.linear, 0); /* the second piece's linear address wrapped */
    }
}

static void test_large_operand_chunks(void)
{
    struct hvt_mmu_xlat x;
    uint8_t buf[80];
    setup_two_pages();
    memset(buf, 0xab, sizeof(buf));
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 0xfd8, 80, HVT_MMU_W, 0, &x), HVT_OUT_OKAY);
    reset_log();
    CHECK_EQ(hvt_mmu_write(&F.e, &x, buf, hvt_mktag(HVT_TAG_DATA, 0, 0, 0)), HVT_OUT_OKAY);
    /* 40 bytes on each page, at most HVT_DATA_MAX per op */
    CHECK_EQ(F.r->n_log, 4);
    CHECK_EQ(F.r->log[0].size, 32);
    CHECK_EQ(F.r->log[1].size, 8);
    CHECK_U64(F.r->log[1].info.linear, PA + 0xff8);
    CHECK_U64(F.r->log[2].gpa, GB);
    CHECK_EQ(F.r->log[3].size, 8);
    CHECK_EQ(F.r->mem[GB + 39], 0xab);
}

static void test_data_op_retry(void)
{
    struct hvt_mmu_xlat x;
    uint8_t b[8];
    setup_two_pages();
    F.r->mmio_lo = GB;
    F.r->mmio_hi = GB + 4096;
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PB + 8, 8, HVT_MMU_R, 0, &x), HVT_OUT_OKAY);
    reset_log();
    CHECK_EQ(hvt_mmu_read(&F.e, &x, b, hvt_mktag(HVT_TAG_DATA, 0, 0, 0)), HVT_OUT_RETRY);
    CHECK_EQ(F.res.out.kind, HVT_OUT_RETRY);
    CHECK_EQ(F.res.out.retry_cause, HVT_RETRY_MMIO);
    CHECK_EQ(F.r->log[0].info.space, HVT_SPACE_MMIO);
    /* split write: the first piece's answer ends the access */
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 0xffc, 8, HVT_MMU_W, 0, &x), HVT_OUT_OKAY);
    reset_log();
    F.r->fail_at = 0;
    F.r->fail_result = HVT_OP_UNHANDLEABLE;
    CHECK_EQ(hvt_mmu_write(&F.e, &x, b, hvt_mktag(HVT_TAG_DATA, 0, 0, 0)), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(F.r->n_log, 1);
}

static void test_cmpxchg(void)
{
    struct hvt_mmu_xlat x;
    uint64_t old = 5, nv = 9;
    int ok = -1;
    struct hvt_tag tag = hvt_mktag(HVT_TAG_DATA, 0, 0, 0);

    setup_two_pages();
    ram_put64(F.r, GA + 0x10, 5);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 0x10, 8, HVT_MMU_W, 0, &x), HVT_OUT_OKAY);
    reset_log();
    CHECK_EQ(hvt_mmu_cmpxchg(&F.e, &x, &old, &nv, &ok, tag), HVT_OUT_OKAY);
    CHECK_EQ(ok, 1);
    CHECK_U64(ram_get64(F.r, GA + 0x10), 9);
    CHECK_EQ(F.r->n_log, 1);
    check_data_op(0, HVT_ACC_CMPXCHG, GA + 0x10, 8, PA + 0x10, HVT_SEG_DS,
                  HVT_OPF_LINEAR_VALID | HVT_OPF_LOCKED, tag);
    old = 5;
    nv = 11;
    CHECK_EQ(hvt_mmu_cmpxchg(&F.e, &x, &old, &nv, &ok, tag), HVT_OUT_OKAY);
    CHECK_EQ(ok, 0);
    CHECK_U64(old, 9);
    CHECK_U64(ram_get64(F.r, GA + 0x10), 9);
    /* a split locked operand is not emulated */
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 0xffc, 8, HVT_MMU_W, 0, &x), HVT_OUT_OKAY);
    reset_log();
    CHECK_EQ(hvt_mmu_cmpxchg(&F.e, &x, &old, &nv, &ok, tag), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(F.r->n_log, 0);
    /* an op's RETRY */
    F.r->mmio_lo = GA;
    F.r->mmio_hi = GA + 4096;
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA + 0x10, 8, HVT_MMU_W, 0, &x), HVT_OUT_OKAY);
    reset_log();
    CHECK_EQ(hvt_mmu_cmpxchg(&F.e, &x, &old, &nv, &ok, tag), HVT_OUT_RETRY);
    CHECK_EQ(F.res.out.retry_cause, HVT_RETRY_MMIO);
}

static void test_fetch(void)
{
    uint8_t b[8];
    struct hvt_tag ft = hvt_mktag(HVT_TAG_FETCH, 0, 0, 0);
    const uint8_t f = HVT_OPF_LINEAR_VALID | HVT_OPF_SPLIT;

    setup_two_pages();
    for (unsigned i = 0; i < 8; i++) {
        F.r->mem[GA + 0xffc + i] = (uint8_t)(0x90 + i);
        F.r->mem[GB + i - 4 * (i >= 4)] = (uint8_t)(0x90 + i);
    }
    F.st.rip = PA + 0xff0;
    F.e.locked = 1; /* never on fetches */
    reset_log();
    CHECK_EQ(hvt_mmu_fetch(&F.e, 0xc, b, 8), HVT_OUT_OKAY);
    /* page A: 4 reads + 4 A; page B: 4 reads + its leaf's A; then the two fetch ops */
    CHECK_EQ(F.r->n_log, 8 + 5 + 2);
    CHECK_EQ(fx_count(&F, HVT_ACC_FETCH), 2);
    check_data_op(13, HVT_ACC_FETCH, GA + 0xffc, 4, PA + 0xffc, HVT_SEG_CS, f, ft);
    check_data_op(14, HVT_ACC_FETCH, GB, 4, PB, HVT_SEG_CS, f, ft);
    CHECK_EQ(b[0], 0x90);
    CHECK_EQ(b[7], 0x97);
    reset_log();
    CHECK_EQ(hvt_mmu_fetch(&F.e, 0, b, 4), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 5);
    check_data_op(4, HVT_ACC_FETCH, GA + 0xff0, 4, PA + 0xff0, HVT_SEG_CS, HVT_OPF_LINEAR_VALID,
                  ft);
    /* the second page is XD: #PF with I/D, CR2 at the page, no fetch op at all */
    ram_put64(F.r, fx_ent(1, PB), GB | P_URW | P_A | P_XD);
    reset_log();
    CHECK_PF(&F, hvt_mmu_fetch(&F.e, 0xc, b, 8), 0x11, PB);
    CHECK_EQ(fx_count(&F, HVT_ACC_FETCH), 0);
    /* non-canonical RIP */
    F.st.rip = 0x00007ffffffffffcull;
    CHECK_EXC(&F, hvt_mmu_fetch(&F.e, 0, b, 8), HVT_VEC_GP, 0, 0);
    F.st.rip = 0x0000800000000000ull; /* the first byte: canonical only with LA57 */
    reset_log();
    CHECK_EXC(&F, hvt_mmu_fetch(&F.e, 0, b, 1), HVT_VEC_GP, 0, 0);
    F.st.cr4 |= HVT_CR4_LA57;
    F.st.rip = 0x0100000000000000ull; /* not canonical with 57 bits either */
    CHECK_EXC(&F, hvt_mmu_fetch(&F.e, 0, b, 1), HVT_VEC_GP, 0, 0);
    F.st.rip = 0x00fffffffffffffcull; /* the last byte runs past 57 bits */
    CHECK_EXC(&F, hvt_mmu_fetch(&F.e, 0, b, 8), HVT_VEC_GP, 0, 0);
    CHECK_EQ(F.r->n_log, 0); /* no walk, no fetch op */
    F.st.cr4 &= ~HVT_CR4_LA57;

    /* 32-bit: the CS limit; EIP + offset wraps at 32 bits */
    fx_setup(&F, FX_NOPAGING);
    F.st.seg[HVT_SEG_CS].limit = 0xfff;
    F.st.rip = 0xff8;
    CHECK_EQ(hvt_mmu_fetch(&F.e, 0, b, 8), HVT_OUT_OKAY);
    CHECK_EXC(&F, hvt_mmu_fetch(&F.e, 1, b, 8), HVT_VEC_GP, 0, 0);
    F.st.rip = 0xfffffff0u;
    CHECK_EQ(hvt_mmu_fetch(&F.e, 0x12, b, 4), HVT_OUT_OKAY);
    CHECK_U64(F.r->log[F.r->n_log - 1].gpa, 2);
    /* 16-bit: IP wraps at 64 KiB */
    F.st.seg[HVT_SEG_CS].attr &= ~HVT_SEG_ATTR_DB;
    F.st.seg[HVT_SEG_CS].base = 0x5000;
    F.st.seg[HVT_SEG_CS].limit = 0xffff;
    F.e.mode = hvt_emu_mode_of(&F.st);
    CHECK_EQ(F.e.mode, HVT_MODE_PROT16);
    F.st.rip = 0xffff;
    reset_log();
    CHECK_EQ(hvt_mmu_fetch(&F.e, 1, b, 2), HVT_OUT_OKAY);
    CHECK_U64(F.r->log[0].gpa, 0x5000);
    CHECK_U64(F.r->log[0].info.linear, 0x5000);
    CHECK_EXC(&F, hvt_mmu_fetch(&F.e, 0, b, 2), HVT_VEC_GP, 0, 0);
}

static void test_access_bad_arguments(void)
{
    struct hvt_mmu_xlat x, bad;
    uint8_t b[64];
    int ok;
    struct hvt_tag tag = hvt_mktag(HVT_TAG_DATA, 0, 0, 0);

    setup_two_pages();
    CHECK_EQ(hvt_mmu_map(NULL, HVT_SEG_DS, PA, 4, HVT_MMU_R, 0, &x), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA, 4, HVT_MMU_R, 0, NULL), HVT_OUT_UNHANDLEABLE);
    CHECK(strstr(F.res.detail, "map") != NULL);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA, 0, HVT_MMU_R, 0, &x), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA, 4097, HVT_MMU_R, 0, &x), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA, 4, HVT_MMU_R, -1, &x), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA, 4, HVT_MMU_R, 6, &x), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_NONE, PA, 4, HVT_MMU_R, 0, &x), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA, 4, 7, 0, &x), HVT_OUT_UNHANDLEABLE);

    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA, 8, HVT_MMU_W, 0, &x), HVT_OUT_OKAY);
    reset_log();
    CHECK_EQ(hvt_mmu_read(NULL, &x, b, tag), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_read(&F.e, NULL, b, tag), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_read(&F.e, &x, NULL, tag), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_write(NULL, &x, b, tag), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_write(&F.e, &x, NULL, tag), HVT_OUT_UNHANDLEABLE);
    bad = x;
    bad.n = 0;
    CHECK_EQ(hvt_mmu_read(&F.e, &bad, b, tag), HVT_OUT_UNHANDLEABLE);
    bad.n = 3;
    CHECK_EQ(hvt_mmu_write(&F.e, &bad, b, tag), HVT_OUT_UNHANDLEABLE);
    bad = x;
    bad.len[0] = 9;
    CHECK_EQ(hvt_mmu_read(&F.e, &bad, b, tag), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_cmpxchg(NULL, &x, b, b, &ok, tag), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_cmpxchg(&F.e, &x, b, b, NULL, tag), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_cmpxchg(&F.e, &x, NULL, b, &ok, tag), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_cmpxchg(&F.e, &bad, b, b, &ok, tag), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_map(&F.e, HVT_SEG_DS, PA, 40, HVT_MMU_W, 0, &x), HVT_OUT_OKAY);
    reset_log();
    CHECK_EQ(hvt_mmu_cmpxchg(&F.e, &x, b, b + 40, &ok, tag), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_fetch(NULL, 0, b, 4), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_fetch(&F.e, 0, NULL, 4), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_fetch(&F.e, 0, b, 0), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(hvt_mmu_fetch(&F.e, 0, b, HVT_DATA_MAX + 1), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(F.r->n_log, 0);
}

int main(void)
{
    RUN(test_seg_64bit);
    RUN(test_seg_la57_canonical);
    RUN(test_seg_protected_limits);
    RUN(test_seg_expand_down);
    RUN(test_seg_types_and_null);
    RUN(test_linear_bad_arguments);
    RUN(test_split_write_translates_both_pages_first);
    RUN(test_split_second_page_fault_leaves_memory);
    RUN(test_alignment_check);
    RUN(test_split_wraps_at_4g);
    RUN(test_large_operand_chunks);
    RUN(test_data_op_retry);
    RUN(test_cmpxchg);
    RUN(test_fetch);
    RUN(test_access_bad_arguments);
    fx_free(&F);
    TEST_DONE();
}
