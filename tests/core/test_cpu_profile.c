/* SPDX-License-Identifier: MIT */
/* CPU profiles: the text form, built-ins and CPUID, and the core following a profile: each
 * implementation choice run both ways, #UD for a missing feature, impossible states. */
#include <stdlib.h>

#include "exec_ext.h"
#include "hvtrace/cpu.h"
#include "insn_fixture.h"
#include "mmu_fixture.h"

static struct fx f;
static struct ix x;

/* ---- the profile API ------------------------------------------------------------------- */

static void test_names(void)
{
    CHECK_STR(hvt_cpu_feature_name(HVT_CPUF_AVX2), "avx2");
    CHECK(hvt_cpu_feature_name(HVT_CPUF__COUNT) == NULL);
    CHECK_EQ(hvt_cpu_feature_find("la57"), HVT_CPUF_LA57);
    CHECK_EQ(hvt_cpu_feature_find("no-such"), -HVT_E_NOT_FOUND);
    CHECK_EQ(hvt_cpu_feature_find(NULL), -HVT_E_NOT_FOUND);
    for (unsigned c = 0; c < HVT_CPUC__COUNT; c++) {
        CHECK(hvt_cpu_choice_name(c) != NULL);
        CHECK_EQ(hvt_cpu_choice_find(hvt_cpu_choice_name(c)), (int)c);
        CHECK(hvt_cpu_choice_alternatives(c) >= 2);
        CHECK(hvt_cpu_choice_summary(c) != NULL);
        for (unsigned v = 0; v < hvt_cpu_choice_alternatives(c); v++) {
            CHECK(hvt_cpu_choice_value_name(c, v) != NULL);
            CHECK(hvt_cpu_choice_value_cpus(c, v) != NULL);
        }
        CHECK(hvt_cpu_choice_value_name(c, hvt_cpu_choice_alternatives(c)) == NULL);
    }
    CHECK(hvt_cpu_choice_name(HVT_CPUC__COUNT) == NULL);
    CHECK_EQ(hvt_cpu_choice_alternatives(HVT_CPUC__COUNT), 0);
    CHECK(HVT_CPUC__COUNT <= HVT_CPU_MAX_CHOICES);
    CHECK(HVT_CPUF__COUNT <= 64);
}

/* Every built-in formats to text that parses back to the same profile. */
static void test_builtins_roundtrip(void)
{
    struct hvt_cpu_profile p, q;
    char text[HVT_CPU_TEXT_MAX], warn[256];
    const char *n;
    size_t i;
    for (i = 0; (n = hvt_cpu_profile_builtin(i)); i++) {
        CHECK_EQ(hvt_cpu_profile_named(&p, n), 0);
        CHECK_STR(p.name, n);
        CHECK(hvt_cpu_profile_builtin_summary(i) != NULL);
        CHECK(hvt_cpu_profile_format(&p, text, sizeof(text)) > 0);
        CHECK_EQ(hvt_cpu_profile_parse(&q, text, warn, sizeof(warn)), 0);
        CHECK_STR(warn, "");
        CHECK(hvt_cpu_profile_equal(&p, &q));
        CHECK_STR(q.name, n);
        /* the bare name parses too */
        CHECK_EQ(hvt_cpu_profile_parse(&q, n, NULL, 0), 0);
        CHECK(hvt_cpu_profile_equal(&p, &q));
    }
    CHECK(i >= 5);
    hvt_cpu_profile_default(&p);
    CHECK_STR(p.name, HVT_CPU_DEFAULT);
    CHECK_STR(p.vendor, "GenuineIntel");
    for (unsigned c = 0; c < HVT_CPUC__COUNT; c++)
        CHECK_EQ(p.choice[c], 0);
    CHECK_EQ(hvt_cpu_profile_named(&p, "no-such-cpu"), -HVT_E_NOT_FOUND);
    CHECK_EQ(hvt_cpu_profile_named(NULL, "amd-zen3"), -HVT_E_INVALID);
    CHECK_EQ(hvt_cpu_profile_format(&p, text, 10), -HVT_E_LIMIT);
    CHECK_EQ(hvt_cpu_profile_format(NULL, text, sizeof(text)), -HVT_E_INVALID);
}

static void test_parse(void)
{
    struct hvt_cpu_profile p, z;
    char warn[256];
    CHECK_EQ(hvt_cpu_profile_named(&z, "amd-zen3"), 0);
    /* a base name, then edits */
    CHECK_EQ(hvt_cpu_profile_parse(&p, "amd-zen3 -avx2 +la57 gather-fault-mask=sign-extend "
                                       "name=what-if model=0x11",
                                   warn, sizeof(warn)),
             0);
    CHECK(!HVT_CPU_HAS(&p, HVT_CPUF_AVX2));
    CHECK(HVT_CPU_HAS(&p, HVT_CPUF_LA57));
    CHECK(HVT_CPU_HAS(&p, HVT_CPUF_AVX));
    CHECK_EQ(p.choice[HVT_CPUC_GATHER_FAULT_MASK], 0);
    CHECK_EQ(p.choice[HVT_CPUC_REP_CMPS_FAULT_FLAGS], 1);
    CHECK_EQ(p.model, 17);
    CHECK_STR(p.name, "what-if");
    CHECK_STR(p.vendor, "AuthenticAMD");
    /* tokens of a newer build: warnings, the rest still applies */
    CHECK_EQ(hvt_cpu_profile_parse(&p,
                                   "vendor=X features=sse2,future-x,avx some-new-choice=a "
                                   "gather-fault-upper=maybe +future-y rep-a32-no-progress=keep",
                                   warn, sizeof(warn)),
             4);
    CHECK(strstr(warn, "future-x") && strstr(warn, "some-new-choice") && strstr(warn, "maybe") &&
          strstr(warn, "future-y"));
    CHECK_U64(p.features, (1ull << HVT_CPUF_SSE2) | (1ull << HVT_CPUF_AVX));
    CHECK_EQ(p.choice[HVT_CPUC_REP_A32_NO_PROGRESS], 1);
    CHECK_EQ(p.choice[HVT_CPUC_GATHER_FAULT_UPPER], 0);
    /* errors name the token */
    CHECK_EQ(hvt_cpu_profile_parse(&p, "amd-zen3 intel-skylake", warn, sizeof(warn)),
             -HVT_E_INVALID);
    CHECK(strstr(warn, "intel-skylake") != NULL);
    CHECK_EQ(hvt_cpu_profile_parse(&p, "nope", warn, sizeof(warn)), -HVT_E_NOT_FOUND);
    CHECK(strstr(warn, "nope") != NULL);
    CHECK_EQ(hvt_cpu_profile_parse(&p, "family=010x", warn, sizeof(warn)), -HVT_E_INVALID);
    CHECK(strstr(warn, "010x") != NULL);
    CHECK_EQ(hvt_cpu_profile_parse(&p, "family=-1", NULL, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_cpu_profile_parse(&p, "family=4294967296", NULL, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_cpu_profile_parse(&p, "vendor=AAAAAAAAAAAAAAAAAAAAA", NULL, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_cpu_profile_parse(NULL, "amd-zen3", NULL, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_cpu_profile_parse(&p, NULL, NULL, 0), -HVT_E_INVALID);
    {
        char *big = malloc(HVT_CPU_TEXT_MAX + 10);
        CHECK(big != NULL);
        if (big) {
            memset(big, ' ', HVT_CPU_TEXT_MAX + 9);
            big[HVT_CPU_TEXT_MAX + 9] = 0;
            CHECK_EQ(hvt_cpu_profile_parse(&p, big, NULL, 0), -HVT_E_INVALID);
            free(big);
        }
    }
    /* an empty text is an empty profile */
    CHECK_EQ(hvt_cpu_profile_parse(&p, "", NULL, 0), 0);
    CHECK_U64(p.features, 0);
}

static void test_cpuid(void)
{
    struct hvt_cpu_profile p;
    int rc = hvt_cpu_profile_cpuid(&p);
#if defined(__x86_64__)
    CHECK_EQ(rc, 0);
    CHECK_STR(p.name, "host-cpuid");
    CHECK_EQ(strlen(p.vendor), 12);
    CHECK(p.family > 0);
    CHECK(HVT_CPU_HAS(&p, HVT_CPUF_SSE2));
    CHECK(HVT_CPU_HAS(&p, HVT_CPUF_LM));
#else
    CHECK_EQ(rc, -HVT_E_UNSUPPORTED);
#endif
    CHECK_EQ(hvt_cpu_profile_cpuid(NULL), -HVT_E_INVALID);
}

static void test_check_state(void)
{
    struct hvt_cpu_profile p;
    struct hvt_vcpu_state st;
    char why[128];
    memset(&st, 0, sizeof(st));
    CHECK_EQ(hvt_cpu_profile_named(&p, "intel-sandybridge"), 0);
    st.cr4 = HVT_CR4_PAE;
    st.efer = HVT_EFER_LME | HVT_EFER_LMA | HVT_EFER_NXE;
    CHECK_EQ(hvt_cpu_profile_check_state(&p, &st, why, sizeof(why)), 0);
    st.cr4 |= HVT_CR4_SMEP;
    CHECK_EQ(hvt_cpu_profile_check_state(&p, &st, why, sizeof(why)), 1);
    CHECK(strstr(why, "CR4.SMEP") && strstr(why, "intel-sandybridge") && strstr(why, "smep"));
    CHECK_EQ(hvt_cpu_profile_named(&p, "unicorn"), 0);
    st.cr4 = HVT_CR4_PAE;
    CHECK_EQ(hvt_cpu_profile_check_state(&p, &st, why, sizeof(why)), 1); /* no NX */
    CHECK(strstr(why, "EFER.NXE") != NULL);
    CHECK_EQ(hvt_cpu_profile_check_state(NULL, &st, why, sizeof(why)), -HVT_E_INVALID);
}

/* ---- the core following a profile ----------------------------------------------------- */

static void use(const char *profile)
{
    CHECK_EQ(hvt_cpu_profile_parse(&f.opts.cpu, profile, NULL, 0), 0);
}

static int run_ext(const char *hex)
{
    uint8_t b[16];
    unsigned n = 0, v;
    while (*hex && n < sizeof(b)) {
        while (*hex == ' ')
            hex++;
        if (sscanf(hex, "%2x", &v) != 1)
            break;
        b[n++] = (uint8_t)v;
        hex += 2;
    }
    memset(&f.res, 0, sizeof(f.res));
    ram_clear_log(f.r);
    f.e.partial = 0;
    return hvt_exec_ext_bytes(&f.e, b, n);
}

/* rep-a32-no-progress: `67 f3 aa` (rep stosb, ECX) with a zero count, and `67 f3 ac`
 * (rep lodsb) faulting on its first iteration. */
static void test_rep_a32_no_progress(void)
{
    const uint64_t hi = 0xabcd000100000000ull;
    for (int amd = 0; amd < 2; amd++) {
        fx_setup(&f, FX_L4);
        use(amd ? "amd-zen3" : "intel-icelake-server");
        fx_map4k(&f, 0x20000, 0x20000, P_URW | P_A | P_D, P_URW | P_A | P_D);
        f.st.gpr[HVT_RCX] = hi;
        f.st.gpr[HVT_RDI] = hi | 0x20000;
        f.st.gpr[HVT_RSI] = hi | 0x20000;
        CHECK_EQ(run_ext("67 f3 aa"), HVT_OUT_OKAY);
        CHECK_U64(f.st.gpr[HVT_RCX], amd ? hi : 0);
        CHECK_U64(f.st.gpr[HVT_RDI], amd ? (hi | 0x20000) : 0x20000);
        CHECK_U64(f.st.gpr[HVT_RSI], hi | 0x20000); /* STOS does not use it */

        /* the page at 0x21000 is not mapped: #PF on the first iteration */
        f.st.gpr[HVT_RCX] = hi | 5;
        f.st.gpr[HVT_RSI] = hi | 0x21000;
        CHECK_EQ(run_ext("67 f3 ac"), HVT_OUT_EXCEPTION);
        CHECK_EQ(f.res.out.vector, HVT_VEC_PF);
        CHECK_EQ(f.e.partial, !amd); /* Intel commits the ECX write, AMD changes nothing */
        CHECK_U64(f.st.gpr[HVT_RCX], amd ? (hi | 5) : 5);
        CHECK_U64(f.st.gpr[HVT_RSI], hi | 0x21000);

        /* with progress both write ECX and ESI as 32-bit registers */
        f.st.gpr[HVT_RCX] = hi | 5;
        f.st.gpr[HVT_RSI] = hi | 0x20ffe;
        CHECK_EQ(run_ext("67 f3 ac"), HVT_OUT_EXCEPTION);
        CHECK_EQ(f.res.out.iterations, 2);
        CHECK_U64(f.st.gpr[HVT_RCX], 3);
        CHECK_U64(f.st.gpr[HVT_RSI], 0x21000);
    }
}

/* rep-cmps-fault-flags: `f2 48 af` (repne scasq) after two unequal qwords, then #PF. */
static void test_rep_cmps_fault_flags(void)
{
    for (int amd = 0; amd < 2; amd++) {
        fx_setup(&f, FX_L4);
        use(amd ? "amd-zen4" : "intel-skylake");
        fx_map4k(&f, 0x20000, 0x20000, P_URW | P_A | P_D, P_URW | P_A | P_D);
        memset(f.r->mem + 0x20000, 0x11, 4096);
        f.st.gpr[HVT_RAX] = 0;
        f.st.gpr[HVT_RCX] = 10;
        f.st.gpr[HVT_RDI] = 0x21000 - 16;
        f.st.rflags = 0x8d4 | 2;
        CHECK_EQ(run_ext("f2 48 af"), HVT_OUT_EXCEPTION);
        CHECK_EQ(f.res.out.vector, HVT_VEC_PF);
        CHECK_EQ(f.res.out.iterations, 2);
        CHECK_U64(f.st.gpr[HVT_RCX], 8);
        /* 0 - 0x1111111111111111: CF AF SF (what the AMD CPU showed: 0x91) */
        CHECK_U64(f.st.rflags & 0xcd5, amd ? 0x91u : 0x8d4u);
    }
}

/* vpgatherqq ymm0/xmm0, [rax + ymm1*8], ymm2 with element 1 non-canonical (#GP). */
static void gather_setup(const char *profile)
{
    uint64_t idx[4] = {0, 0x1000000000000000ull, 2, 3};
    uint64_t mask[4] = {0x8000000000000000ull, 0x8000000000000000ull, 0x8000000000000000ull,
                        0x5555};
    fx_setup(&f, FX_L4);
    use(profile);
    fx_map4k(&f, 0x20000, 0x20000, P_URW | P_A | P_D, P_URW | P_A | P_D);
    f.st.flags |= HVT_STATE_SIMD_VALID;
    f.st.cr4 |= (1ull << 9) | HVT_CR4_OSXSAVE;
    f.st.xcr0 = 7;
    f.st.gpr[HVT_RAX] = 0x20000;
    for (unsigned i = 0; i < 512; i++)
        ram_put64(f.r, 0x20000 + 8 * i, 0x0101010101010101ull * i);
    memcpy(f.st.ymm[1], idx, 32);
    memcpy(f.st.ymm[2], mask, 32);
    memset(f.st.ymm[0], 0xaa, 32);
}

static uint64_t q64(unsigned reg, unsigned i)
{
    uint64_t v;
    memcpy(&v, f.st.ymm[reg] + 8 * i, 8);
    return v;
}

static void test_gather_fault_choices(void)
{
    for (int amd = 0; amd < 2; amd++) {
        gather_setup(amd ? "amd-zen3" : HVT_CPU_DEFAULT);
        CHECK_EQ(run_ext("c4 e2 ed 91 04 c8"), HVT_OUT_EXCEPTION);
        CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
        CHECK_EQ(f.res.out.iterations, 1);
        CHECK_U64(q64(0, 0), 0);        /* element 0 gathered */
        CHECK_U64(q64(0, 1), 0xaaaaaaaaaaaaaaaaull);
        CHECK_U64(q64(2, 0), 0);        /* and its mask element cleared */
        CHECK_U64(q64(2, 1), amd ? 0x8000000000000000ull : ~0ull);
        CHECK_U64(q64(2, 2), amd ? 0x8000000000000000ull : ~0ull);
        CHECK_U64(q64(2, 3), amd ? 0x5555u : 0);

        /* VEX.128 (vpgatherqq xmm): bits 255:128 of mask and destination */
        gather_setup(amd ? "amd-zen3" : HVT_CPU_DEFAULT);
        CHECK_EQ(run_ext("c4 e2 e9 91 04 c8"), HVT_OUT_EXCEPTION);
        CHECK_EQ(f.res.out.iterations, 1);
        CHECK_U64(q64(2, 2), amd ? 0x8000000000000000ull : 0);
        CHECK_U64(q64(2, 3), amd ? 0x5555u : 0);
        CHECK_U64(q64(0, 2), amd ? 0xaaaaaaaaaaaaaaaaull : 0);
    }
    /* the two choices are independent: sign-extend the mask but keep bits 255:128 */
    gather_setup("amd-zen3 gather-fault-mask=sign-extend");
    CHECK_EQ(run_ext("c4 e2 e9 91 04 c8"), HVT_OUT_EXCEPTION);
    CHECK_U64(q64(2, 1), ~0ull);
    CHECK_U64(q64(2, 2), 0x8000000000000000ull);
    /* completion is the same on every profile: mask clear, destination above it zero */
    for (int amd = 0; amd < 2; amd++) {
        gather_setup(amd ? "amd-zen3" : HVT_CPU_DEFAULT);
        f.st.ymm[1][15] = 0; /* element 1 canonical: index 1 */
        f.st.ymm[1][8] = 1;
        CHECK_EQ(run_ext("c4 e2 e9 91 04 c8"), HVT_OUT_OKAY);
        CHECK_U64(q64(0, 1), 0x0101010101010101ull);
        CHECK_U64(q64(0, 2), 0);
        CHECK_U64(q64(2, 1), 0);
        CHECK_U64(q64(2, 3), 0);
    }
}

/* A feature the profile lacks is #UD, before any memory access. */
static void test_missing_feature_ud(void)
{
    gather_setup("intel-sandybridge"); /* AVX without AVX2 */
    CHECK_EQ(run_ext("c4 e2 ed 91 04 c8"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    CHECK_EQ(f.r->n_log, 0);
    CHECK_U64(q64(2, 0), 0x8000000000000000ull); /* nothing written */
    /* VMOVDQU ymm needs AVX */
    gather_setup("amd-zen3 -avx");
    f.st.cr4 &= ~HVT_CR4_OSXSAVE; /* a state such a CPU could be in */
    CHECK_EQ(run_ext("c5 fe 6f 00"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    gather_setup("amd-zen3");
    CHECK_EQ(run_ext("c5 fe 6f 00"), HVT_OUT_OKAY);
    /* CMPXCHG16B needs CX16, CMPXCHG8B CX8; MOVDQA SSE2; MOVAPS SSE */
    gather_setup("amd-zen3 -cx16");
    CHECK_EQ(run_ext("48 0f c7 08"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    CHECK_EQ(run_ext("0f c7 08"), HVT_OUT_OKAY);
    gather_setup("amd-zen3 -cx8");
    CHECK_EQ(run_ext("0f c7 08"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    gather_setup("amd-zen3 -sse2");
    CHECK_EQ(run_ext("66 0f 6f 00"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    CHECK_EQ(run_ext("0f 28 00"), HVT_OUT_OKAY); /* movaps is SSE */
    CHECK_EQ(run_ext("0f c3 00"), HVT_OUT_EXCEPTION); /* movnti is SSE2 */
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
}

/* Through the core's entry: the "cpu" option, impossible states, 1 GiB pages. */
static void test_core_entry(void)
{
    const struct hvt_core_plugin *p = hvt_core_ref();
    ix_setup(&x, 1);
    /* the fixture maps everything with one 1 GiB page */
    CHECK_EQ(ix_run(&x, "48 01 d8"), HVT_OUT_OKAY);
    ix_setup(&x, 1);
    CHECK_EQ(p->set_option(x.inst, "cpu", "amd-zen3 -pdpe1gb"), 0);
    CHECK_EQ(ix_run(&x, "48 01 d8"), HVT_OUT_EXCEPTION);
    CHECK_EQ(x.res.out.vector, HVT_VEC_PF);
    CHECK(x.res.out.error_code & 8); /* RSVD */
    ix_setup(&x, 1);
    x.st.cr4 |= HVT_CR4_LA57; /* not a 5-level table: must not be walked */
    CHECK_EQ(ix_run(&x, "48 01 d8"), HVT_OUT_UNHANDLEABLE);
    CHECK(strstr(x.res.detail, "CR4.LA57") != NULL);
    CHECK_EQ(x.r->n_log, 0);
    CHECK_EQ(p->set_option(x.inst, "cpu", "no-such-cpu"), -HVT_E_INVALID);
    CHECK_EQ(p->set_option(x.inst, "cpu", "family=banana"), -HVT_E_INVALID);
    CHECK_EQ(p->set_option(x.inst, "cpu", HVT_CPU_DEFAULT), 0);
    ix_setup(&x, 1);
    CHECK_EQ(ix_run(&x, "48 01 d8"), HVT_OUT_OKAY);
    ix_free(&x);
}

int main(void)
{
    RUN(test_names);
    RUN(test_builtins_roundtrip);
    RUN(test_parse);
    RUN(test_cpuid);
    RUN(test_check_state);
    RUN(test_rep_a32_no_progress);
    RUN(test_rep_cmps_fault_flags);
    RUN(test_gather_fault_choices);
    RUN(test_missing_feature_ud);
    RUN(test_core_entry);
    fx_free(&f);
    TEST_DONE();
}
