/* SPDX-License-Identifier: MIT */
/* KVM host: a real guest: a Linux vmlinux (ELF) entered at its 64-bit entry with boot_params,
 * an e820 map, an optional initrd, and an 8250 UART on port 0x3f8 as the console. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm_int.h"

#define KRAM_BYTES (512ull << 20)
#define GPA_GDT 0x500ull
#define GPA_BOOT_PARAMS 0x7000ull
#define GPA_PML4 0x9000ull
#define GPA_PDPT 0xa000ull
#define GPA_PD 0xb000ull /* 4 tables: the first 4 GiB in 2 MiB pages */
#define GPA_CMDLINE 0x20000ull
#define GPA_INITRD 0x10000000ull
#define COM1 0x3f8

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static int read_file(const char *path, uint8_t **data, size_t *len, uint64_t max, char *err,
                     size_t elen)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, elen, "%s: %s", path, strerror(errno));
        return -HVT_E_NOT_FOUND;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > max ||
        sb.st_size < 64) {
        snprintf(err, elen, "%s: not a regular file of 64 bytes to %llu MiB", path,
                 (unsigned long long)(max >> 20));
        close(fd);
        return -HVT_E_INVALID;
    }
    *len = (size_t)sb.st_size;
    *data = malloc(*len);
    if (!*data) {
        close(fd);
        return -HVT_E_NOMEM;
    }
    size_t got = 0;
    while (got < *len) {
        ssize_t n = read(fd, *data + got, *len - got);
        if (n <= 0) {
            snprintf(err, elen, "%s: read: %s", path, n ? strerror(errno) : "short file");
            free(*data);
            close(fd);
            return -HVT_E_IO;
        }
        got += (size_t)n;
    }
    close(fd);
    return 0;
}

int hvt_kvm_load_elf(uint8_t *ram, uint64_t ram_bytes, const uint8_t *f, size_t len,
                     uint64_t *entry, char *err, size_t elen)
{
    Elf64_Ehdr eh;
    if (len < sizeof(eh))
        goto bad;
    memcpy(&eh, f, sizeof(eh));
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
        (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff) {
        snprintf(err, elen,
                 "kernel: not an x86-64 ELF executable (a vmlinux, not a bzImage: "
                 "scripts/kvm-kernel.sh extracts one)");
        return -HVT_E_INVALID;
    }
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, f + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD)
            continue;
        if (ph.p_filesz > ph.p_memsz || ph.p_offset > len || ph.p_filesz > len - ph.p_offset ||
            ph.p_paddr > ram_bytes || ph.p_memsz > ram_bytes - ph.p_paddr) {
            snprintf(err, elen,
                     "kernel: program header %u (paddr %#llx, %llu bytes) is outside "
                     "the file or the guest's %llu MiB",
                     i, (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz,
                     (unsigned long long)(ram_bytes >> 20));
            return -HVT_E_INVALID;
        }
        memcpy(ram + ph.p_paddr, f + ph.p_offset, ph.p_filesz);
        memset(ram + ph.p_paddr + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    }
    /* vmlinux's entry is the physical address of startup_64 */
    *entry = eh.e_entry;
    if (*entry >= ram_bytes)
        goto bad;
    return 0;
bad:
    snprintf(err, elen, "kernel: bad ELF header");
    return -HVT_E_INVALID;
}

/* boot_params (the "zero page") of the Linux x86 boot protocol, 2.15. */
static void boot_params(struct kvm_vm *vm, const char *cmdline, uint64_t initrd, uint64_t ilen)
{
    uint8_t *bp = vm->ram + GPA_BOOT_PARAMS;
    size_t cl = strlen(cmdline);
    memset(bp, 0, 4096);
    memcpy(vm->ram + GPA_CMDLINE, cmdline, cl + 1);
    bp[0x1f1] = 0;                 /* setup_sects */
    put16(bp + 0x1fe, 0xaa55);     /* boot_flag */
    put32(bp + 0x202, 0x53726448); /* "HdrS" */
    put16(bp + 0x206, 0x020f);     /* protocol version */
    bp[0x210] = 0xff;              /* type_of_loader: undefined */
    bp[0x211] = 0x01 | 0x80;       /* loadflags: LOADED_HIGH, CAN_USE_HEAP */
    put16(bp + 0x224, 0xfe00);     /* heap_end_ptr */
    put32(bp + 0x228, (uint32_t)GPA_CMDLINE);
    put32(bp + 0x238, (uint32_t)cl); /* cmdline_size */
    put32(bp + 0x218, (uint32_t)initrd);
    put32(bp + 0x21c, (uint32_t)ilen);
    /* e820: low RAM, the hole, RAM from 1 MiB */
    uint8_t *e = bp + 0x2d0;
    put64(e, 0);
    put64(e + 8, 0x9fc00);
    put32(e + 16, 1);
    put64(e + 20, 0x100000);
    put64(e + 28, vm->ram_bytes - 0x100000);
    put32(e + 36, 1);
    bp[0x1e8] = 2; /* e820_entries */
}

static void page_tables(struct kvm_vm *vm)
{
    put64(vm->ram + GPA_PML4, GPA_PDPT | 3);
    for (unsigned i = 0; i < 4; i++) {
        put64(vm->ram + GPA_PDPT + i * 8, (GPA_PD + i * 0x1000) | 3);
        for (unsigned j = 0; j < 512; j++)
            put64(vm->ram + GPA_PD + i * 0x1000 + j * 8,
                  (((uint64_t)i << 30) + ((uint64_t)j << 21)) | 0x83);
    }
    /* GDT: null, null, __BOOT_CS 0x10 (64-bit code), __BOOT_DS 0x18 */
    put64(vm->ram + GPA_GDT, 0);
    put64(vm->ram + GPA_GDT + 8, 0);
    put64(vm->ram + GPA_GDT + 16, 0x00af9b000000ffffull);
    put64(vm->ram + GPA_GDT + 24, 0x00cf93000000ffffull);
}

static void initial_state(struct hvt_vcpu_state *st, uint64_t entry)
{
    const uint32_t code = 0xb | HVT_SEG_ATTR_S | HVT_SEG_ATTR_P | HVT_SEG_ATTR_L | HVT_SEG_ATTR_G;
    const uint32_t data = 0x3 | HVT_SEG_ATTR_S | HVT_SEG_ATTR_P | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G;
    memset(st, 0, sizeof(*st));
    for (unsigned s = 0; s < 6; s++) {
        st->seg[s].sel = s == HVT_SEG_CS ? 0x10 : 0x18;
        st->seg[s].attr = s == HVT_SEG_CS ? code : data;
        st->seg[s].limit = 0xffffffffu;
    }
    st->seg[HVT_SEG_LDTR].attr = HVT_SEG_ATTR_UNUSABLE;
    st->seg[HVT_SEG_TR].sel = 0x20;
    st->seg[HVT_SEG_TR].attr = 0xb | HVT_SEG_ATTR_P;
    st->seg[HVT_SEG_TR].limit = 0x67;
    st->gdtr.base = GPA_GDT;
    st->gdtr.limit = 31;
    st->cr0 = HVT_CR0_PE | HVT_CR0_ET | HVT_CR0_NE | HVT_CR0_PG | HVT_CR0_MP;
    st->cr3 = GPA_PML4;
    st->cr4 = HVT_CR4_PAE;
    st->efer = HVT_EFER_LME | HVT_EFER_LMA | HVT_EFER_NXE | HVT_EFER_SCE;
    st->rip = entry;
    st->rflags = 0x2;
    st->gpr[HVT_RSI] = GPA_BOOT_PARAMS;
}

int hvt_kvm_kernel_setup(struct kvm_host *k, const struct hvt_kvm_options *o,
                         struct hvt_cpu_profile *cpu, char *err, size_t len)
{
    uint8_t *f = NULL, *ird = NULL;
    size_t flen = 0, ilen = 0;
    uint64_t entry = 0;
    char cmdline[2048];
    struct hvt_vcpu_state st;
    char cerr[128];
    int rc;

    rc = read_file(o->kernel, &f, &flen, 1ull << 30, err, len);
    if (rc < 0)
        return rc;
    if (o->initrd) {
        rc = read_file(o->initrd, &ird, &ilen, KRAM_BYTES - GPA_INITRD - (16u << 20), err, len);
        if (rc < 0) {
            free(f);
            return rc;
        }
    }
    rc = hvt_kvm_vm_open(&k->vm, KRAM_BYTES, err, len);
    if (rc == 0) {
        /* interrupt controllers and the PIT in the kernel, as a PC has them; a KVM without
         * them still boots as far as its timer lets it */
        struct kvm_pit_config pit;
        memset(&pit, 0, sizeof(pit));
        k->kernel_irqchip = ioctl(k->vm.vm_fd, KVM_CREATE_IRQCHIP, 0) == 0;
        if (k->kernel_irqchip)
            (void)ioctl(k->vm.vm_fd, KVM_CREATE_PIT2, &pit);
        rc = hvt_kvm_load_elf(k->vm.ram, k->vm.ram_bytes, f, flen, &entry, err, len);
    }
    free(f);
    if (rc < 0) {
        free(ird);
        return rc;
    }
    if (ird)
        memcpy(k->vm.ram + GPA_INITRD, ird, ilen);
    free(ird);
    snprintf(cmdline, sizeof(cmdline),
             "console=ttyS0 earlyprintk=serial,ttyS0,115200 nokaslr "
             "panic=-1 reboot=t%s%s",
             o->append ? " " : "", o->append ? o->append : "");
    boot_params(&k->vm, cmdline, o->initrd ? GPA_INITRD : 0, ilen);
    page_tables(&k->vm);
    hvt_kvm_vm_cpu_profile(&k->vm, cpu);
    k->v = calloc(1, sizeof(*k->v));
    if (!k->v)
        return -HVT_E_NOMEM;
    k->n = 1;
    struct kvcpu *c = &k->v[0];
    c->k = k;
    c->rng = o->seed;
    rc = hvt_kvm_vcpu_open(&k->vm, &c->kv, 0, err, len);
    if (rc == 0)
        rc = hvt_core_open(&c->core, HVT_CORE_REF, cerr, sizeof(cerr));
    if (rc == 0)
        rc = hvt_core_set_cpu(c->core, cpu);
    if (rc < 0)
        return rc;
    initial_state(&st, entry);
    if (hvt_kvm_vcpu_get_state(&c->kv, &c->S) < 0 || hvt_kvm_vcpu_set_state(&c->kv, &st) < 0) {
        snprintf(err, len, "cannot load the boot state: %s", strerror(errno));
        return -HVT_E_IO;
    }
    return 0;
}

/* The devices of the real guest: an 8250 whose transmitter is always empty (what the kernel
 * writes goes to the console log), nothing else (reads all ones, writes ignored). */
void hvt_kvm_kernel_serve(struct kvcpu *c, struct kvm_run *run, uint8_t *data)
{
    struct kvm_host *k = c->k;
    if (!c->obs.port) {
        if (!c->obs.write)
            memset(data, 0xff, c->obs.size);
        return;
    }
    uint16_t port = (uint16_t)c->obs.addr;
    if (port >= COM1 && port < COM1 + 8) {
        unsigned reg = port - COM1;
        if (c->obs.write) {
            if (reg == 0 && !(k->uart_lcr & 0x80) && k->console)
                fputc(c->obs.data[0], k->console);
            if (reg == 3)
                k->uart_lcr = c->obs.data[0];
            return;
        }
        uint8_t v = 0;
        if (reg == 5)
            v = 0x60; /* LSR: transmitter holding register and shift register empty */
        else if (reg == 3)
            v = k->uart_lcr;
        else if (reg == 2)
            v = 0x01; /* IIR: no interrupt pending */
        memset(data, v, c->obs.size);
        return;
    }
    (void)run;
    if (!c->obs.write)
        memset(data, 0xff, c->obs.size);
}
