/* SPDX-License-Identifier: MIT */
/* examples/linemu against the reference core, instruction by instruction over the logging flat
 * RAM: the same outcome, end state and memory (page-table A/D bits too), the same data and
 * port accesses per operand and element, the same pages walked, and only instruction bytes
 * the reference core fetched too; what differs is the order. REP runs one iteration per call
 * (HVT_COREF_REP_ONE) and is called again here, as the replayer does. Also: the plugin's
 * descriptor, options and invalid opcodes, and that its broken variants are caught. */
#include <stdio.h>
#include <string.h>

#include "hvt_test.h"
#include "core/ram_ops.h"

#define MEM (4u << 20)
#define CODE 0x10000ull
#define DATA 0x20000ull   /* RAM, 4K pages, A and D set */
#define FRESH 0x50000ull  /* a page whose PTE has A and D clear */
#define ABSENT 0x60000ull /* not present */
#define RDONLY 0x70000ull /* read-only */
#define MMIO 0x80000ull   /* served by the ram's MMIO range */

enum mode { M64, M32, M16 };

struct run {
    struct ram *r;
    struct hvt_vcpu_state st;
    struct hvt_core_result res; /* the last call's */
    uint32_t iterations, calls;
};

static struct hvt_core *ref, *lm;

/* 4-level paging: the first 2 MiB in 4K pages (P RW US A D), with the special pages above. */
static void build_memory(struct ram *r)
{
    memset(r->mem, 0, MEM);
    ram_put64(r, 0x1000, 0x2000 | 0x27);
    ram_put64(r, 0x2000, 0x3000 | 0x27);
    ram_put64(r, 0x3000, 0x4000 | 0x27);
    for (uint64_t p = 0; p < 512; p++)
        ram_put64(r, 0x4000 + 8 * p, (p << 12) | 0x67);
    ram_put64(r, 0x4000 + 8 * (FRESH >> 12), FRESH | 0x07);
    ram_put64(r, 0x4000 + 8 * (ABSENT >> 12), ABSENT | 0x06);
    ram_put64(r, 0x4000 + 8 * (RDONLY >> 12), RDONLY | 0x65);
    for (unsigned i = 0; i < 64; i++)
        r->mem[DATA + i] = (uint8_t)(0x11 * i + 3);
    r->mmio_lo = MMIO;
    r->mmio_hi = MMIO + 0x1000;
    r->mmio_result = HVT_OP_RETRY;
    r->mmio_value = 0;
    r->port_result = HVT_OP_OKAY;
    r->port_value = 0;
}

static void set_mode(struct hvt_vcpu_state *st, enum mode m)
{
    uint32_t db = m == M16 ? 0 : HVT_SEG_ATTR_DB;
    memset(st, 0, sizeof(*st));
    for (unsigned i = 0; i < 6; i++) {
        st->seg[i].limit = 0xffffffffu;
        st->seg[i].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | db | HVT_SEG_ATTR_G | 3;
    }
    st->seg[HVT_SEG_CS].attr =
        HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_G | 0xb | (m == M64 ? HVT_SEG_ATTR_L : db);
    st->seg[HVT_SEG_LDTR].attr = HVT_SEG_ATTR_UNUSABLE;
    st->seg[HVT_SEG_TR].attr = HVT_SEG_ATTR_P | 0xb;
    st->seg[HVT_SEG_TR].limit = 0x67;
    st->cr0 = HVT_CR0_PE | HVT_CR0_WP;
    if (m == M64) {
        st->cr0 |= HVT_CR0_PG;
        st->cr4 = HVT_CR4_PAE;
        st->efer = HVT_EFER_LME | HVT_EFER_LMA;
        st->cr3 = 0x1000;
    }
    st->rflags = 2;
    st->rip = CODE;
    st->gpr[HVT_RBX] = DATA;
    st->gpr[HVT_RSI] = DATA;
    st->gpr[HVT_RDI] = DATA + 0x100;
    st->gpr[HVT_RAX] = 0x8877665544332211ull;
    st->gpr[HVT_RDX] = 0xe0;
}

/* Runs the instruction at RIP on CORE until it retires, faults or stops: one call for a core
 * that loops itself, one per REP iteration for linemu (the element numbers it tags 0 are
 * offset by the iterations done, as the replayer does). */
static void run_core(struct hvt_core *core, struct run *x)
{
    uint64_t rip0 = x->st.rip;
    int rep_one = (hvt_core_info(core)->flags & HVT_COREF_REP_ONE) != 0;
    x->iterations = x->calls = 0;
    for (;;) {
        unsigned first = x->r->n_log;
        CHECK_EQ(hvt_core_emulate2(core, &x->st, NULL, &ram_ops, x->r, &x->res), 0);
        x->calls++;
        for (unsigned i = first; rep_one && i < x->r->n_log; i++) {
            unsigned c = x->r->log[i].info.tag.cls;
            if (c == HVT_TAG_DATA || c == HVT_TAG_IO)
                x->r->log[i].info.tag.element += x->iterations;
        }
        x->iterations += x->res.out.iterations;
        if (!rep_one || x->res.out.kind != HVT_OUT_OKAY || x->st.rip != rip0 || x->calls > 200)
            return;
    }
}

/* The data and port accesses of tag class CLS, operand OP, element EL, in order, equal. B may
 * have made one more read when EXTRA_READ: MOVS reads its source before it translates the
 * destination, so when the destination faults, linemu has read a source element the
 * reference core never reached (semantic replay answers it from elsewhere, with a note). */
static int same_sequence(const struct ram *a, const struct ram *b, unsigned cls, unsigned op,
                         uint32_t el, int extra_read)
{
    unsigned i = 0, j = 0;
    for (;;) {
        const struct ram_log_entry *x = NULL, *y = NULL;
        for (; i < a->n_log && !x; i++)
            if (a->log[i].info.tag.cls == cls && a->log[i].info.tag.operand == op &&
                a->log[i].info.tag.element == el)
                x = &a->log[i];
        for (; j < b->n_log && !y; j++)
            if (b->log[j].info.tag.cls == cls && b->log[j].info.tag.operand == op &&
                b->log[j].info.tag.element == el)
                y = &b->log[j];
        if (!x && y && extra_read && y->kind == HVT_ACC_READ) {
            extra_read = 0;
            continue;
        }
        if (!x || !y)
            return !x && !y;
        if (x->kind != y->kind || x->gpa != y->gpa || x->size != y->size ||
            x->result != y->result || memcmp(x->data, y->data, x->size))
            return 0;
    }
}

/* Every entry of A of class CLS has one in B with the same kind, address and size. */
static int covered(const struct ram *a, const struct ram *b, unsigned cls)
{
    for (unsigned i = 0; i < a->n_log; i++) {
        int found = a->log[i].info.tag.cls != cls;
        for (unsigned j = 0; j < b->n_log && !found; j++)
            found = b->log[j].info.tag.cls == cls && b->log[j].gpa == a->log[i].gpa &&
                    b->log[j].info.tag.level == a->log[i].info.tag.level;
        if (!found)
            return 0;
    }
    return 1;
}

/* Every byte linemu fetched, the reference core fetched too (it reads 15 at once). */
static int fetched_within(const struct ram *lmr, const struct ram *refr)
{
    for (unsigned i = 0; i < lmr->n_log; i++) {
        const struct ram_log_entry *x = &lmr->log[i];
        int found = x->info.tag.cls != HVT_TAG_FETCH;
        for (unsigned j = 0; j < refr->n_log && !found; j++) {
            const struct ram_log_entry *y = &refr->log[j];
            found = y->info.tag.cls == HVT_TAG_FETCH && x->gpa >= y->gpa &&
                    x->gpa + x->size <= y->gpa + y->size &&
                    !memcmp(x->data, y->data + (x->gpa - y->gpa), x->size);
        }
        if (!found)
            return 0;
    }
    return 1;
}

/* Runs HEX in mode M from the state SETUP leaves on both cores and compares everything. */
static int compare(const char *what, enum mode m, const char *hex,
                   void (*setup)(struct hvt_vcpu_state *, struct ram *), struct hvt_core *other,
                   unsigned expect_kind)
{
    static struct run a, b;
    int same = 1;
    unsigned n = 0, v;
    if (!a.r)
        a.r = ram_new(MEM), b.r = ram_new(MEM);
    build_memory(a.r);
    set_mode(&a.st, m);
    if (setup)
        setup(&a.st, a.r);
    for (const char *h = hex; *h;) {
        while (*h == ' ')
            h++;
        if (!*h || sscanf(h, "%2x", &v) != 1)
            break;
        a.r->mem[CODE + n++] = (uint8_t)v;
        h += 2;
    }
    memcpy(b.r->mem, a.r->mem, MEM);
    b.r->mmio_lo = a.r->mmio_lo, b.r->mmio_hi = a.r->mmio_hi;
    b.r->mmio_result = a.r->mmio_result, b.r->mmio_value = a.r->mmio_value;
    b.r->port_result = a.r->port_result, b.r->port_value = a.r->port_value;
    b.st = a.st;
    ram_clear_log(a.r);
    ram_clear_log(b.r);
    run_core(ref, &a);
    run_core(other, &b);
    if (a.res.out.kind != expect_kind) {
        printf("%s: the reference core ended %u (%s), expected %u\n", what, a.res.out.kind,
               a.res.detail, expect_kind);
        same = 0;
    }
#define DIFF(cond, ...)                                                                            \
    do {                                                                                           \
        if (cond) {                                                                                \
            fprintf(stdout, "%s: ", what);                                                         \
            fprintf(stdout, __VA_ARGS__);                                                          \
            fputc('\n', stdout);                                                                   \
            same = 0;                                                                              \
        }                                                                                          \
    } while (0)
    DIFF(a.res.out.kind != b.res.out.kind, "outcome %u vs %u (%s)", a.res.out.kind, b.res.out.kind,
         b.res.detail);
    DIFF(a.res.out.vector != b.res.out.vector || a.res.out.error_code != b.res.out.error_code ||
             a.res.out.cr2 != b.res.out.cr2,
         "exception %u/%x/%llx vs %u/%x/%llx", a.res.out.vector, a.res.out.error_code,
         (unsigned long long)a.res.out.cr2, b.res.out.vector, b.res.out.error_code,
         (unsigned long long)b.res.out.cr2);
    DIFF(a.iterations != b.iterations, "iterations %u vs %u", a.iterations, b.iterations);
    DIFF(a.res.out.kind == HVT_OUT_OKAY && a.res.insn_len != b.res.insn_len, "length %u vs %u",
         a.res.insn_len, b.res.insn_len);
    DIFF(a.res.retire != b.res.retire, "retire flags %x vs %x", a.res.retire, b.res.retire);
    for (unsigned i = 0; i < 16; i++)
        DIFF(a.st.gpr[i] != b.st.gpr[i], "gpr %u: %llx vs %llx", i, (unsigned long long)a.st.gpr[i],
             (unsigned long long)b.st.gpr[i]);
    DIFF(a.st.rip != b.st.rip, "rip %llx vs %llx", (unsigned long long)a.st.rip,
         (unsigned long long)b.st.rip);
    DIFF(a.st.rflags != b.st.rflags, "rflags %llx vs %llx", (unsigned long long)a.st.rflags,
         (unsigned long long)b.st.rflags);
    DIFF(memcmp(&a.st, &b.st, sizeof(a.st)) != 0, "end state");
    DIFF(memcmp(a.r->mem, b.r->mem, MEM) != 0, "memory (data or A/D bits)");
    for (unsigned cls = HVT_TAG_DATA; cls <= HVT_TAG_IO; cls += HVT_TAG_IO - HVT_TAG_DATA)
        for (unsigned op = 0; op < 2; op++)
            for (uint32_t el = 0; el < a.iterations + 1; el++)
                DIFF(!same_sequence(a.r, b.r, cls, op, el,
                                    a.res.out.kind == HVT_OUT_EXCEPTION && el == a.iterations),
                     "class %u operand %u element %u", cls, op, el);
    DIFF(!covered(a.r, b.r, HVT_TAG_WALK) || !covered(b.r, a.r, HVT_TAG_WALK), "pages walked");
    DIFF(!fetched_within(b.r, a.r), "fetched bytes the reference core did not");
#undef DIFF
    if (same && other == lm)
        printf("%-34s ok: outcome %u, %u iteration(s), %u call(s), %u vs %u op calls\n", what,
               b.res.out.kind, b.iterations, b.calls, a.r->n_log, b.r->n_log);
    return same;
}

static void regs_rep(struct hvt_vcpu_state *st, struct ram *r)
{
    (void)r;
    st->gpr[HVT_RCX] = 5;
}

static void regs_rep_down(struct hvt_vcpu_state *st, struct ram *r)
{
    (void)r;
    st->gpr[HVT_RCX] = 4;
    st->rflags |= HVT_RFLAGS_DF;
    st->gpr[HVT_RSI] = DATA + 0x20;
}

static void regs_cross_page(struct hvt_vcpu_state *st, struct ram *r)
{
    (void)r;
    st->gpr[HVT_RCX] = 3;
    st->gpr[HVT_RSI] = DATA + 0xff8;
    st->gpr[HVT_RDI] = FRESH + 0xff4; /* a page whose A and D the walks set */
}

static void regs_cmps_differ(struct hvt_vcpu_state *st, struct ram *r)
{
    st->gpr[HVT_RCX] = 8;
    memcpy(r->mem + DATA + 0x100, r->mem + DATA, 8);
    r->mem[DATA + 0x103] ^= 0x40; /* the fourth byte differs */
}

static void regs_fault_midway(struct hvt_vcpu_state *st, struct ram *r)
{
    (void)r;
    st->gpr[HVT_RCX] = 6;
    st->gpr[HVT_RDI] = ABSENT - 2; /* two bytes, then #PF */
}

static void regs_mmio(struct hvt_vcpu_state *st, struct ram *r)
{
    st->gpr[HVT_RBX] = MMIO + 8;
    st->gpr[HVT_RDI] = MMIO + 0x10;
    st->gpr[HVT_RCX] = 2;
    r->mmio_result = HVT_OP_RETRY;
}

static void regs_mmio_okay(struct hvt_vcpu_state *st, struct ram *r)
{
    regs_mmio(st, r);
    r->mmio_result = HVT_OP_OKAY;
    r->mmio_value = 0x5a;
    r->port_value = 0xc3;
}

static void regs_fresh(struct hvt_vcpu_state *st, struct ram *r)
{
    (void)r;
    st->gpr[HVT_RBX] = FRESH + 0x40;
}

static void regs_absent(struct hvt_vcpu_state *st, struct ram *r)
{
    (void)r;
    st->gpr[HVT_RBX] = ABSENT + 4;
}

static void regs_rdonly(struct hvt_vcpu_state *st, struct ram *r)
{
    (void)r;
    st->gpr[HVT_RBX] = RDONLY;
}

static void regs_fs(struct hvt_vcpu_state *st, struct ram *r)
{
    (void)r;
    st->seg[HVT_SEG_FS].base = 0x100;
    st->gpr[HVT_RCX] = 2;
}

static void regs_tf(struct hvt_vcpu_state *st, struct ram *r)
{
    regs_rep(st, r);
    st->rflags |= HVT_RFLAGS_TF;
}

static void regs_port_retry(struct hvt_vcpu_state *st, struct ram *r)
{
    st->gpr[HVT_RCX] = 3;
    r->port_result = HVT_OP_RETRY;
}

static const struct {
    const char *what;
    enum mode m;
    const char *hex;
    void (*setup)(struct hvt_vcpu_state *, struct ram *);
    unsigned kind;
} cases[] = {
    {"mov [rbx], eax", M64, "89 03", NULL, HVT_OUT_OKAY},
    {"mov eax, [rbx]", M64, "8b 03", NULL, HVT_OUT_OKAY},
    {"mov r9, [rbx+rcx*8+0x10]", M64, "4c 8b 4c cb 10", regs_rep, HVT_OUT_OKAY},
    {"mov qword [rbx+8], imm32", M64, "48 c7 43 08 f0 ff ff ff", NULL, HVT_OUT_OKAY},
    {"mov word [rbx], imm16", M64, "66 c7 03 34 12", NULL, HVT_OUT_OKAY},
    {"mov byte [rbx+1], imm8", M64, "c6 43 01 7f", NULL, HVT_OUT_OKAY},
    {"mov [rbx], ah", M64, "88 23", NULL, HVT_OUT_OKAY},
    {"mov [rbx], spl (rex)", M64, "40 88 23", NULL, HVT_OUT_OKAY},
    {"mov cl, [rbx+3]", M64, "8a 4b 03", NULL, HVT_OUT_OKAY},
    {"mov [rip+0x10000], eax", M64, "89 05 00 00 01 00", NULL, HVT_OUT_OKAY},
    {"mov [ebx] (addr32), eax", M64, "67 89 03", NULL, HVT_OUT_OKAY},
    {"mov fs:[rcx], eax", M64, "64 89 01", regs_fs, HVT_OUT_OKAY},
    {"mov rax, moffs64", M64, "48 a1 08 00 02 00 00 00 00 00", NULL, HVT_OUT_OKAY},
    {"mov moffs64, al", M64, "a2 10 00 02 00 00 00 00 00", NULL, HVT_OUT_OKAY},
    {"mov rcx, rax (register)", M64, "48 89 c1", NULL, HVT_OUT_OKAY},
    {"add qword [rbx+16], 1", M64, "48 83 43 10 01", NULL, HVT_OUT_OKAY},
    {"add [rbx], eax", M64, "01 03", NULL, HVT_OUT_OKAY},
    {"add al, [rbx+5]", M64, "02 43 05", NULL, HVT_OUT_OKAY},
    {"add dword [rbx], imm32", M64, "81 03 ff ff ff 7f", NULL, HVT_OUT_OKAY},
    {"add byte [rbx], 0x80", M64, "80 03 80", NULL, HVT_OUT_OKAY},
    {"movsb", M64, "a4", NULL, HVT_OUT_OKAY},
    {"rep movsb", M64, "f3 a4", regs_rep, HVT_OUT_OKAY},
    {"rep movsw, DF=1", M64, "f3 66 a5", regs_rep_down, HVT_OUT_OKAY},
    {"rep movsd across pages (A/D)", M64, "f3 a5", regs_cross_page, HVT_OUT_OKAY},
    {"rep movsq, RCX=0", M64, "f3 48 a5", NULL, HVT_OUT_OKAY},
    {"rep movsb, #PF midway", M64, "f3 a4", regs_fault_midway, HVT_OUT_EXCEPTION},
    {"cmpsq", M64, "48 a7", NULL, HVT_OUT_OKAY},
    {"cmpsb (equal)", M64, "a6", regs_cmps_differ, HVT_OUT_OKAY},
    {"repe cmpsb", M64, "f3 a6", regs_cmps_differ, HVT_OUT_OKAY},
    {"repne cmpsb", M64, "f2 a6", regs_cmps_differ, HVT_OUT_OKAY},
    {"rep stosb", M64, "f3 aa", regs_rep, HVT_OUT_OKAY},
    {"stosq", M64, "48 ab", NULL, HVT_OUT_OKAY},
    {"lodsw", M64, "66 ad", NULL, HVT_OUT_OKAY},
    {"rep outsb", M64, "f3 6e", regs_rep, HVT_OUT_OKAY},
    {"rep outsb, port RETRY", M64, "f3 6e", regs_port_retry, HVT_OUT_RETRY},
    {"insd", M64, "6d", NULL, HVT_OUT_OKAY},
    {"rep insw", M64, "f3 66 6d", regs_rep, HVT_OUT_OKAY},
    {"in eax, dx", M64, "ed", NULL, HVT_OUT_OKAY},
    {"in al, 0xe4", M64, "e4 e4", NULL, HVT_OUT_OKAY},
    {"out 0xe8, al", M64, "e6 e8", NULL, HVT_OUT_OKAY},
    {"out dx, ax", M64, "66 ef", NULL, HVT_OUT_OKAY},
    {"mov [rbx], eax, TF: single-step", M64, "89 03", regs_tf, HVT_OUT_OKAY},
    {"rep stosb, TF: single-step", M64, "f3 aa", regs_tf, HVT_OUT_OKAY},
    {"mov to MMIO: RETRY", M64, "89 03", regs_mmio, HVT_OUT_RETRY},
    {"mov from MMIO", M64, "8b 43 04", regs_mmio_okay, HVT_OUT_OKAY},
    {"rep movsb RAM->MMIO: RETRY", M64, "f3 a4", regs_mmio, HVT_OUT_RETRY},
    {"add [MMIO], 1: RETRY", M64, "48 83 03 01", regs_mmio, HVT_OUT_RETRY},
    {"mov to a fresh page (A/D)", M64, "89 03", regs_fresh, HVT_OUT_OKAY},
    {"mov from a fresh page (A)", M64, "8b 03", regs_fresh, HVT_OUT_OKAY},
    {"mov to an absent page: #PF", M64, "89 03", regs_absent, HVT_OUT_EXCEPTION},
    {"mov to a read-only page: #PF", M64, "89 03", regs_rdonly, HVT_OUT_EXCEPTION},
    {"mov [ebx], eax (32-bit)", M32, "89 03", NULL, HVT_OUT_OKAY},
    {"mov ecx, [ebx+8] (32-bit)", M32, "8b 4b 08", NULL, HVT_OUT_OKAY},
    {"rep movsb (32-bit)", M32, "f3 a4", regs_rep, HVT_OUT_OKAY},
    {"rep movsb a16 (32-bit)", M32, "67 f3 a4", regs_rep, HVT_OUT_OKAY},
    {"mov eax, moffs32 (32-bit)", M32, "a1 04 00 02 00", NULL, HVT_OUT_OKAY},
    {"mov [bx+si], ax (16-bit)", M16, "89 00", NULL, HVT_OUT_OKAY},
    {"mov [bp+di+2], ax (16-bit)", M16, "89 43 02", NULL, HVT_OUT_OKAY},
    {"mov [esi], eax (16-bit, 66 67)", M16, "66 67 89 06", NULL, HVT_OUT_OKAY},
    {"ud2", M64, "0f 0b", NULL, HVT_OUT_EXCEPTION},
    {"lock mov: #UD", M64, "f0 89 03", NULL, HVT_OUT_EXCEPTION},
};

static void test_against_reference(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int ok =
            compare(cases[i].what, cases[i].m, cases[i].hex, cases[i].setup, lm, cases[i].kind);
        CHECK(ok);
    }
}

/* Instructions linemu leaves to others: UNIMPLEMENTED, never a wrong guess; a byte that is no
 * instruction: #UD, as the reference core says. */
static void test_unimplemented_and_invalid(void)
{
    static const char *const unimpl[] = {"90", "0f a2", "48 83 0b 01", "f0 01 03", "ae"};
    static struct run x;
    if (!x.r)
        x.r = ram_new(MEM);
    for (size_t i = 0; i < sizeof(unimpl) / sizeof(unimpl[0]); i++) {
        unsigned n = 0, v;
        build_memory(x.r);
        set_mode(&x.st, M64);
        for (const char *h = unimpl[i]; sscanf(h, "%2x", &v) == 1; h += h[2] ? 3 : 2)
            x.r->mem[CODE + n++] = (uint8_t)v;
        run_core(lm, &x);
        CHECK_EQ(x.res.out.kind, HVT_OUT_UNIMPLEMENTED);
        CHECK(strstr(x.res.detail, "linemu: opcode") != NULL);
        CHECK_U64(x.st.rip, CODE);
    }
    CHECK(compare("push es in 64-bit mode: #UD", M64, "06", NULL, lm, HVT_OUT_EXCEPTION));
    /* C6 /1 is no instruction (#UD on hardware); the reference core's decoder calls it
     * undecodable (UNIMPLEMENTED), so linemu is checked on its own here */
    build_memory(x.r);
    set_mode(&x.st, M64);
    memcpy(x.r->mem + CODE, "\xc6\x0b\x00", 3);
    run_core(lm, &x);
    CHECK_EQ(x.res.out.kind, HVT_OUT_EXCEPTION);
    CHECK_EQ(x.res.out.vector, HVT_VEC_UD);
    CHECK_U64(x.st.rip, CODE);
    ram_free(x.r);
}

static void test_plugin(void)
{
    const struct hvt_core_plugin *p = hvt_core_info(lm);
    CHECK_EQ(hvt_core_abi(lm), 2);
    CHECK_STR(p->name, "linemu");
    CHECK_EQ(p->flags, HVT_COREF_REP_ONE | HVT_COREF_LINEAR);
    CHECK_EQ(hvt_core_set_option(lm, "cpu", "intel-icelake-server"), 0);
    CHECK_EQ(hvt_core_set_option(lm, "pdpte-reread", "1"), -HVT_E_UNSUPPORTED);
    CHECK_EQ(hvt_core_set_option(lm, "no-such-option", "x"), -HVT_E_UNSUPPORTED);
}

/* The broken variants differ from the reference core where their bug shows. */
static void test_mutants(void)
{
    struct hvt_core *m;
    char err[256];
    CHECK_EQ(hvt_core_open(&m, LINEMU_NODIRTY, err, sizeof(err)), 0);
    if (m) {
        CHECK(compare("nodirty: mov to a clean page", M64, "89 03", regs_fresh, m, HVT_OUT_OKAY) ==
              0);
        CHECK(compare("nodirty: mov from a clean page", M64, "8b 03", regs_fresh, m,
                      HVT_OUT_OKAY) == 1);
        hvt_core_close(m);
    }
    CHECK_EQ(hvt_core_open(&m, LINEMU_BYTE, err, sizeof(err)), 0);
    if (m) {
        CHECK(compare("byte: rep movsb", M64, "f3 a4", regs_rep, m, HVT_OUT_OKAY) == 0);
        CHECK(compare("byte: stosb", M64, "aa", NULL, m, HVT_OUT_OKAY) == 1);
        hvt_core_close(m);
    }
}

int main(void)
{
    char err[256];
    if (hvt_core_open(&ref, HVT_CORE_REF, err, sizeof(err)) ||
        hvt_core_open(&lm, LINEMU_PLUGIN, err, sizeof(err))) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    RUN(test_plugin);
    RUN(test_against_reference);
    RUN(test_unimplemented_and_invalid);
    RUN(test_mutants);
    hvt_core_close(lm);
    hvt_core_close(ref);
    TEST_DONE();
}
