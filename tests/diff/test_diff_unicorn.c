/* SPDX-License-Identifier: MIT */
/* Differential tests: unicorn 2.0.1 behaviours the harness works around (not exclusions: the
 * runner is built around them, docs/CORE-CHECKING.md). Raw unicorn API, no core involved. */
#include <stdlib.h>
#include <string.h>

#include "hvt_test.h"

#ifdef HVT_HAVE_UNICORN
#include <unicorn/unicorn.h>

#define RAM 0x400000u

struct probe {
    int intno;
    uint64_t cr2_in_hook;
};

static void on_intr(uc_engine *uc, uint32_t intno, void *arg)
{
    struct probe *p = arg;
    p->intno = (int)intno;
    uc_reg_read(uc, UC_X86_REG_CR2, &p->cr2_in_hook);
    uc_emu_stop(uc);
}

/* 32-bit, 2-level paging: PD at 0x300000, PT at 0x301000; linear 0x00800000 -> frame 0x10000
 * (code), 0x00801000 -> frame 0x11000 (data, holds 0x11111111), PTE bits PTE1 for the data. */
static uc_engine *setup(uint8_t *ram, uint32_t pte1, const uint8_t *code, unsigned len)
{
    uc_engine *uc;
    uint32_t pde = 0x301000 | 0x27, pte0 = 0x10000 | 0x67, p1 = 0x11000 | pte1, v = 0x11111111;
    uint32_t cr0 = 0x80000031, cr3 = 0x300000;
    memset(ram, 0, RAM);
    memcpy(ram + 0x300000 + 2 * 4, &pde, 4); /* 0x00800000 >> 22 = 2 */
    memcpy(ram + 0x301000, &pte0, 4);
    memcpy(ram + 0x301004, &p1, 4);
    memcpy(ram + 0x11000, &v, 4);
    memcpy(ram + 0x10000, code, len);
    if (uc_open(UC_ARCH_X86, UC_MODE_32, &uc))
        return NULL;
    uc_mem_map(uc, 0, RAM, UC_PROT_ALL);
    uc_mem_write(uc, 0, ram, RAM);
    uc_reg_write(uc, UC_X86_REG_CR3, &cr3);
    uc_reg_write(uc, UC_X86_REG_CR0, &cr0);
    return uc;
}

/* unicorn-paging-identity: the walk is made (and faults), but the access then goes to the
 * physical address equal to the linear one ("identity map guest virtual address to host
 * virtual address", qemu/target/i386/excp_helper.c). */
static void unicorn_paging_identity(void)
{
    static const uint8_t code[] = {0xa1, 0x00, 0x10, 0x80, 0x00}; /* mov eax, [0x801000] */
    uint8_t *ram = malloc(RAM);
    uint32_t eax = 0, mirror = 0x22222222;
    uc_engine *uc = setup(ram, 0x67, code, sizeof(code));
    CHECK(uc != NULL);
    uc_mem_map(uc, 0x800000, 0x2000, UC_PROT_ALL);
    uc_mem_write(uc, 0x800000, code, sizeof(code));
    uc_mem_write(uc, 0x801000, &mirror, 4);
    CHECK_EQ(uc_emu_start(uc, 0x800000, 0, 0, 1), UC_ERR_OK);
    uc_reg_read(uc, UC_X86_REG_EAX, &eax);
    CHECK_U64(eax, 0x22222222); /* the CPU would read the frame: 0x11111111 */
    uc_close(uc);
    free(ram);
}

/* unicorn-linear-must-be-mapped: a linear address that is not also a mapped physical address
 * is refused (UC_ERR_READ_UNMAPPED) before any walk, even when the page tables map it. */
static void unicorn_linear_must_be_mapped(void)
{
    static const uint8_t code[] = {0xa1, 0x00, 0x10, 0x80, 0x00};
    uint8_t *ram = malloc(RAM);
    uc_engine *uc = setup(ram, 0x67, code, sizeof(code));
    CHECK(uc != NULL);
    uc_mem_map(uc, 0x800000, 0x1000, UC_PROT_ALL); /* code page only */
    uc_mem_write(uc, 0x800000, code, sizeof(code));
    CHECK_EQ(uc_emu_start(uc, 0x800000, 0, 0, 1), UC_ERR_READ_UNMAPPED);
    uc_close(uc);
    free(ram);
}

/* unicorn-cr2-after-stop: a #PF sets CR2, visible in the interrupt hook; in 64-bit mode, once
 * uc_emu_start has returned, UC_X86_REG_CR2 read 0 in the runner (32-bit mode keeps it, as
 * this test shows). The runner reads CR2 in the hook, which works in both. */
static void unicorn_cr2_after_stop(void)
{
    static const uint8_t code[] = {0xa1, 0x00, 0x10, 0x80, 0x00};
    uint8_t *ram = malloc(RAM);
    struct probe p = {-1, 0};
    uint32_t cr2 = 1;
    uc_hook h;
    uc_engine *uc = setup(ram, 0 /* not present */, code, sizeof(code));
    CHECK(uc != NULL);
    uc_mem_map(uc, 0x800000, 0x2000, UC_PROT_ALL);
    uc_mem_write(uc, 0x800000, code, sizeof(code));
    uc_hook_add(uc, &h, UC_HOOK_INTR, (void *)on_intr, &p, 1, 0);
    uc_emu_start(uc, 0x800000, 0, 0, 1);
    uc_reg_read(uc, UC_X86_REG_CR2, &cr2);
    CHECK_EQ(p.intno, 14);
    CHECK_U64(p.cr2_in_hook, 0x801000);
    CHECK_U64(cr2, 0x801000);
    uc_close(uc);
    free(ram);
}

/* unicorn-no-nxe: the CPUID of unicorn's x86 model lacks NX, so WRMSR cannot set EFER.NXE;
 * the NX bit of a paging entry is then a reserved bit. Cases never set NXE. */
static void unicorn_no_nxe(void)
{
    uc_engine *uc;
    uc_x86_msr efer = {0xc0000080, 0};
    CHECK_EQ(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
    uc_reg_read(uc, UC_X86_REG_MSR, &efer);
    efer.value |= 1u << 11;
    uc_reg_write(uc, UC_X86_REG_MSR, &efer);
    efer.value = 0;
    uc_reg_read(uc, UC_X86_REG_MSR, &efer);
    CHECK(!(efer.value & (1u << 11)));
    CHECK(efer.value & (1u << 10)); /* LMA (UC_MODE_64) is there: the read works */
    uc_close(uc);
}

static int rep_hooks;
static void on_code(uc_engine *uc, uint64_t address, uint32_t size, void *arg)
{
    (void)uc, (void)address, (void)size, (void)arg;
    rep_hooks++;
}

/* unicorn-rep-counts-iterations: uc_emu_start(count = 1) on REP MOVSB stops after ONE iteration
 * with RIP still on the instruction (QEMU re-enters it per iteration; every iteration is a
 * counted instruction and a UC_HOOK_CODE call). The runner therefore runs string forms until
 * RIP reaches the next instruction (oracle/run_unicorn.c); this shows both behaviours. */
static void unicorn_rep_counts_iterations(void)
{
    static const uint8_t code[] = {0xf3, 0xa4, 0xcc}; /* rep movsb; int3 */
    uc_engine *uc;
    uc_hook h;
    uint64_t rcx = 5, rsi = 0x2000, rdi = 0x3000, rip = 0;
    uint8_t src[5] = {1, 2, 3, 4, 5}, dst[5] = {0};
    CHECK_EQ(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
    uc_mem_map(uc, 0, 0x10000, UC_PROT_ALL);
    uc_mem_write(uc, 0x1000, code, sizeof(code));
    uc_mem_write(uc, 0x2000, src, sizeof(src));
    uc_reg_write(uc, UC_X86_REG_RCX, &rcx);
    uc_reg_write(uc, UC_X86_REG_RSI, &rsi);
    uc_reg_write(uc, UC_X86_REG_RDI, &rdi);
    uc_hook_add(uc, &h, UC_HOOK_CODE, (void *)on_code, NULL, 1, 0);
    CHECK_EQ(uc_emu_start(uc, 0x1000, 0, 0, 1), UC_ERR_OK);
    uc_reg_read(uc, UC_X86_REG_RCX, &rcx);
    uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    CHECK_U64(rcx, 4);      /* one iteration only */
    CHECK_U64(rip, 0x1000); /* still on the REP instruction */
    CHECK_EQ(rep_hooks, 1);
    /* the runner's way: until the address after the instruction */
    rep_hooks = 0;
    CHECK_EQ(uc_emu_start(uc, 0x1000, 0x1002, 0, 1000), UC_ERR_OK);
    uc_reg_read(uc, UC_X86_REG_RCX, &rcx);
    uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    uc_mem_read(uc, 0x3000, dst, sizeof(dst));
    CHECK_U64(rcx, 0);
    CHECK_U64(rip, 0x1002);
    CHECK(rep_hooks >= 4); /* a hook call per remaining iteration (and one at the stop) */
    CHECK(!memcmp(src, dst, sizeof(src)));
    uc_close(uc);
}

int main(void)
{
    RUN(unicorn_rep_counts_iterations);
    RUN(unicorn_paging_identity);
    RUN(unicorn_linear_must_be_mapped);
    RUN(unicorn_cr2_after_stop);
    RUN(unicorn_no_nxe);
    TEST_DONE();
}
#else
int main(void)
{
    fprintf(stderr, "SKIP: unicorn is not available in this build\n");
    return 77;
}
#endif
