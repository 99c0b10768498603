/* SPDX-License-Identifier: MIT */
/* The KVM host's shadow run and pre-state reconstruction, over the simulated host's world
 * (no /dev/kvm needed): a write exit's state after a MOV, and after one REP MOVSB iteration,
 * give back the state before it; a write the instruction cannot have made gives nothing. */
#include "hvt_test.h"

#include "host/kvm/kvm_int.h"

static struct hvt_host *sim;
static struct kvm_host k;
static struct kvcpu c;

static void setup(void)
{
    struct hvt_host_options o;
    char err[256];
    hvt_host_options_init(&o);
    o.scenario = "pageout";
    o.vcpus = 1;
    CHECK(hvt_host_create(&sim, &o, err, sizeof(err)) == 0);
    memset(&k, 0, sizeof(k));
    k.vm.ram = sim->ram;
    k.vm.ram_bytes = sim->ram_bytes;
    k.sim = sim;
    memset(&c, 0, sizeof(c));
    c.k = &k;
    CHECK(hvt_core_open(&c.core, HVT_CORE_REF, err, sizeof(err)) == 0);
}

/* The clean guest's "mov dword ptr [rbx + 8], eax" written at GPA_CODE + 0x40 */
static void test_mov(void)
{
    static const uint8_t mov[] = {0x89, 0x43, 0x08};
    struct hvt_vcpu_state pre;
    uint32_t eax = 0x12345678;
    memcpy(sim->ram + GPA_CODE + 0x40, mov, sizeof(mov));
    c.S = sim->vcpus[0].st;
    c.S.rip = GPA_CODE + 0x40 + 3; /* KVM reports the write after the instruction */
    c.S.gpr[HVT_RAX] = eax;
    c.S.gpr[HVT_RBX] = MMIO_GPA(MMIO_DEV0);
    memset(&c.obs, 0, sizeof(c.obs));
    c.obs.write = 1;
    c.obs.addr = MMIO_GPA(MMIO_DEV0) + 8;
    c.obs.size = 4;
    memcpy(c.obs.data, &eax, 4);
    CHECK(hvt_kvm_reconstruct(&c, &pre) == 1);
    CHECK_U64(pre.rip, GPA_CODE + 0x40);
    CHECK(!memcmp(pre.gpr, c.S.gpr, sizeof(pre.gpr)));
    /* other data than EAX: no instruction ending there wrote it */
    c.obs.data[0] ^= 0xff;
    CHECK(hvt_kvm_reconstruct(&c, &pre) == 0);
}

/* pageout's "rep movsb" (RAM buffer -> MMIO sink, 2 bytes) after its first iteration */
static void test_rep(void)
{
    struct hvt_vcpu_state pre, st = sim->vcpus[0].st;
    const uint64_t rep_rip = GPA_CODE + 0x2a; /* f3 a4 in host/guests/pageout.S */
    CHECK_EQ(sim->ram[rep_rip], 0xf3);
    CHECK_EQ(sim->ram[rep_rip + 1], 0xa4);
    c.S = st;
    c.S.rip = rep_rip;
    c.S.gpr[HVT_RSI] = st.gpr[HVT_R12] + 64 + 1;
    c.S.gpr[HVT_RDI] = st.gpr[HVT_R13] + 1;
    c.S.gpr[HVT_RCX] = 1;
    c.S.rflags |= HVT_RFLAGS_RF; /* KVM's mid-REP exit */
    memset(&c.obs, 0, sizeof(c.obs));
    c.obs.write = 1;
    c.obs.addr = st.gpr[HVT_R13];
    c.obs.size = 1;
    c.obs.data[0] = sim->ram[GPA_FRAMES + 64]; /* the buffer's frame 0, offset 64 */
    CHECK(hvt_kvm_reconstruct(&c, &pre) == 1);
    CHECK_U64(pre.rip, rep_rip);
    CHECK_U64(pre.gpr[HVT_RCX], 2);
    CHECK_U64(pre.gpr[HVT_RSI], st.gpr[HVT_R12] + 64);
    CHECK_U64(pre.gpr[HVT_RDI], st.gpr[HVT_R13]);
    CHECK(!(pre.rflags & HVT_RFLAGS_RF));
    /* the last iteration: KVM stays at the REP with RCX 0 */
    c.S.gpr[HVT_RSI]++;
    c.S.gpr[HVT_RDI]++;
    c.S.gpr[HVT_RCX] = 0;
    c.obs.addr++;
    c.obs.data[0] = sim->ram[GPA_FRAMES + 65];
    CHECK(hvt_kvm_reconstruct(&c, &pre) == 1);
    CHECK_U64(pre.gpr[HVT_RCX], 1);
    CHECK_U64(pre.rip, rep_rip);
}

int main(void)
{
    setup();
    test_mov();
    test_rep();
    hvt_core_close(c.core);
    hvt_host_destroy(sim);
    TEST_DONE();
}
