/* SPDX-License-Identifier: MIT */
/* MMU tests: page walks in every paging mode, #PF error codes, reserved bits, A/D updates. */
#include "mmu_fixture.h"

static struct fx F;

#define LA4 ((3ull << 39) | (5ull << 30) | (7ull << 21) | (9ull << 12) | 0xabc)
#define LA5 ((2ull << 48) | LA4)
#define LAPAE ((2ull << 30) | (7ull << 21) | (9ull << 12) | 0xabc)
#define LA32 ((5ull << 22) | (9ull << 12) | 0xabc)
#define DATA 0x200000ull

static int xlate(uint64_t la, unsigned intent, uint64_t *gpa)
{
    memset(&F.res, 0, sizeof(F.res));
    ram_clear_log(F.r);
    return hvt_mmu_translate(&F.e, la, intent, gpa);
}

/* ---- successful walks -------------------------------------------------------------------- */

static void test_l4_read_sets_accessed_everywhere(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW, P_URW);
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, DATA | 0xabc);
    CHECK_EQ(F.r->n_log, 8);
    CHECK_WALK(&F, 0, 4, T_PML4 + 8 * 3, 8, LA4);
    CHECK_WALK(&F, 1, 3, T_PDPT + 8 * 5, 8, LA4);
    CHECK_WALK(&F, 2, 2, T_PD + 8 * 7, 8, LA4);
    CHECK_WALK(&F, 3, 1, T_PT + 8 * 9, 8, LA4);
    CHECK_AD(&F, 4, 4, T_PML4 + 8 * 3, 8, LA4, T_PDPT | P_URW, T_PDPT | P_URW | P_A);
    CHECK_AD(&F, 5, 3, T_PDPT + 8 * 5, 8, LA4, T_PD | P_URW, T_PD | P_URW | P_A);
    CHECK_AD(&F, 6, 2, T_PD + 8 * 7, 8, LA4, T_PT | P_URW, T_PT | P_URW | P_A);
    CHECK_AD(&F, 7, 1, T_PT + 8 * 9, 8, LA4, DATA | P_URW, DATA | P_URW | P_A);
    CHECK_U64(ram_get64(F.r, T_PT + 8 * 9), DATA | P_URW | P_A);

    /* everything accessed now: a second read walks without updates */
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 4);
    CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 0);

    /* a write sets only the leaf's dirty bit */
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 5);
    CHECK_AD(&F, 4, 1, T_PT + 8 * 9, 8, LA4, DATA | P_URW | P_A, DATA | P_URW | P_A | P_D);
    CHECK_U64(ram_get64(F.r, T_PD + 8 * 7), T_PT | P_URW | P_A);

    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 4);
}

static void test_l4_write_sets_a_and_d_in_one_update(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW | P_A, P_URW);
    ram_put64(F.r, fx_ent(3, LA4), T_PD | P_URW); /* PDPTE lacks A */
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 6);
    CHECK_AD(&F, 4, 3, fx_ent(3, LA4), 8, LA4, T_PD | P_URW, T_PD | P_URW | P_A);
    CHECK_AD(&F, 5, 1, fx_ent(1, LA4), 8, LA4, DATA | P_URW, DATA | P_URW | P_A | P_D);
    /* dirty never goes on a non-leaf entry */
    CHECK_U64(ram_get64(F.r, fx_ent(2, LA4)), T_PT | P_URW | P_A);
}

static void test_l4_fetch_sets_accessed_only(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW | P_A, P_URW);
    CHECK_EQ(xlate(LA4, HVT_MMU_X, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 5);
    CHECK_AD(&F, 4, 1, fx_ent(1, LA4), 8, LA4, DATA | P_URW, DATA | P_URW | P_A);
}

static void test_l5_walk(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_L5);
    fx_map4k(&F, LA5, DATA, P_URW, P_URW | P_A | P_D);
    CHECK_EQ(xlate(LA5, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, DATA | 0xabc);
    CHECK_EQ(F.r->n_log, 9);
    CHECK_WALK(&F, 0, 5, T_PML5 + 8 * 2, 8, LA5);
    CHECK_WALK(&F, 1, 4, T_PML4 + 8 * 3, 8, LA5);
    CHECK_WALK(&F, 2, 3, T_PDPT + 8 * 5, 8, LA5);
    CHECK_WALK(&F, 3, 2, T_PD + 8 * 7, 8, LA5);
    CHECK_WALK(&F, 4, 1, T_PT + 8 * 9, 8, LA5);
    CHECK_AD(&F, 5, 5, T_PML5 + 8 * 2, 8, LA5, T_PML4 | P_URW, T_PML4 | P_URW | P_A);
    CHECK_AD(&F, 8, 2, T_PD + 8 * 7, 8, LA5, T_PT | P_URW, T_PT | P_URW | P_A);
    /* not-present PML5E: one read, #PF */
    ram_put64(F.r, fx_ent(5, LA5), 0);
    CHECK_PF(&F, xlate(LA5, HVT_MMU_R, &gpa), 0, LA5);
    CHECK_EQ(F.r->n_log, 1);
}

static void test_l4_2m_page(void)
{
    uint64_t gpa = 0, pde = 0x400000 | P_URW | P_PS | (1ull << 12) /* PAT */;
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW | P_A, P_URW);
    ram_put64(F.r, fx_ent(2, LA4), pde);
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, 0x400000 | (LA4 & 0x1fffff));
    CHECK_EQ(F.r->n_log, 4);
    CHECK_WALK(&F, 2, 2, fx_ent(2, LA4), 8, LA4);
    CHECK_AD(&F, 3, 2, fx_ent(2, LA4), 8, LA4, pde, pde | P_A | P_D);
}

static void test_l4_1g_page(void)
{
    uint64_t gpa = 0, pdpte = 0x40000000ull | P_URW | P_PS | P_A | (1ull << 12);
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW | P_A, P_URW);
    ram_put64(F.r, fx_ent(3, LA4), pdpte);
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, 0x40000000ull | (LA4 & 0x3fffffff));
    CHECK_EQ(F.r->n_log, 2);
    CHECK_WALK(&F, 1, 3, fx_ent(3, LA4), 8, LA4);
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 3);
    CHECK_AD(&F, 2, 3, fx_ent(3, LA4), 8, LA4, pdpte, pdpte | P_D);
}

static void test_pae_uses_pdpte_registers(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_PAE);
    fx_map_pae(&F, LAPAE, DATA, P_URW, P_URW);
    ram_put64(F.r, T_PAE_PDPT + 16, 0); /* memory says not present: must not matter */
    CHECK_EQ(xlate(LAPAE, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, DATA | 0xabc);
    CHECK_EQ(F.r->n_log, 4);
    CHECK_WALK(&F, 0, 2, T_PD + 8 * 7, 8, LAPAE);
    CHECK_WALK(&F, 1, 1, T_PT + 8 * 9, 8, LAPAE);
    CHECK_AD(&F, 2, 2, T_PD + 8 * 7, 8, LAPAE, T_PT | P_URW, T_PT | P_URW | P_A);
    CHECK_AD(&F, 3, 1, T_PT + 8 * 9, 8, LAPAE, DATA | P_URW, DATA | P_URW | P_A | P_D);

    /* the upper half of a 64-bit LA is dropped outside long mode */
    CHECK_EQ(xlate(LAPAE | (1ull << 40), HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, DATA | 0xabc);
    CHECK_U64(F.r->log[0].info.linear, LAPAE);

    /* a not-present PDPTE register faults with no op at all */
    F.st.pdpte[2] = 0;
    CHECK_PF(&F, xlate(LAPAE, HVT_MMU_R, &gpa), 0, LAPAE);
    CHECK_EQ(F.r->n_log, 0);
    /* reserved bits in a PDPTE (R/W is reserved there): #PF with RSVD */
    F.st.pdpte[2] = T_PD | P_P | P_RW;
    CHECK_PF(&F, xlate(LAPAE, HVT_MMU_W, &gpa), 0xb, LAPAE);
    F.st.pdpte[2] = T_PD | P_P | P_XD;
    CHECK_PF(&F, xlate(LAPAE, HVT_MMU_R, &gpa), 0x9, LAPAE);
}

static void test_pae_pdpte_reread_and_invalid_registers(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_PAE);
    fx_map_pae(&F, LAPAE, DATA, P_URW | P_A, P_URW | P_A);
    F.opts.pdpte_reread = 1;
    CHECK_EQ(xlate(LAPAE, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, DATA | 0xabc);
    CHECK_EQ(F.r->n_log, 3);
    CHECK_WALK(&F, 0, HVT_WALK_PAE_PDPTE, T_PAE_PDPT + 16, 8, LAPAE);
    CHECK_WALK(&F, 1, 2, T_PD + 8 * 7, 8, LAPAE);
    CHECK_WALK(&F, 2, 1, T_PT + 8 * 9, 8, LAPAE);
    /* re-read: the memory copy now decides, not the register */
    ram_put64(F.r, T_PAE_PDPT + 16, 0);
    CHECK_PF(&F, xlate(LAPAE, HVT_MMU_R, &gpa), 0, LAPAE);
    CHECK_EQ(F.r->n_log, 1);
    ram_put64(F.r, T_PAE_PDPT + 16, T_PD | P_P | (1ull << 5));
    CHECK_PF(&F, xlate(LAPAE, HVT_MMU_R, &gpa), 0x9, LAPAE);

    /* registers not valid and no re-read option: read from memory the same way */
    fx_setup(&F, FX_PAE);
    fx_map_pae(&F, LAPAE, DATA, P_URW | P_A, P_URW | P_A);
    F.st.flags &= ~HVT_STATE_PDPTE_VALID;
    F.st.pdpte[2] = 0;
    CHECK_EQ(xlate(LAPAE, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 3);
    CHECK_WALK(&F, 0, HVT_WALK_PAE_PDPTE, T_PAE_PDPT + 16, 8, LAPAE);
    /* PDPTEs never get A/D updates, even when read from memory */
    CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 0);
    CHECK_U64(ram_get64(F.r, T_PAE_PDPT + 16), T_PD | P_P);
}

static void test_pae_2m_and_reserved(void)
{
    uint64_t gpa = 0, pde = 0x600000 | P_URW | P_PS | P_A;
    fx_setup(&F, FX_PAE);
    fx_map_pae(&F, LAPAE, DATA, P_URW | P_A, P_URW | P_A);
    ram_put64(F.r, T_PD + 8 * 7, pde);
    CHECK_EQ(xlate(LAPAE, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, 0x600000 | (LAPAE & 0x1fffff));
    CHECK_EQ(F.r->n_log, 2);
    CHECK_AD(&F, 1, 2, T_PD + 8 * 7, 8, LAPAE, pde, pde | P_D);
    /* 2M bits 20:13 reserved */
    ram_put64(F.r, T_PD + 8 * 7, pde | (1ull << 13));
    CHECK_PF(&F, xlate(LAPAE, HVT_MMU_R, &gpa), 0x9, LAPAE);
    /* PAE entries: bits 62:52 are reserved (they are ignored in 4-level paging) */
    ram_put64(F.r, T_PD + 8 * 7, T_PT | P_URW | (1ull << 52));
    CHECK_PF(&F, xlate(LAPAE, HVT_MMU_R, &gpa), 0x9, LAPAE);
    CHECK_EQ(F.r->n_log, 1);
    ram_put64(F.r, T_PD + 8 * 7, T_PT | P_URW);
    ram_put64(F.r, T_PT + 8 * 9, DATA | P_URW | (1ull << 62));
    CHECK_PF(&F, xlate(LAPAE, HVT_MMU_W, &gpa), 0xb, LAPAE);
    CHECK_EQ(F.r->n_log, 2);
    CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 0);
    /* XD with NXE: reserved bit when NXE is off */
    ram_put64(F.r, T_PT + 8 * 9, DATA | P_URW | P_XD);
    CHECK_EQ(xlate(LAPAE, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_PF(&F, xlate(LAPAE, HVT_MMU_X, &gpa), 0x11, LAPAE);
    F.st.efer = 0;
    CHECK_PF(&F, xlate(LAPAE, HVT_MMU_R, &gpa), 0x9, LAPAE);
}

static void test_32bit_walk(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_32);
    fx_map32(&F, LA32, DATA, P_URW, P_URW);
    CHECK_EQ(xlate(LA32, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, DATA | 0xabc);
    CHECK_EQ(F.r->n_log, 4);
    CHECK_WALK(&F, 0, 2, T_PD + 4 * 5, 4, LA32);
    CHECK_WALK(&F, 1, 1, T_PT + 4 * 9, 4, LA32);
    CHECK_AD(&F, 2, 2, T_PD + 4 * 5, 4, LA32, T_PT | P_URW, T_PT | P_URW | P_A);
    CHECK_AD(&F, 3, 1, T_PT + 4 * 9, 4, LA32, DATA | P_URW, DATA | P_URW | P_A | P_D);
    CHECK_EQ(ram_get32(F.r, T_PT + 4 * 9), DATA | P_URW | P_A | P_D);
    /* not present PTE */
    ram_put32(F.r, T_PT + 4 * 9, 0);
    CHECK_PF(&F, xlate(LA32, HVT_MMU_W, &gpa), 2, LA32);
    /* user write to a read-only PDE */
    F.e.cpl = 3;
    ram_put32(F.r, T_PT + 4 * 9, DATA | P_URW | P_A | P_D);
    ram_put32(F.r, T_PD + 4 * 5, T_PT | P_P | P_US | P_A);
    CHECK_PF(&F, xlate(LA32, HVT_MMU_W, &gpa), 7, LA32);
    CHECK_EQ(xlate(LA32, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
}

static void test_32bit_4m_pages(void)
{
    uint64_t gpa = 0;
    uint32_t pde = 0x00c00000u | P_URW | P_PS;
    fx_setup(&F, FX_32);
    fx_map32(&F, LA32, DATA, P_URW | P_A, P_URW | P_A);
    /* without CR4.PSE the PS bit is ignored: a normal two-level walk */
    ram_put32(F.r, T_PD + 4 * 5, (uint32_t)T_PT | P_URW | P_A | P_PS);
    CHECK_EQ(xlate(LA32, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, DATA | 0xabc);
    CHECK_EQ(F.r->n_log, 2);

    F.st.cr4 |= HVT_CR4_PSE;
    ram_put32(F.r, T_PD + 4 * 5, pde);
    CHECK_EQ(xlate(LA32, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, 0x00c00000u | (LA32 & 0x3fffff));
    CHECK_EQ(F.r->n_log, 2);
    CHECK_WALK(&F, 0, 2, T_PD + 4 * 5, 4, LA32);
    CHECK_AD(&F, 1, 2, T_PD + 4 * 5, 4, LA32, pde, pde | P_A | P_D);
    /* PSE-36: PDE bits 20:13 are physical-address bits 39:32 */
    ram_put32(F.r, T_PD + 4 * 5, pde | P_A | P_D | (0x83u << 13));
    CHECK_EQ(xlate(LA32, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, (0x83ull << 32) | 0x00c00000u | (LA32 & 0x3fffff));
    /* bit 21 is reserved */
    ram_put32(F.r, T_PD + 4 * 5, pde | (1u << 21));
    CHECK_PF(&F, xlate(LA32, HVT_MMU_R, &gpa), 0x9, LA32);
    CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 0);
}

static void test_paging_off(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_NOPAGING);
    CHECK_EQ(xlate(0x123456789ull, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, 0x23456789ull);
    CHECK_EQ(F.r->n_log, 0);
}

/* ---- faults ------------------------------------------------------------------------------ */

static void test_not_present_each_level(void)
{
    uint64_t gpa = 0;
    for (unsigned level = 4; level >= 1; level--) {
        fx_setup(&F, FX_L4);
        fx_map4k(&F, LA4, DATA, P_URW, P_URW);
        ram_put64(F.r, fx_ent(level, LA4), P_RW | P_US); /* P clear, other bits set */
        CHECK_PF(&F, xlate(LA4, HVT_MMU_R, &gpa), 0, LA4);
        CHECK_EQ(F.r->n_log, 5 - level);
        CHECK_PF(&F, xlate(LA4, HVT_MMU_W, &gpa), 2, LA4);
        F.e.cpl = 3;
        CHECK_PF(&F, xlate(LA4, HVT_MMU_W, &gpa), 6, LA4);
        CHECK_PF(&F, xlate(LA4, HVT_MMU_X, &gpa), 0x14, LA4);
        CHECK_PF(&F, xlate(LA4, HVT_MMU_R | HVT_MMU_IMPLICIT, &gpa), 0, LA4);
        F.e.cpl = 0;
        CHECK_PF(&F, xlate(LA4, HVT_MMU_X, &gpa), 0x10, LA4);
        /* no NXE and no SMEP: no I/D bit */
        F.st.efer &= ~HVT_EFER_NXE;
        CHECK_PF(&F, xlate(LA4, HVT_MMU_X, &gpa), 0, LA4);
        /* the failed walk made no A/D update */
        CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 0);
        CHECK_U64(ram_get64(F.r, fx_ent(4, LA4)) & P_A, 0);
        if (level == 1)
            break;
    }
}

static void test_write_protect(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW, P_P | P_US);
    CHECK_PF(&F, xlate(LA4, HVT_MMU_W, &gpa), 3, LA4);
    CHECK_EQ(F.r->n_log, 4);
    CHECK_U64(ram_get64(F.r, fx_ent(1, LA4)), DATA | P_P | P_US); /* no A/D on a fault */
    F.e.cpl = 3;
    CHECK_PF(&F, xlate(LA4, HVT_MMU_W, &gpa), 7, LA4);
    /* CR0.WP = 0: supervisor writes go through (and set D); user writes still fault */
    F.st.cr0 &= ~HVT_CR0_WP;
    CHECK_PF(&F, xlate(LA4, HVT_MMU_W, &gpa), 7, LA4);
    F.e.cpl = 0;
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_U64(ram_get64(F.r, fx_ent(1, LA4)), DATA | P_P | P_US | P_A | P_D);
    /* R/W clear at an upper level only */
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW, P_URW);
    ram_put64(F.r, fx_ent(3, LA4), T_PD | P_P | P_US);
    CHECK_PF(&F, xlate(LA4, HVT_MMU_W, &gpa), 3, LA4);
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
}

static void test_user_supervisor(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW, P_URW);
    ram_put64(F.r, fx_ent(4, LA4), T_PDPT | P_P | P_RW); /* supervisor at the top only */
    F.e.cpl = 3;
    CHECK_PF(&F, xlate(LA4, HVT_MMU_R, &gpa), 5, LA4);
    CHECK_PF(&F, xlate(LA4, HVT_MMU_W, &gpa), 7, LA4);
    CHECK_PF(&F, xlate(LA4, HVT_MMU_X, &gpa), 0x15, LA4);
    CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 0);
    /* implicit accesses at CPL 3 are supervisor accesses */
    CHECK_EQ(xlate(LA4, HVT_MMU_W | HVT_MMU_IMPLICIT, &gpa), HVT_OUT_OKAY);
    F.e.cpl = 2;
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
}

static void test_nx(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW, P_URW);
    ram_put64(F.r, fx_ent(2, LA4), T_PT | P_URW | P_XD);
    CHECK_PF(&F, xlate(LA4, HVT_MMU_X, &gpa), 0x11, LA4);
    CHECK_EQ(F.r->n_log, 4);
    CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 0);
    F.e.cpl = 3;
    CHECK_PF(&F, xlate(LA4, HVT_MMU_X, &gpa), 0x15, LA4);
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    /* with NXE off the XD bit is reserved: RSVD on any access, at the PDE (3 reads) */
    F.st.efer &= ~HVT_EFER_NXE;
    F.e.cpl = 0;
    CHECK_PF(&F, xlate(LA4, HVT_MMU_R, &gpa), 0x9, LA4);
    CHECK_EQ(F.r->n_log, 3);
    CHECK_PF(&F, xlate(LA4, HVT_MMU_X, &gpa), 0x9, LA4);
}

static void test_smep(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_L4);
    F.st.efer &= ~HVT_EFER_NXE;
    fx_map4k(&F, LA4, DATA, P_URW, P_URW);
    CHECK_EQ(xlate(LA4, HVT_MMU_X, &gpa), HVT_OUT_OKAY);
    F.st.cr4 |= HVT_CR4_SMEP;
    CHECK_PF(&F, xlate(LA4, HVT_MMU_X, &gpa), 0x11, LA4);
    CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 0);
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_OKAY); /* SMEP is about fetches only */
    F.e.cpl = 3;
    CHECK_EQ(xlate(LA4, HVT_MMU_X, &gpa), HVT_OUT_OKAY);
    /* a supervisor page (U/S clear in the PTE only) is fine for supervisor fetches */
    F.e.cpl = 0;
    ram_put64(F.r, fx_ent(1, LA4), DATA | P_P | P_RW);
    CHECK_EQ(xlate(LA4, HVT_MMU_X, &gpa), HVT_OUT_OKAY);
}

static void test_id_bit_in_32bit_paging(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_32);
    F.st.efer = HVT_EFER_NXE; /* NXE without PAE: no XD, no I/D */
    CHECK_PF(&F, xlate(LA32, HVT_MMU_X, &gpa), 0, LA32);
    CHECK_EQ(F.r->n_log, 1);
    F.st.cr4 |= HVT_CR4_SMEP;
    CHECK_PF(&F, xlate(LA32, HVT_MMU_X, &gpa), 0x10, LA32);
    fx_map32(&F, LA32, DATA, P_URW, P_URW);
    CHECK_PF(&F, xlate(LA32, HVT_MMU_X, &gpa), 0x11, LA32);
}

static void test_smap(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_L4);
    F.st.cr4 |= HVT_CR4_SMAP;
    fx_map4k(&F, LA4, DATA, P_URW, P_URW);
    CHECK_PF(&F, xlate(LA4, HVT_MMU_R, &gpa), 0x1, LA4);
    CHECK_PF(&F, xlate(LA4, HVT_MMU_W, &gpa), 0x3, LA4);
    CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 0);
    F.st.rflags |= HVT_RFLAGS_AC;
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    /* implicit supervisor accesses ignore AC, at any CPL */
    CHECK_PF(&F, xlate(LA4, HVT_MMU_R | HVT_MMU_IMPLICIT, &gpa), 0x1, LA4);
    F.e.cpl = 3;
    CHECK_PF(&F, xlate(LA4, HVT_MMU_W | HVT_MMU_IMPLICIT, &gpa), 0x3, LA4);
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY); /* a user access */
    F.e.cpl = 0;
    /* fetches are SMEP's business, not SMAP's */
    CHECK_EQ(xlate(LA4, HVT_MMU_X, &gpa), HVT_OUT_OKAY);
    /* read-only user page, AC = 1: WP decides */
    ram_put64(F.r, fx_ent(1, LA4), DATA | P_P | P_US);
    CHECK_PF(&F, xlate(LA4, HVT_MMU_W, &gpa), 0x3, LA4);
    F.st.cr0 &= ~HVT_CR0_WP;
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    F.st.rflags &= ~HVT_RFLAGS_AC;
    CHECK_PF(&F, xlate(LA4, HVT_MMU_W, &gpa), 0x3, LA4);
    /* supervisor pages are not affected */
    ram_put64(F.r, fx_ent(2, LA4), T_PT | P_P | P_RW);
    CHECK_EQ(xlate(LA4, HVT_MMU_R | HVT_MMU_IMPLICIT, &gpa), HVT_OUT_OKAY);
}

static void test_reserved_bits_each_level(void)
{
    uint64_t gpa = 0;
    struct {
        enum fx_paging pg;
        unsigned level;
        uint64_t value; /* 0: keep the builder's entry, then OR in bits */
        uint64_t bits;
        unsigned reads; /* walk reads before the fault; 0 = no fault */
    } cases[] = {
        {FX_L5, 5, 0, P_PS, 1},
        {FX_L4, 4, 0, P_PS, 1},
        {FX_L4, 3, 0x40000000ull | P_URW | P_PS, 1ull << 13, 2},
        {FX_L4, 3, 0x40000000ull | P_URW | P_PS, 1ull << 29, 2},
        {FX_L4, 3, 0x40000000ull | P_URW | P_PS, 1ull << 12, 0}, /* PAT */
        {FX_L4, 2, 0x400000ull | P_URW | P_PS, 1ull << 13, 3},
        {FX_L4, 2, 0x400000ull | P_URW | P_PS, 1ull << 20, 3},
        {FX_L4, 2, 0x400000ull | P_URW | P_PS, 1ull << 12, 0}, /* PAT */
        {FX_L4, 1, 0, 1ull << 7, 0},                           /* PAT of a 4K page */
        {FX_L4, 1, 0, 1ull << 52, 0},                          /* ignored in 4-level */
        {FX_L4, 1, 0, 1ull << 62, 0},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t la = cases[i].pg == FX_L5 ? LA5 : LA4, ent;
        int before = hvt_test_failures;
        fx_setup(&F, cases[i].pg);
        fx_map4k(&F, la, DATA, P_URW, P_URW);
        ent = cases[i].value ? cases[i].value : ram_get64(F.r, fx_ent(cases[i].level, la));
        ram_put64(F.r, fx_ent(cases[i].level, la), ent | cases[i].bits);
        if (cases[i].reads) {
            CHECK_PF(&F, xlate(la, HVT_MMU_R, &gpa), 0x9, la);
            CHECK_EQ(F.r->n_log, cases[i].reads);
            CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 0);
            F.e.cpl = 3;
            CHECK_PF(&F, xlate(la, HVT_MMU_W, &gpa), 0xf, la);
            CHECK_PF(&F, xlate(la, HVT_MMU_X, &gpa), 0x1d, la);
        } else {
            CHECK_EQ(xlate(la, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
        }
        if (hvt_test_failures != before)
            fprintf(stderr, "  (reserved-bit case %u)\n", i);
    }
    /* reserved bits end the walk even when a lower level is not present */
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW, 0);
    CHECK_PF(&F, xlate(LA4, HVT_MMU_R, &gpa), 0, LA4);
    CHECK_EQ(F.r->n_log, 4);
    ram_put64(F.r, fx_ent(3, LA4), T_PD | P_URW | P_XD);
    F.st.efer &= ~HVT_EFER_NXE;
    CHECK_PF(&F, xlate(LA4, HVT_MMU_R, &gpa), 0x9, LA4);
    CHECK_EQ(F.r->n_log, 2);
}

static void test_xd_reserved_without_nxe_each_level(void)
{
    uint64_t gpa = 0;
    for (unsigned level = 5; level >= 1; level--) {
        fx_setup(&F, FX_L5);
        F.st.efer &= ~HVT_EFER_NXE;
        fx_map4k(&F, LA5, DATA, P_URW, P_URW);
        ram_put64(F.r, fx_ent(level, LA5), ram_get64(F.r, fx_ent(level, LA5)) | P_XD);
        CHECK_PF(&F, xlate(LA5, HVT_MMU_W, &gpa), 0xb, LA5);
        CHECK_EQ(F.r->n_log, 6 - level);
        CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 0);
        /* with NXE the same entries translate (and a fetch faults as XD) */
        F.st.efer |= HVT_EFER_NXE;
        CHECK_EQ(xlate(LA5, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
        CHECK_PF(&F, xlate(LA5, HVT_MMU_X, &gpa), 0x11, LA5);
        if (level == 1)
            break;
    }
}

static void test_moved_table_address(void)
{
    /* a PD at an address using bits 12 and 13 (reserved in large-page entries) walks normally */
    uint64_t gpa = 0;
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW, P_URW);
    memcpy(F.r->mem + 0x13000, F.r->mem + T_PD, 4096);
    ram_put64(F.r, fx_ent(3, LA4), 0x13000 | P_URW);
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_WALK(&F, 2, 2, 0x13000 + 8 * 7, 8, LA4);
}

/* ---- A/D races, op answers ----------------------------------------------------------------- */

static int race_left;

/* Another agent flips an ignored bit (9) of the entry right before each A/D cmpxchg. */
static int race_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                        struct hvt_op_info *info)
{
    struct ram *r = ctx;
    if (info->tag.cls == HVT_TAG_AD && race_left > 0) {
        race_left--;
        r->mem[gpa + 1] ^= 0x02;
    }
    return ram_cmpxchg(ctx, gpa, old, new_, size, info);
}

static const struct hvt_core_ops race_ops = {
    sizeof(struct hvt_core_ops), ram_read, ram_write, race_cmpxchg, ram_io_in, ram_io_out,
};

static void test_ad_race_rewalks(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_L4);
    F.e.ops = &race_ops;
    fx_map4k(&F, LA4, DATA, P_URW, P_URW);
    race_left = 1;
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 13);
    CHECK_EQ(F.r->log[4].result, HVT_OP_CMPXCHG_FAILED);
    CHECK_WALK(&F, 5, 4, fx_ent(4, LA4), 8, LA4);
    CHECK_WALK(&F, 8, 1, fx_ent(1, LA4), 8, LA4);
    CHECK_AD(&F, 9, 4, fx_ent(4, LA4), 8, LA4, T_PDPT | P_URW | (1ull << 9),
             T_PDPT | P_URW | P_A | (1ull << 9));
    CHECK_AD(&F, 12, 1, fx_ent(1, LA4), 8, LA4, DATA | P_URW, DATA | P_URW | P_A | P_D);

    /* the leaf changed: the upper levels are already accessed on the re-walk */
    fx_map4k(&F, LA4, DATA, P_URW | P_A, P_URW);
    race_left = 1;
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 10);
    CHECK_AD(&F, 9, 1, fx_ent(1, LA4), 8, LA4, DATA | P_URW | (1ull << 9),
             DATA | P_URW | P_A | P_D | (1ull << 9));

    /* a table that never stops changing: bounded, then UNHANDLEABLE */
    fx_map4k(&F, LA4, DATA, P_URW, P_URW);
    race_left = 1000;
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(F.res.out.kind, HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(fx_count(&F, HVT_ACC_CMPXCHG), 8);
    CHECK_EQ(F.r->n_log, 8 * 5);
    CHECK(strstr(F.res.detail, "mmu:") != NULL);
    race_left = 0;
}

static void test_op_answers_end_the_walk(void)
{
    uint64_t gpa = 0;
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW, P_URW);
    F.r->fail_at = 0;
    F.r->fail_result = HVT_OP_RETRY;
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_RETRY);
    CHECK_EQ(F.res.out.kind, HVT_OUT_RETRY);
    CHECK_EQ(F.res.out.retry_cause, HVT_RETRY_OTHER);
    CHECK_EQ(F.r->n_log, 1);
    F.r->fail_at = 2;
    F.r->fail_result = HVT_OP_UNHANDLEABLE;
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(F.res.out.kind, HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(F.r->n_log, 3);
    /* an A/D update answered RETRY: the walk ends there */
    F.r->fail_at = 5;
    F.r->fail_result = HVT_OP_RETRY;
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_RETRY);
    CHECK_EQ(F.r->n_log, 6);
    F.r->fail_at = -1;
    /* a page table in MMIO: RETRY with the MMIO cause */
    F.r->mmio_lo = T_PD;
    F.r->mmio_hi = T_PD + 4096;
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_RETRY);
    CHECK_EQ(F.res.out.retry_cause, HVT_RETRY_MMIO);
    CHECK_EQ(F.r->n_log, 3);
}

static void test_translate_bad_arguments(void)
{
    uint64_t gpa = 0;
    struct hvt_emu empty;
    fx_setup(&F, FX_L4);
    CHECK_EQ(hvt_mmu_translate(NULL, LA4, HVT_MMU_R, &gpa), HVT_OUT_UNHANDLEABLE);
    memset(&empty, 0, sizeof(empty));
    CHECK_EQ(hvt_mmu_translate(&empty, LA4, HVT_MMU_R, &gpa), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(xlate(LA4, HVT_MMU_R, NULL), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(F.res.out.kind, HVT_OUT_UNHANDLEABLE);
    CHECK(strstr(F.res.detail, "translate") != NULL);
    CHECK_EQ(xlate(LA4, 3, &gpa), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(xlate(LA4, HVT_MMU_R | (1u << 8), &gpa), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(F.r->n_log, 0);
    /* NULL options mean the defaults */
    F.e.opts = NULL;
    fx_map4k(&F, LA4, DATA, P_URW, P_URW);
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
}

/* The A/D pass is decided by the entries each walk reads: walks of the same address, with one
 * entry changed in memory between them (A or D cleared again, a leaf turned into a large
 * page), update exactly what that walk found lacking, in every paging mode. */
static void test_ad_pass_follows_the_entries_read(void)
{
    uint64_t gpa = 0, full = P_URW | P_A | P_D;
    uint64_t pde2m = 0x400000ull | P_URW | P_PS | P_A;
    uint32_t pte32 = (uint32_t)(DATA | full), pde4m = 0x800000u | (uint32_t)P_URW | P_PS | P_A;

    /* 4-level: all set, then the PML4E loses A, then the PTE loses D, then a 2 MiB leaf */
    fx_setup(&F, FX_L4);
    fx_map4k(&F, LA4, DATA, P_URW | P_A, full);
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 4);
    ram_put64(F.r, fx_ent(4, LA4), T_PDPT | P_URW);
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 5);
    CHECK_AD(&F, 4, 4, fx_ent(4, LA4), 8, LA4, T_PDPT | P_URW, T_PDPT | P_URW | P_A);
    ram_put64(F.r, fx_ent(1, LA4), DATA | P_URW | P_A);
    CHECK_EQ(xlate(LA4, HVT_MMU_R, &gpa), HVT_OUT_OKAY); /* a read needs no D */
    CHECK_EQ(F.r->n_log, 4);
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 5);
    CHECK_AD(&F, 4, 1, fx_ent(1, LA4), 8, LA4, DATA | P_URW | P_A, DATA | full);
    ram_put64(F.r, fx_ent(2, LA4), pde2m);
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_U64(gpa, 0x400000ull | (LA4 & 0x1fffff));
    CHECK_EQ(F.r->n_log, 4);
    CHECK_AD(&F, 3, 2, fx_ent(2, LA4), 8, LA4, pde2m, pde2m | P_D);
    CHECK_EQ(xlate(LA4, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 3);

    /* PAE: the PTE loses A, then D */
    fx_setup(&F, FX_PAE);
    fx_map_pae(&F, LAPAE, DATA, P_URW | P_A, full);
    CHECK_EQ(xlate(LAPAE, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 2);
    ram_put64(F.r, T_PT + 8 * ((LAPAE >> 12) & 511), DATA | P_URW);
    CHECK_EQ(xlate(LAPAE, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 3);
    CHECK_AD(&F, 2, 1, T_PT + 8 * ((LAPAE >> 12) & 511), 8, LAPAE, DATA | P_URW,
             DATA | P_URW | P_A);
    CHECK_EQ(xlate(LAPAE, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 3);
    CHECK_AD(&F, 2, 1, T_PT + 8 * ((LAPAE >> 12) & 511), 8, LAPAE, DATA | P_URW | P_A, DATA | full);

    /* 32-bit: all set, then the PTE loses D, then a 4 MiB leaf without D */
    fx_setup(&F, FX_32);
    fx_map32(&F, LA32, DATA, P_URW | P_A, (uint32_t)full);
    CHECK_EQ(xlate(LA32, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 2);
    ram_put32(F.r, T_PT + 4 * 9, pte32 & ~(uint32_t)P_D);
    CHECK_EQ(xlate(LA32, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 3);
    CHECK_AD(&F, 2, 1, T_PT + 4 * 9, 4, LA32, pte32 & ~(uint32_t)P_D, pte32);
    F.st.cr4 |= HVT_CR4_PSE;
    ram_put32(F.r, T_PD + 4 * 5, pde4m);
    CHECK_EQ(xlate(LA32, HVT_MMU_R, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 1);
    CHECK_EQ(xlate(LA32, HVT_MMU_W, &gpa), HVT_OUT_OKAY);
    CHECK_EQ(F.r->n_log, 2);
    CHECK_AD(&F, 1, 2, T_PD + 4 * 5, 4, LA32, pde4m, pde4m | (uint32_t)P_D);
}

int main(void)
{
    RUN(test_l4_read_sets_accessed_everywhere);
    RUN(test_l4_write_sets_a_and_d_in_one_update);
    RUN(test_l4_fetch_sets_accessed_only);
    RUN(test_l5_walk);
    RUN(test_l4_2m_page);
    RUN(test_l4_1g_page);
    RUN(test_pae_uses_pdpte_registers);
    RUN(test_pae_pdpte_reread_and_invalid_registers);
    RUN(test_pae_2m_and_reserved);
    RUN(test_32bit_walk);
    RUN(test_32bit_4m_pages);
    RUN(test_paging_off);
    RUN(test_not_present_each_level);
    RUN(test_write_protect);
    RUN(test_user_supervisor);
    RUN(test_nx);
    RUN(test_smep);
    RUN(test_id_bit_in_32bit_paging);
    RUN(test_smap);
    RUN(test_reserved_bits_each_level);
    RUN(test_xd_reserved_without_nxe_each_level);
    RUN(test_moved_table_address);
    RUN(test_ad_race_rewalks);
    RUN(test_ad_pass_follows_the_entries_read);
    RUN(test_op_answers_end_the_walk);
    RUN(test_translate_bad_arguments);
    fx_free(&F);
    TEST_DONE();
}
