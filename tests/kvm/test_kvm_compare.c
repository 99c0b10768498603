/* SPDX-License-Identifier: MIT */
/* check-kvm's comparison: each named KVM deviation is recognised, and only it: a difference
 * beyond the deviation stays a mismatch. Needs no /dev/kvm. */
#include "hvt_test.h"

#include "host/kvm/kvm_int.h"
#include "hvtrace/oracle.h"

static struct hvt_orc_case c;
static struct hvt_orc_result ref, kv;
static struct hvt_cpu_profile cpu;
static const uint64_t stub[3] = {0x3f0000, 0x3f1000, 0x3f2000};

static void reset(void)
{
    uint8_t *cr = c.ram, *rr = ref.ram, *kr = kv.ram;
    memset(&c, 0, sizeof(c));
    memset(&ref, 0, sizeof(ref));
    memset(&kv, 0, sizeof(kv));
    c.ram = cr;
    ref.ram = rr;
    kv.ram = kr;
    for (unsigned i = 0; i < HVT_ORC_RAM_SIZE; i++)
        cr[i] = (uint8_t)(i * 7);
    memcpy(rr, cr, HVT_ORC_RAM_SIZE);
    memcpy(kr, cr, HVT_ORC_RAM_SIZE);
    c.st.rip = 0x1000;
    c.st.rflags = 0x2;
    c.insn_len = 2;
    ref.st = kv.st = c.st;
    ref.st.rip = kv.st.rip = 0x1002;
    ref.status = kv.status = HVT_ORC_DONE;
}

static void put64(uint8_t *ram, uint64_t a, uint64_t v)
{
    memcpy(ram + a, &v, 8);
}

static void fault(struct hvt_orc_result *r, unsigned vec, uint32_t ec, uint64_t cr2)
{
    r->status = HVT_ORC_FAULT;
    r->vector = vec;
    r->has_ec = 1;
    r->error_code = ec;
    r->cr2 = cr2;
    r->st.rip = c.st.rip;
}

static unsigned cmp(void)
{
    char diff[1024];
    unsigned dev = 99;
    int rc = hvt_kvm_compare(&cpu, stub, &c, &ref, &kv, diff, sizeof(diff), &dev);
    return rc == 0 ? KDEV_NONE : rc == 1 ? 1000 : dev;
}

int main(void)
{
    CHECK(hvt_orc_case_init(&c) == 0);
    CHECK(hvt_orc_result_init(&ref) == 0);
    CHECK(hvt_orc_result_init(&kv) == 0);
    hvt_cpu_profile_named(&cpu, "intel-icelake-server");

    reset();
    CHECK_EQ(cmp(), KDEV_NONE);
    kv.st.gpr[HVT_RAX] = 1;
    CHECK_EQ(cmp(), 1000); /* a register: always a mismatch */
    reset();
    kv.ram[0x3f0010] ^= 1;
    CHECK_EQ(cmp(), KDEV_NONE); /* the harness's frames are not compared */
    reset();
    kv.ram[0x5000] ^= 1;
    CHECK_EQ(cmp(), 1000);

    /* kvm-fault-frame-rf */
    reset();
    fault(&ref, HVT_VEC_GP, 0, 0);
    fault(&kv, HVT_VEC_GP, 0, 0);
    kv.st.rflags |= HVT_RFLAGS_RF;
    CHECK_EQ(cmp(), KDEV_RF_ON_FAULT);
    kv.st.rflags |= HVT_RFLAGS_CF;
    CHECK_EQ(cmp(), 1000);

    /* kvm-a-bits-on-faulting-walk */
    reset();
    put64(c.ram, 0x300000, 0x301007);
    put64(ref.ram, 0x300000, 0x301007);
    put64(kv.ram, 0x300000, 0x301027);
    fault(&ref, HVT_VEC_PF, 0, 0x7000);
    fault(&kv, HVT_VEC_PF, 0, 0x7000);
    CHECK_EQ(cmp(), KDEV_AD_ON_FAULT);
    put64(kv.ram, 0x300000, 0x302027); /* another frame: not an A bit */
    CHECK_EQ(cmp(), 1000);

    /* kvm-ad-bits-not-set */
    reset();
    put64(c.ram, 0x300008, 0x12007);
    put64(ref.ram, 0x300008, 0x12067);
    put64(kv.ram, 0x300008, 0x12027);
    CHECK_EQ(cmp(), KDEV_AD_NOT_SET);
    put64(kv.ram, 0x300008, 0x120e7); /* KVM set a bit the core did not */
    CHECK_EQ(cmp(), 1000);

    /* kvm-ins-reads-port-before-fault */
    reset();
    for (unsigned f = 0; f < hvt_orc_form_count(); f++)
        if (!strcmp(hvt_orc_form_name(f), "rep ins"))
            c.form = f;
    fault(&ref, HVT_VEC_PF, 2, 0x9000);
    fault(&kv, HVT_VEC_PF, 2, 0x9000);
    kv.io_n = 3;
    kv.io[0].port = 0x60;
    kv.io[0].size = 2;
    CHECK_EQ(cmp(), KDEV_INS_BEFORE_FAULT);
    kv.st.gpr[HVT_RCX] = 8; /* the batch's progress lost too */
    CHECK_EQ(cmp(), KDEV_INS_BEFORE_FAULT);
    kv.io[0].out = 1; /* an output is a device side effect the core never made */
    CHECK_EQ(cmp(), 1000);

    /* kvm-split-rmw-faults-second-page */
    reset();
    fault(&ref, HVT_VEC_PF, HVT_PFEC_P | HVT_PFEC_W, 0x8ffd);
    fault(&kv, HVT_VEC_PF, HVT_PFEC_W, 0x9000);
    CHECK_EQ(cmp(), KDEV_SPLIT_FAULT_ORDER);
    kv.cr2 = 0xa000; /* not the next page of the operand */
    CHECK_EQ(cmp(), 1000);

    /* kvm-split-store-partial-on-fault */
    reset();
    fault(&ref, HVT_VEC_PF, HVT_PFEC_W, 0x13000);
    fault(&kv, HVT_VEC_PF, HVT_PFEC_W, 0x13000);
    kv.ram[0x12fff] ^= 0x55;
    CHECK_EQ(cmp(), KDEV_SPLIT_STORE_PARTIAL);
    kv.ram[0x12800] ^= 0x55; /* not at the page's end */
    CHECK_EQ(cmp(), 1000);

    /* kvm-pvm-xmm-state */
    reset();
    c.st.flags = ref.st.flags = kv.st.flags = HVT_STATE_SIMD_VALID;
    kv.st.ymm[3][0] = 9;
    CHECK_EQ(cmp(), KDEV_XMM_STATE);
    kv.st.gpr[HVT_RCX] = 5;
    CHECK_EQ(cmp(), 1000);

    /* kvm-maxphyaddr */
    reset();
    fault(&ref, HVT_VEC_PF, HVT_PFEC_P | HVT_PFEC_RSVD, 0x7000);
    CHECK_EQ(cmp(), KDEV_RSVD_MAXPHYADDR);
    fault(&kv, HVT_VEC_PF, HVT_PFEC_P | HVT_PFEC_RSVD, 0x7000);
    CHECK_EQ(cmp(), KDEV_NONE);

    /* kvm-cmpxchg16b-ignores-cpuid */
    reset();
    for (unsigned f = 0; f < hvt_orc_form_count(); f++)
        if (!strcmp(hvt_orc_form_name(f), "cmpxchg16b m"))
            c.form = f;
    fault(&ref, HVT_VEC_UD, 0, 0);
    ref.has_ec = 0;
    fault(&kv, HVT_VEC_PF, 0, 0x7000);
    cpu.features &= ~(1ull << HVT_CPUF_CX16);
    CHECK_EQ(cmp(), KDEV_CX16_UNCHECKED);
    cpu.features |= 1ull << HVT_CPUF_CX16;
    CHECK_EQ(cmp(), 1000); /* a CPU with CX16: #UD was wrong */

    /* kvm-64bit-null-segment-override */
    reset();
    c.insn[0] = 0x26;
    fault(&ref, HVT_VEC_SS, 0, 0);
    fault(&kv, HVT_VEC_GP, 0, 0);
    CHECK_EQ(cmp(), KDEV_SEG_OVR_64);
    c.insn[0] = 0x48; /* no such prefix: a real difference */
    CHECK_EQ(cmp(), 1000);

    /* kvm-cmps-operand-fault-order */
    reset();
    for (unsigned f = 0; f < hvt_orc_form_count(); f++)
        if (!strcmp(hvt_orc_form_name(f), "cmps"))
            c.form = f;
    fault(&ref, HVT_VEC_PF, 0, 0x40012224);
    fault(&kv, HVT_VEC_PF, 0, 0x40014318);
    kv.st.gpr[HVT_RDI] = ref.st.gpr[HVT_RDI] = 0x40014318;
    kv.st.gpr[HVT_RSI] = ref.st.gpr[HVT_RSI] = 0x40012224;
    CHECK_EQ(cmp(), KDEV_CMPS_FAULT_ORDER);
    /* an FS override: the source's linear address has FS's base */
    c.insn[0] = 0x64;
    c.st.seg[HVT_SEG_FS].base = 0x1000000;
    ref.cr2 = 0x41012224;
    CHECK_EQ(cmp(), KDEV_CMPS_FAULT_ORDER);
    c.st.seg[HVT_SEG_FS].base = 0;
    CHECK_EQ(cmp(), 1000);
    kv.cr2 = 0x50000000; /* neither operand */
    CHECK_EQ(cmp(), 1000);

    /* kvm-rep-cmps-fault-flags-initial */
    reset();
    for (unsigned f = 0; f < hvt_orc_form_count(); f++)
        if (!strcmp(hvt_orc_form_name(f), "repe cmps"))
            c.form = f;
    fault(&ref, HVT_VEC_PF, 0, 0x7000);
    fault(&kv, HVT_VEC_PF, 0, 0x7000);
    ref.st.rflags = 0x246; /* the last comparison's */
    kv.st.rflags = c.st.rflags;
    cpu.choice[HVT_CPUC_REP_CMPS_FAULT_FLAGS] = 1; /* "last" */
    CHECK_EQ(cmp(), KDEV_REP_CMPS_FLAGS);
    cpu.choice[HVT_CPUC_REP_CMPS_FAULT_FLAGS] = 0; /* "initial": then the core is wrong */
    CHECK_EQ(cmp(), 1000);

    CHECK(!strcmp(hvt_kvm_dev_names[KDEV_AD_ON_FAULT], "kvm-a-bits-on-faulting-walk"));
    hvt_orc_case_fini(&c);
    hvt_orc_result_fini(&ref);
    hvt_orc_result_fini(&kv);
    TEST_DONE();
}
