/* SPDX-License-Identifier: MIT */
/* toyhv: a toy hypervisor with its own x86 emulator and page walk, recording with hvtrace. */
/*
 * Written from docs/INTEGRATION.md and <hvtrace/recorder.h> only; it links the recorder alone:
 *     cc -std=c11 toyhv.c $(pkg-config --cflags --libs hvtrace-recorder)
 * One vCPU in 64-bit mode runs four instructions round-robin, each emulated by toy_emulate()
 * (not hvtrace's core): mov eax,[rbx] (RAM), movsb (RAM to MMIO), in al,dx (a port), and
 * mov [rbx],eax (RAM). The device model answers MMIO and port accesses one pass late (the pass
 * ends RETRY and the instruction is emulated again), and between two passes of every other
 * movsb another "vCPU" rewrites the PTE of movsb's source page, which is the bug class hvtrace
 * exists for: replay reports it as translation_changed.
 * usage: toyhv OUT.hvt [--events N] [--bad-access]
 */
#include <hvtrace/recorder.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE 0x100000u
#define MMIO_GPA 0xf0000000ull /* the device's page */
#define CODE_LA 0x10000ull     /* identity-mapped code page */
#define DATA_LA 0x20000ull     /* mov's RAM page */
#define SRC_LA 0x21000ull      /* movsb's source page: its PTE is the one rewritten */
#define SRC_GPA_A 0x21000ull
#define SRC_GPA_B 0x22000ull
#define MMIO_LA 0x40000ull
#define PT_GPA 0x4000ull /* the last level; PML4 0x1000, PDPT 0x2000, PD 0x3000 */
#define PORT 0x60

struct toy {
    uint8_t ram[RAM_SIZE];
    struct hvt_rec *rec;
    int pending;          /* the device model has answered the access that needed it */
    uint8_t device_value; /* what it answered (reads) */
    uint64_t refused;
};

/* ---- recording: one hvt_rec_access per guest-physical or port access --------------------- */

static void record(struct toy *t, uint8_t kind, uint8_t space, uint8_t seg, struct hvt_tag tag,
                   uint64_t la, int has_la, uint64_t phys, uint32_t size, const void *data,
                   const void *old, const void *cur, uint8_t outcome)
{
    struct hvt_access a;
    memset(&a, 0, sizeof(a));
    a.kind = kind;
    a.space = space;
    a.seg = seg;
    a.tag = tag;
    a.outcome = outcome;
    a.size = size;
    a.flags = has_la ? HVT_AF_LINEAR_VALID : 0;
    a.linear = la;
    a.phys = phys;
    if (data)
        memcpy(a.data, data, size);
    if (old)
        memcpy(a.old, old, size);
    if (cur)
        memcpy(a.cur, cur, size);
    if (hvt_rec_access(t->rec, 0, &a) < 0) {
        t->refused++;
        fprintf(stderr, "toyhv: access refused: %s\n", hvt_rec_last_error(t->rec, 0));
    }
}

static struct hvt_tag tag(uint8_t cls, uint8_t operand, uint8_t level)
{
    struct hvt_tag g = {cls, operand, level, 0, 0};
    return g;
}

static uint64_t get64(struct toy *t, uint64_t gpa)
{
    uint64_t v;
    memcpy(&v, t->ram + gpa, 8);
    return v;
}

/* ---- the toy emulator's own page walk (4-level, 4 KiB pages, no permission checks) -------- */

/* Translates LA: one WALK read per level (4..1), then the accessed bits (and the dirty bit of
 * the PTE for a write) set with a locked compare-exchange each, recorded as AD. */
static int walk(struct toy *t, const struct hvt_vcpu_state *st, uint64_t la, int write,
                uint64_t *gpa)
{
    uint64_t table = st->cr3 & ~0xfffull, ent[4], at[4];
    for (int level = 4; level >= 1; level--) {
        unsigned idx = (unsigned)(la >> (12 + 9 * (level - 1))) & 511;
        at[4 - level] = table + 8 * idx;
        ent[4 - level] = get64(t, at[4 - level]);
        record(t, HVT_ACC_READ, HVT_SPACE_RAM, HVT_SEG_NONE, tag(HVT_TAG_WALK, 0, (uint8_t)level),
               la, 1, at[4 - level], 8, &ent[4 - level], NULL, NULL, HVT_OP_OKAY);
        if (!(ent[4 - level] & HVT_PTE_P))
            return -1; /* the toy does not raise #PF: its guest never faults */
        table = ent[4 - level] & 0x000ffffffffff000ull;
    }
    for (int i = 0; i < 4; i++) {
        uint64_t nv = ent[i] | HVT_PTE_A | (write && i == 3 ? HVT_PTE_D : 0);
        if (nv == ent[i])
            continue;
        memcpy(t->ram + at[i], &nv, 8); /* one vCPU: the exchange cannot fail */
        record(t, HVT_ACC_CMPXCHG, HVT_SPACE_RAM, HVT_SEG_NONE,
               tag(HVT_TAG_AD, 0, (uint8_t)(4 - i)), la, 1, at[i], 8, &nv, &ent[i], &ent[i],
               HVT_OP_OKAY);
    }
    *gpa = table | (la & 0xfff);
    return 0;
}

/* A data access of SIZE bytes at LA: RAM directly, MMIO through the device model (RETRY until
 * it has answered). Returns HVT_OP_OKAY or HVT_OP_RETRY. */
static int access_mem(struct toy *t, const struct hvt_vcpu_state *st, uint8_t kind, uint8_t seg,
                      uint8_t operand, uint64_t la, void *buf, uint32_t size)
{
    struct hvt_tag g = tag(HVT_TAG_DATA, operand, 0);
    uint64_t gpa;
    if (walk(t, st, la, kind == HVT_ACC_WRITE, &gpa))
        return HVT_OP_UNHANDLEABLE;
    if (gpa >= MMIO_GPA) {
        if (!t->pending) {
            record(t, kind, HVT_SPACE_MMIO, seg, g, la, 1, gpa, size,
                   kind == HVT_ACC_WRITE ? buf : NULL, NULL, NULL, HVT_OP_RETRY);
            return HVT_OP_RETRY;
        }
        if (kind == HVT_ACC_READ)
            memset(buf, t->device_value, size);
        record(t, kind, HVT_SPACE_MMIO, seg, g, la, 1, gpa, size, buf, NULL, NULL, HVT_OP_OKAY);
        return HVT_OP_OKAY;
    }
    if (kind == HVT_ACC_READ)
        memcpy(buf, t->ram + gpa, size);
    else
        memcpy(t->ram + gpa, buf, size);
    record(t, kind, HVT_SPACE_RAM, seg, g, la, 1, gpa, size, buf, NULL, NULL, HVT_OP_OKAY);
    return HVT_OP_OKAY;
}

/* One pass over the instruction at RIP. ST is updated only when the pass ends OKAY. */
static void toy_emulate(struct toy *t, struct hvt_vcpu_state *st, struct hvt_pass_outcome *out)
{
    struct hvt_vcpu_state w = *st;
    uint8_t insn[2];
    uint32_t v = 0;
    uint64_t gpa;
    int r = HVT_OP_OKAY, len;

    memset(out, 0, sizeof(*out));
    if (walk(t, st, st->rip, 0, &gpa)) {
        out->kind = HVT_OUT_UNHANDLEABLE;
        return;
    }
    memcpy(insn, t->ram + gpa, 2);
    len = insn[0] == 0x8b || insn[0] == 0x89 ? 2 : 1;
    record(t, HVT_ACC_FETCH, HVT_SPACE_RAM, HVT_SEG_CS, tag(HVT_TAG_FETCH, 0, 0), st->rip, 1, gpa,
           (uint32_t)len, insn, NULL, NULL, HVT_OP_OKAY);
    switch (insn[0]) {
    case 0x8b: /* mov eax, [rbx] */
        r = access_mem(t, st, HVT_ACC_READ, HVT_SEG_DS, 0, st->gpr[HVT_RBX], &v, 4);
        w.gpr[HVT_RAX] = v;
        break;
    case 0x89: /* mov [rbx], eax */
        v = (uint32_t)st->gpr[HVT_RAX];
        r = access_mem(t, st, HVT_ACC_WRITE, HVT_SEG_DS, 0, st->gpr[HVT_RBX], &v, 4);
        break;
    case 0xa4: /* movsb: operand 0 is the source, 1 the destination */
        r = access_mem(t, st, HVT_ACC_READ, HVT_SEG_DS, 0, st->gpr[HVT_RSI], &v, 1);
        if (r == HVT_OP_OKAY)
            r = access_mem(t, st, HVT_ACC_WRITE, HVT_SEG_ES, 1, st->gpr[HVT_RDI], &v, 1);
        w.gpr[HVT_RSI]++;
        w.gpr[HVT_RDI]++;
        break;
    case 0xec: /* in al, dx */
        if (!t->pending) {
            record(t, HVT_ACC_IO_IN, HVT_SPACE_PORT, HVT_SEG_NONE, tag(HVT_TAG_IO, 0, 0), 0, 0,
                   st->gpr[HVT_RDX] & 0xffff, 1, NULL, NULL, NULL, HVT_OP_RETRY);
            out->kind = HVT_OUT_RETRY;
            out->retry_cause = HVT_RETRY_PIO;
            return;
        }
        v = t->device_value;
        record(t, HVT_ACC_IO_IN, HVT_SPACE_PORT, HVT_SEG_NONE, tag(HVT_TAG_IO, 0, 0), 0, 0,
               st->gpr[HVT_RDX] & 0xffff, 1, &v, NULL, NULL, HVT_OP_OKAY);
        w.gpr[HVT_RAX] = (st->gpr[HVT_RAX] & ~0xffull) | (v & 0xff);
        break;
    default:
        out->kind = HVT_OUT_UNIMPLEMENTED;
        return;
    }
    if (r == HVT_OP_RETRY) {
        out->kind = HVT_OUT_RETRY;
        out->retry_cause = HVT_RETRY_MMIO;
        return;
    }
    if (r != HVT_OP_OKAY) {
        out->kind = HVT_OUT_UNHANDLEABLE;
        return;
    }
    w.rip += (uint64_t)len;
    *st = w;
}

/* ---- the machine ------------------------------------------------------------------------- */

static void put64(struct toy *t, uint64_t gpa, uint64_t v)
{
    memcpy(t->ram + gpa, &v, 8);
}

static void build_guest(struct toy *t)
{
    static const uint8_t code[] = {0x8b, 0x03, 0xa4, 0xec, 0x89, 0x03};
    const uint64_t pw = HVT_PTE_P | HVT_PTE_W;
    put64(t, 0x1000, 0x2000 | pw); /* PML4[0] -> PDPT */
    put64(t, 0x2000, 0x3000 | pw); /* PDPT[0] -> PD */
    put64(t, 0x3000, PT_GPA | pw); /* PD[0] -> PT: the first 2 MiB, 4 KiB pages */
    put64(t, PT_GPA + 8 * (CODE_LA >> 12), CODE_LA | pw);
    put64(t, PT_GPA + 8 * (DATA_LA >> 12), DATA_LA | pw);
    put64(t, PT_GPA + 8 * (SRC_LA >> 12), SRC_GPA_A | pw);
    put64(t, PT_GPA + 8 * (MMIO_LA >> 12), MMIO_GPA | pw);
    memcpy(t->ram + CODE_LA, code, sizeof(code));
    memset(t->ram + SRC_GPA_A, 0xaa, 4096);
    memset(t->ram + SRC_GPA_B, 0xbb, 4096);
}

/* A valid 64-bit state (docs/INTEGRATION.md, "A valid initial state"). */
static void initial_state(struct hvt_vcpu_state *st)
{
    const uint32_t code = 0xb | HVT_SEG_ATTR_S | HVT_SEG_ATTR_P | HVT_SEG_ATTR_L | HVT_SEG_ATTR_G;
    const uint32_t data = 0x3 | HVT_SEG_ATTR_S | HVT_SEG_ATTR_P | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G;
    memset(st, 0, sizeof(*st));
    for (unsigned s = HVT_SEG_ES; s <= HVT_SEG_GS; s++) {
        st->seg[s].sel = s == HVT_SEG_CS ? 0x08 : 0x10;
        st->seg[s].attr = s == HVT_SEG_CS ? code : data;
        st->seg[s].limit = 0xffffffffu;
    }
    st->seg[HVT_SEG_LDTR].attr = HVT_SEG_ATTR_UNUSABLE;
    st->seg[HVT_SEG_TR].sel = 0x18;
    st->seg[HVT_SEG_TR].attr = 0xb | HVT_SEG_ATTR_P; /* busy 64-bit TSS */
    st->seg[HVT_SEG_TR].limit = 0x67;
    st->gdtr.limit = 0x1f;
    st->idtr.limit = 0xfff;
    st->cr0 = HVT_CR0_PE | HVT_CR0_MP | HVT_CR0_ET | HVT_CR0_NE | HVT_CR0_WP | HVT_CR0_PG;
    st->cr3 = 0x1000;
    st->cr4 = HVT_CR4_PAE | HVT_CR4_OSFXSR | HVT_CR4_OSXMMEXCPT;
    st->efer = HVT_EFER_LME | HVT_EFER_LMA | HVT_EFER_NXE;
    st->rflags = HVT_RFLAGS_FIXED;
    st->gpr[HVT_RSP] = 0x30000;
    st->mxcsr = 0x1f80;
}

int main(int argc, char **argv)
{
    static const uint8_t offset[4] = {0, 2, 3, 4}; /* mov load, movsb, in, mov store */
    struct toy *t = calloc(1, sizeof(*t));
    struct hvt_rec_options o;
    struct hvt_rec_stats st = {.size = sizeof(st)};
    struct hvt_fmt_header hdr;
    struct hvt_fmt_cpu_strings cs;
    struct hvt_cpu_profile cpu;
    struct hvt_vcpu_state s;
    unsigned long events = 40;
    int bad = 0, rc;

    if (argc < 2 || !t) {
        fprintf(stderr, "usage: toyhv OUT.hvt [--events N] [--bad-access]\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc)
            events = strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--bad-access"))
            bad = 1;
        else
            return fprintf(stderr, "toyhv: unknown argument %s\n", argv[i]), 2;
    }
    build_guest(t);
    memset(&hdr, 0, sizeof(hdr));
    hdr.producer = "toyhv";
    hdr.hypervisor = "toyhv";
    hdr.hypervisor_version = "1.0";
    hdr.core_name = "toyhv-emulator";
    hvt_cpu_profile_default(&cpu);
    if (hvt_fmt_header_set_cpu(&hdr, &cpu, &cs) < 0)
        return 1;
    hvt_rec_options_init(&o);
    o.n_vcpus = 1;
    o.flags = HVT_REC_OVERWRITE;
    rc = hvt_rec_open(&t->rec, argv[1], &hdr, &o);
    if (rc < 0) {
        fprintf(stderr, "toyhv: %s: %s\n", argv[1], hvt_strerror(rc));
        return 1;
    }
    initial_state(&s);
    for (unsigned long e = 0; e < events; e++) {
        struct hvt_pass_outcome out;
        unsigned k = (unsigned)(e % 4);
        s.rip = CODE_LA + offset[k];
        s.gpr[HVT_RBX] = DATA_LA + 8;
        s.gpr[HVT_RSI] = SRC_LA + 16;
        s.gpr[HVT_RDI] = MMIO_LA;
        s.gpr[HVT_RDX] = PORT;
        t->pending = 0;
        /* the instruction bytes, when the host knows them up front (else NULL, 0) */
        hvt_rec_event_begin(t->rec, 0, &s, t->ram + s.rip, k == 0 || k == 3 ? 2 : 1);
        for (unsigned pass = 0;; pass++) {
            hvt_rec_pass_begin(t->rec, 0);
            toy_emulate(t, &s, &out);
            if (bad && e == 1 && pass == 0) { /* a host bug: a walk at a level that cannot be */
                struct hvt_tag g = tag(HVT_TAG_WALK, 0, 9);
                record(t, HVT_ACC_READ, HVT_SPACE_RAM, HVT_SEG_NONE, g, 0, 0, 0x1000, 8, NULL, NULL,
                       NULL, HVT_OP_OKAY);
            }
            hvt_rec_pass_end(t->rec, 0, &out, &s);
            if (out.kind != HVT_OUT_RETRY || pass >= 3)
                break;
            /* the vCPU waits for the device; meanwhile the device answers, and for every
             * other movsb another vCPU moves the source page elsewhere */
            t->pending = 1;
            t->device_value = (uint8_t)(0x40 + e);
            if (k == 1 && (e / 4) % 2 == 0) {
                uint64_t pte = get64(t, PT_GPA + 8 * (SRC_LA >> 12));
                uint64_t to = (pte & ~0xfffull) == SRC_GPA_A ? SRC_GPA_B : SRC_GPA_A;
                put64(t, PT_GPA + 8 * (SRC_LA >> 12), to | HVT_PTE_P | HVT_PTE_W);
            }
        }
        hvt_rec_event_end(t->rec, 0);
    }
    rc = hvt_rec_close(t->rec, &st);
    printf("toyhv: %s: %llu events, %llu passes, %llu accesses, %llu refused, %llu bytes%s%s\n",
           argv[1], (unsigned long long)st.events, (unsigned long long)st.passes,
           (unsigned long long)st.accesses, (unsigned long long)st.refused,
           (unsigned long long)st.bytes_written, rc ? ", recording failed: " : "",
           rc ? hvt_strerror(rc) : "");
    free(t);
    return rc ? 1 : 0;
}
