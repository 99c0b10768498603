/* SPDX-License-Identifier: MIT */
/* Native oracle tests: known instructions run in the sandbox, faults forced by PROT_NONE pages. */
#include <signal.h>
#include <string.h>

#include "hvt_test.h"
#include "hvtrace/cpu.h"
#include "hvtrace/error.h"
#include "hvtrace/oracle.h"
#include "native.h"

#define CODE 0x20000000ull
#define DATA 0x20100000ull

static struct hvt_native_case c;
static struct hvt_native_result r;
static struct hvt_cpu_profile host; /* this CPU's profile, probed: what the checks expect */

static void init_case(const uint8_t *insn, unsigned len)
{
    memset(&c, 0, sizeof(c));
    c.code_addr = CODE + 0x10;
    memcpy(c.insn, insn, len);
    c.insn_len = (uint8_t)len;
}

static struct hvt_native_page *add_page(uint64_t addr, uint32_t prot)
{
    struct hvt_native_page *p = &c.pages[c.n_pages++];
    p->addr = addr;
    p->prot = prot;
    return p;
}

static void test_bad_args(void)
{
    static const uint8_t nop[] = {0x90};
    CHECK_EQ(hvt_native_run(NULL, &r), -HVT_E_INVALID);
    init_case(nop, 0);
    CHECK_EQ(hvt_native_run(&c, &r), -HVT_E_INVALID);
    init_case(nop, 1);
    add_page(DATA + 1, HVT_NATIVE_RW); /* unaligned */
    CHECK_EQ(hvt_native_run(&c, &r), -HVT_E_INVALID);
    init_case(nop, 1);
    add_page(0x1000, HVT_NATIVE_RW); /* out of the sandbox range */
    CHECK_EQ(hvt_native_run(&c, &r), -HVT_E_INVALID);
    init_case(nop, 1);
    add_page(DATA, HVT_NATIVE_RW);
    add_page(DATA, HVT_NATIVE_RW); /* twice */
    CHECK_EQ(hvt_native_run(&c, &r), -HVT_E_INVALID);
    init_case(nop, 1);
    add_page(CODE, HVT_NATIVE_RW); /* on the code page */
    CHECK_EQ(hvt_native_run(&c, &r), -HVT_E_INVALID);
    CHECK_EQ(hvt_native_has("no-such-feature"), -1);
    CHECK(hvt_native_has("sse2") == 1);
}

/* add rax, rbx: registers and flags in, registers and flags out. */
static void test_add(void)
{
    static const uint8_t add[] = {0x48, 0x01, 0xd8};
    init_case(add, sizeof(add));
    c.in.gpr[0] = 0xffffffffffffffffull;
    c.in.gpr[3] = 2;
    c.in.gpr[4] = 0x1234; /* a bogus RSP is fine: signals use an alternate stack */
    for (int i = 8; i < 16; i++)
        c.in.gpr[i] = 0x1111 * (uint64_t)i;
    CHECK_EQ(hvt_native_run(&c, &r), 0);
    CHECK_EQ(r.stop, HVT_NATIVE_DONE);
    CHECK_U64(r.out.gpr[0], 1);
    CHECK_U64(r.out.gpr[4], 0x1234);
    CHECK_U64(r.out.gpr[15], 0x1111 * 15ull);
    CHECK_U64(r.out.rip, c.code_addr + 3);
    CHECK_U64(r.out.rflags & 1, 1); /* CF */
}

/* rep movsb, the destination's second page PROT_NONE: the fault stops it at the boundary. */
static void test_rep_movsb_fault(void)
{
    static const uint8_t rep_movsb[] = {0xf3, 0xa4};
    struct hvt_native_page *src, *dst;
    const struct hvt_native_page *out;
    init_case(rep_movsb, sizeof(rep_movsb));
    src = add_page(DATA, HVT_NATIVE_R);
    dst = add_page(DATA + 0x10000, HVT_NATIVE_RW);
    add_page(DATA + 0x11000, HVT_NATIVE_NONE);
    for (int i = 0; i < 4096; i++)
        src->data[i] = (uint8_t)(i * 7 + 1);
    memset(dst->data, 0xee, sizeof(dst->data));
    c.in.gpr[HVT_RCX] = 100;
    c.in.gpr[HVT_RSI] = DATA + 0x100;
    c.in.gpr[HVT_RDI] = DATA + 0x10000 + 4096 - 40;
    CHECK_EQ(hvt_native_run(&c, &r), 0);
    CHECK_EQ(r.stop, HVT_NATIVE_FAULT);
    CHECK_EQ(r.signo, SIGSEGV);
    CHECK_EQ(r.vector, 14);
    CHECK_U64(r.cr2, DATA + 0x11000);
    CHECK(r.error_code & 2); /* a write */
    CHECK_U64(r.out.rip, c.code_addr);
    CHECK_U64(r.out.gpr[HVT_RCX], 60);
    CHECK_U64(r.out.gpr[HVT_RSI], DATA + 0x100 + 40);
    CHECK_U64(r.out.gpr[HVT_RDI], DATA + 0x11000);
    out = hvt_native_result_page(&r, DATA + 0x10000);
    CHECK(out != NULL);
    CHECK(out && !memcmp(out->data + 4096 - 40, src->data + 0x100, 40));
    CHECK(out && out->data[4096 - 41] == 0xee);

    /* DF=1 completes downwards */
    init_case(rep_movsb, sizeof(rep_movsb));
    src = add_page(DATA, HVT_NATIVE_R);
    add_page(DATA + 0x10000, HVT_NATIVE_RW);
    src->data[10] = 0x5a;
    c.in.rflags = 1u << 10;
    c.in.gpr[HVT_RCX] = 11;
    c.in.gpr[HVT_RSI] = DATA + 10;
    c.in.gpr[HVT_RDI] = DATA + 0x10000 + 20;
    CHECK_EQ(hvt_native_run(&c, &r), 0);
    CHECK_EQ(r.stop, HVT_NATIVE_DONE);
    CHECK_U64(r.out.gpr[HVT_RCX], 0);
    CHECK_U64(r.out.gpr[HVT_RSI], DATA - 1);
    CHECK_U64(r.out.gpr[HVT_RDI], DATA + 0x10000 + 9);
    CHECK_U64(r.out.rflags & (1u << 10), 1u << 10);
    out = hvt_native_result_page(&r, DATA + 0x10000);
    CHECK(out && out->data[20] == 0x5a);
}

/* vpgatherdd ymm0, [rax + ymm1*4], ymm2 with element 3 on a PROT_NONE page: what the mask
 * holds afterwards is the CPU's choice (gather-fault-mask), probed with another form (xmm,
 * element 1) by hvt_orc_cpu_host; this run must agree with the probe. */
static void test_gather_fault(void)
{
    static const uint8_t gather[] = {0xc4, 0xe2, 0x6d, 0x90, 0x04, 0x88};
    struct hvt_native_page *p;
    uint32_t idx[8], mask[8], dst[8];
    if (hvt_native_has("avx2") != 1) {
        printf("SKIP gather: host has no avx2\n");
        return;
    }
    init_case(gather, sizeof(gather));
    p = add_page(DATA, HVT_NATIVE_R);
    add_page(DATA + 0x1000, HVT_NATIVE_NONE);
    for (int i = 0; i < 1024; i++)
        memcpy(p->data + 4 * i, &(uint32_t){0xa0000000u + (uint32_t)i}, 4);
    c.in.flags = HVT_STATE_SIMD_VALID;
    c.in.mxcsr = 0x1f80;
    c.in.gpr[HVT_RAX] = DATA;
    for (int i = 0; i < 8; i++) {
        idx[i] = (uint32_t)(i * 3);
        mask[i] = 0x80000000u;
        dst[i] = 0x11111111u * (uint32_t)i;
    }
    idx[3] = 1024; /* the PROT_NONE page */
    memcpy(c.in.ymm[0], dst, 32);
    memcpy(c.in.ymm[1], idx, 32);
    memcpy(c.in.ymm[2], mask, 32);
    CHECK_EQ(hvt_native_run(&c, &r), 0);
    CHECK_EQ(r.stop, HVT_NATIVE_FAULT);
    CHECK_EQ(r.vector, 14);
    CHECK_U64(r.cr2, DATA + 0x1000);
    CHECK_U64(r.out.rip, c.code_addr);
    memcpy(dst, r.out.ymm[0], 32);
    memcpy(mask, r.out.ymm[2], 32);
    for (int i = 0; i < 3; i++) {
        CHECK_U64(dst[i], 0xa0000000u + (uint32_t)(i * 3));
        CHECK_U64(mask[i], 0);
    }
    /* sign-extend: the mask is sign-extended element by element before the gather starts;
     * keep: the elements from the faulting one on are as they were */
    {
        uint32_t left = host.choice[HVT_CPUC_GATHER_FAULT_MASK] == 0 ? 0xffffffffu : 0x80000000u;
        CHECK_U64(mask[3], left);
        CHECK_U64(dst[3], 0x33333333u);
        /* hardware may gather elements above the faulting one before delivering the fault */
        for (int i = 4; i < 8; i++)
            CHECK(mask[i] == left ? dst[i] == 0x11111111u * (uint32_t)i
                                  : mask[i] == 0 && dst[i] == 0xa0000000u + (uint32_t)(i * 3));
    }
    memcpy(idx, r.out.ymm[1], 32);
    CHECK_U64(idx[3], 1024);

    /* no fault: the whole mask is cleared and YMM upper halves come back */
    idx[3] = 9;
    memcpy(c.in.ymm[1], idx, 32);
    CHECK_EQ(hvt_native_run(&c, &r), 0);
    CHECK_EQ(r.stop, HVT_NATIVE_DONE);
    memcpy(dst, r.out.ymm[0], 32);
    memcpy(mask, r.out.ymm[2], 32);
    for (int i = 0; i < 8; i++) {
        CHECK_U64(mask[i], 0);
        CHECK_U64(dst[i], 0xa0000000u + idx[i]);
    }
}

/* a #UD and a #GP come back as faults with their vectors */
static void test_faults(void)
{
    static const uint8_t ud2[] = {0x0f, 0x0b};
    static const uint8_t movaps[] = {0x0f, 0x28, 0x00}; /* movaps xmm0, [rax] */
    init_case(ud2, sizeof(ud2));
    CHECK_EQ(hvt_native_run(&c, &r), 0);
    CHECK_EQ(r.stop, HVT_NATIVE_FAULT);
    CHECK_EQ(r.vector, 6);
    CHECK_EQ(r.signo, SIGILL);
    init_case(movaps, sizeof(movaps));
    add_page(DATA, HVT_NATIVE_R);
    c.in.gpr[HVT_RAX] = DATA + 8;
    CHECK_EQ(hvt_native_run(&c, &r), 0);
    CHECK_EQ(r.stop, HVT_NATIVE_FAULT);
    CHECK_EQ(r.vector, 13);
    c.in.gpr[HVT_RAX] = DATA + 16;
    CHECK_EQ(hvt_native_run(&c, &r), 0);
    CHECK_EQ(r.stop, HVT_NATIVE_DONE);
}

/* The probes see one alternative of each choice on any CPU, and a second run of each
 * probe instruction in another configuration agrees (rep-a32-no-progress: rep stosd with a
 * zero count; rep-cmps-fault-flags: repe cmpsb faulting after 3 equal bytes). */
static void test_probes(void)
{
    static const uint8_t rep_stosd_a32[] = {0x67, 0xf3, 0xab};
    static const uint8_t repe_cmpsb[] = {0xf3, 0xa6};
    char report[2048];
    struct hvt_native_page *p;
    CHECK(hvt_orc_cpu_host(&host, report, sizeof(report)) == 0);
    printf("%s", report);
    CHECK_STR(host.name, "host");
    CHECK(host.vendor[0] != 0);
    CHECK(HVT_CPU_HAS(&host, HVT_CPUF_SSE2));
    CHECK_EQ(hvt_orc_cpu_host(NULL, NULL, 0), -HVT_E_INVALID);

    init_case(rep_stosd_a32, sizeof(rep_stosd_a32));
    add_page(DATA, HVT_NATIVE_RW);
    c.in.gpr[HVT_RCX] = 0x1234567800000000ull;
    c.in.gpr[HVT_RDI] = 0x1234567800000000ull | DATA;
    CHECK_EQ(hvt_native_run(&c, &r), 0);
    CHECK_EQ(r.stop, HVT_NATIVE_DONE);
    if (host.choice[HVT_CPUC_REP_A32_NO_PROGRESS] == 0) {
        CHECK_U64(r.out.gpr[HVT_RCX], 0);
        CHECK_U64(r.out.gpr[HVT_RDI], DATA);
    } else {
        CHECK_U64(r.out.gpr[HVT_RCX], c.in.gpr[HVT_RCX]);
        CHECK_U64(r.out.gpr[HVT_RDI], c.in.gpr[HVT_RDI]);
    }

    init_case(repe_cmpsb, sizeof(repe_cmpsb));
    p = add_page(DATA, HVT_NATIVE_RW);
    add_page(DATA + 0x1000, HVT_NATIVE_NONE);
    memset(p->data, 0x42, sizeof(p->data));
    c.in.gpr[HVT_RCX] = 10;
    c.in.gpr[HVT_RSI] = DATA + 0x1000 - 3; /* 3 equal bytes, then the PROT_NONE page */
    c.in.gpr[HVT_RDI] = DATA + 0x800;
    c.in.rflags = 0x893; /* OF SF AF CF: not what equal bytes give (ZF PF) */
    CHECK_EQ(hvt_native_run(&c, &r), 0);
    CHECK_EQ(r.stop, HVT_NATIVE_FAULT);
    CHECK_U64(r.out.gpr[HVT_RCX], 7);
    CHECK_U64(r.out.rflags,
              host.choice[HVT_CPUC_REP_CMPS_FAULT_FLAGS] == 0 ? 0x891u : 0x44u);
}

int main(void)
{
    RUN(test_bad_args);
    RUN(test_add);
    RUN(test_rep_movsb_fault);
    RUN(test_probes); /* first: the other tests expect what it probed */
    RUN(test_gather_fault);
    RUN(test_faults);
    TEST_DONE();
}
