/* SPDX-License-Identifier: MIT */
/* Oracle: runs a case on unicorn: a boot stub loads the state, then exactly one instruction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "hvtrace/error.h"

#ifdef HVT_HAVE_UNICORN
#include <unicorn/unicorn.h>

/*
 * Why a boot stub: unicorn 2.0.1's uc_reg_write stores CR0/CR3/CR4 raw and, in 64-bit mode,
 * only the selector of CS/SS/DS/ES, so QEMU's cached flags (CPL, SMAP) and hidden segment
 * parts would not follow. The stub runs real instructions in the reserved region: MOV CR4
 * (recomputes the SMAP flag), segment loads from a GDT built from the case's state, and IRET
 * (or POPF + far JMP at CPL 0 in 32-bit mode) to the case's CS:RIP, RFLAGS and SS:RSP. Every
 * paging entry the stub uses already has A and D set, so it writes nothing the core would not.
 */

struct uc_run {
    uint64_t target;  /* linear address of the case's instruction */
    int started;      /* the case's instruction began */
    int faulted;      /* an exception was raised */
    unsigned intno;
    uint64_t eip;     /* RIP when the exception was raised */
    uc_context *ctx;  /* CPU context saved at the exception (error code calibration) */
    int bits32;
    uint64_t cr2;     /* CR2 read in the interrupt hook */
    struct hvt_orc_result *res; /* port accesses are logged here */
};

static void hook_code(uc_engine *uc, uint64_t address, uint32_t size, void *arg)
{
    struct uc_run *u = arg;
    (void)uc, (void)size;
    if (getenv("HVT_ORC_DEBUG"))
        fprintf(stderr, "uc: insn at %#llx (%u bytes)\n", (unsigned long long)address, size);
    if (address == u->target && !u->started)
        u->started = 1;
}

static void read_ip(uc_engine *uc, struct uc_run *u)
{
    if (u->bits32) {
        uint32_t v = 0;
        uc_reg_read(uc, UC_X86_REG_EIP, &v);
        u->eip = v;
    } else {
        uc_reg_read(uc, UC_X86_REG_RIP, &u->eip);
    }
}

static void hook_intr(uc_engine *uc, uint32_t intno, void *arg)
{
    struct uc_run *u = arg;
    if (u->faulted)
        return;
    u->faulted = 1;
    u->intno = intno;
    read_ip(uc, u);
    uc_reg_read(uc, UC_X86_REG_CR2, &u->cr2);
    if (u->ctx)
        uc_context_save(uc, u->ctx);
    uc_emu_stop(uc);
}

static bool hook_invalid(uc_engine *uc, void *arg)
{
    struct uc_run *u = arg;
    if (!u->faulted) {
        u->faulted = 1;
        u->intno = 6;
        read_ip(uc, u);
    }
    return false;
}

/* Port I/O of INS/OUTS cases: the same deterministic inputs as the core's ops (run_core.c). */
static void log_io(struct uc_run *u, uint32_t port, int size, int out, uint32_t v)
{
    struct hvt_orc_result *r = u->res;
    if (r->io_n < HVT_ORC_IO_LOG) {
        r->io[r->io_n].port = (uint16_t)port;
        r->io[r->io_n].size = (uint8_t)size;
        r->io[r->io_n].out = (uint8_t)out;
        r->io[r->io_n].value = v;
    }
    r->io_n++;
}

static uint32_t hook_in(uc_engine *uc, uint32_t port, int size, void *arg)
{
    struct uc_run *u = arg;
    uint32_t v = hvt_orc_io_value((uint16_t)port, u->res->io_n);
    (void)uc;
    v &= size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
    log_io(u, port, size, 0, v);
    return v;
}

static void hook_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *arg)
{
    (void)uc;
    log_io(arg, port, size, 1, value);
}

/* A GDT descriptor from the hidden parts. */
static uint64_t descriptor(uint64_t base, uint32_t limit, uint32_t attr)
{
    uint32_t raw = (attr & HVT_SEG_ATTR_G) ? limit >> 12 : limit;
    uint64_t lo = (raw & 0xffffu) | ((base & 0xffffu) << 16);
    uint64_t hi = ((base >> 16) & 0xffu) | ((uint64_t)(attr & 0xffu) << 8) |
                  ((uint64_t)((raw >> 16) & 0xfu) << 16) | ((uint64_t)((attr >> 8) & 0xfu) << 20) |
                  (base & 0xff000000u);
    return lo | (hi << 32);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

struct stub {
    uint8_t b[128];
    unsigned n, insns;
};
static void emit(struct stub *s, const void *bytes, unsigned n)
{
    memcpy(s->b + s->n, bytes, n);
    s->n += n;
    s->insns++;
}
static void emit_imm(struct stub *s, const uint8_t *op, unsigned nop, uint64_t imm, unsigned n)
{
    uint8_t t[16];
    memcpy(t, op, nop);
    memcpy(t + nop, &imm, n);
    emit(s, t, nop + n);
}

/* Writes GDT, stub code and stub stack into RAM (the reserved region); returns the number of
 * stub instructions. */
static unsigned build_stub(const struct hvt_orc_case *c, uint8_t *ram)
{
    const struct hvt_vcpu_state *st = &c->st;
    uint64_t la = hvt_orc_stub_la(c);
    uint64_t gdt[ORC_GDT_ENTRIES] = {0};
    uint8_t *stack = ram + ORC_STUB_STACK;
    uint64_t data_la = la + 0x2000, frame_la = la + 0x2f00;
    struct stub s = {{0}, 0, 0};

    gdt[1] = descriptor(0, 0xffffffffu, 0x9b | HVT_SEG_ATTR_L | HVT_SEG_ATTR_G);
    gdt[2] = descriptor(0, 0xffffffffu, 0x93 | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G);
    gdt[3] = descriptor(0, 0xffffffffu, 0x9b | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G);
    gdt[4] = descriptor(0, 0xffffffffu, 0xfb | HVT_SEG_ATTR_L | HVT_SEG_ATTR_G);
    gdt[5] = descriptor(0, 0xffffffffu, 0xf3 | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G);
    gdt[6] = descriptor(0, 0xffffffffu, 0xfb | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G);
    if (c->bits == 32) {
        static const int segs[] = {HVT_SEG_ES, HVT_SEG_SS, HVT_SEG_DS, HVT_SEG_FS, HVT_SEG_GS};
        for (unsigned i = 0; i < 5; i++) {
            const struct hvt_segment *sg = &st->seg[segs[i]];
            gdt[8 + segs[i]] = descriptor(sg->base, sg->limit, sg->attr | 1u /* accessed */);
        }
    }
    memcpy(ram + ORC_STUB_GDT, gdt, sizeof(gdt));
    memset(stack, 0, 0x1000);

    static const uint8_t mov_cr4[] = {0x0f, 0x22, 0xe0}, mov_cr0[] = {0x0f, 0x22, 0xc0};
    if (c->bits == 64) {
        static const uint8_t movabs_rax[] = {0x48, 0xb8}, movabs_rsp[] = {0x48, 0xbc};
        static const uint8_t iretq[] = {0x48, 0xcf};
        /* MOV CR0 too: a raw CR0 write leaves QEMU's TS/EM/MP flags behind (SSE #NM, #UD) */
        emit_imm(&s, movabs_rax, 2, st->cr0, 8);
        emit(&s, mov_cr0, 3);
        emit_imm(&s, movabs_rax, 2, st->cr4, 8);
        emit(&s, mov_cr4, 3);
        emit_imm(&s, movabs_rsp, 2, frame_la, 8);
        emit_imm(&s, movabs_rax, 2, st->gpr[HVT_RAX], 8);
        emit(&s, iretq, 2);
        put64(stack + 0xf00, st->rip);
        put64(stack + 0xf08, st->seg[HVT_SEG_CS].sel);
        put64(stack + 0xf10, st->rflags);
        put64(stack + 0xf18, st->gpr[HVT_RSP]);
        put64(stack + 0xf20, st->seg[HVT_SEG_SS].sel);
    } else {
        static const uint8_t mov_eax[] = {0xb8}, mov_esp[] = {0xbc};
        /* mov sreg, cs:[disp32]: CS still has base 0 while the stub runs */
        static const uint8_t ld_es[] = {0x2e, 0x8e, 0x05}, ld_ds[] = {0x2e, 0x8e, 0x1d},
                             ld_fs[] = {0x2e, 0x8e, 0x25}, ld_gs[] = {0x2e, 0x8e, 0x2d},
                             ld_ss[] = {0x2e, 0x8e, 0x15};
        static const uint8_t iretd[] = {0xcf}, popfd[] = {0x9d};
        stack[0] = (uint8_t)st->seg[HVT_SEG_ES].sel;
        stack[2] = (uint8_t)st->seg[HVT_SEG_DS].sel;
        stack[4] = (uint8_t)st->seg[HVT_SEG_FS].sel;
        stack[6] = (uint8_t)st->seg[HVT_SEG_GS].sel;
        stack[8] = (uint8_t)st->seg[HVT_SEG_SS].sel;
        stack[10] = ORC_SEL_DATA_0;
        emit_imm(&s, mov_eax, 1, (uint32_t)st->cr0, 4);
        emit(&s, mov_cr0, 3);
        emit_imm(&s, mov_eax, 1, (uint32_t)st->cr4, 4);
        emit(&s, mov_cr4, 3);
        emit_imm(&s, ld_es, 3, data_la + 0, 4);
        emit_imm(&s, ld_fs, 3, data_la + 4, 4);
        emit_imm(&s, ld_gs, 3, data_la + 6, 4);
        emit_imm(&s, ld_ds, 3, data_la + 2, 4);
        /* a 32-bit stack first: after reset SS is 16-bit (B = 0), so IRET/POPF would use SP */
        emit_imm(&s, ld_ss, 3, data_la + 10, 4);
        emit_imm(&s, mov_esp, 1, frame_la, 4);
        if (c->cpl == 3) {
            put32(stack + 0xf00, (uint32_t)st->rip);
            put32(stack + 0xf04, st->seg[HVT_SEG_CS].sel);
            put32(stack + 0xf08, (uint32_t)st->rflags);
            put32(stack + 0xf0c, (uint32_t)st->gpr[HVT_RSP]);
            put32(stack + 0xf10, st->seg[HVT_SEG_SS].sel);
            emit_imm(&s, mov_eax, 1, (uint32_t)st->gpr[HVT_RAX], 4);
            emit(&s, iretd, 1);
        } else {
            uint8_t far[7] = {0xea};
            put32(stack + 0xf00, (uint32_t)st->rflags);
            emit(&s, popfd, 1);
            emit_imm(&s, ld_ss, 3, data_la + 8, 4);
            emit_imm(&s, mov_esp, 1, (uint32_t)st->gpr[HVT_RSP], 4);
            emit_imm(&s, mov_eax, 1, (uint32_t)st->gpr[HVT_RAX], 4);
            put32(far + 1, (uint32_t)st->rip);
            far[5] = (uint8_t)st->seg[HVT_SEG_CS].sel;
            far[6] = 0;
            emit(&s, far, 7);
        }
    }
    memcpy(ram + ORC_STUB_CODE, s.b, s.n);
    return s.insns;
}

static const int gpr64[16] = {
    UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX, UC_X86_REG_RSP,
    UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_R8,  UC_X86_REG_R9,
    UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14,
    UC_X86_REG_R15,
};
static const int gpr32[8] = {
    UC_X86_REG_EAX, UC_X86_REG_ECX, UC_X86_REG_EDX, UC_X86_REG_EBX,
    UC_X86_REG_ESP, UC_X86_REG_EBP, UC_X86_REG_ESI, UC_X86_REG_EDI,
};

/* Maps a page at linear address LA with CONTENT (NULL: zeros). Mapping over an existing page
 * fails harmlessly: the first mapping of a page wins. */
static void mirror(uc_engine *uc, uint64_t la, const uint8_t *content)
{
    la &= ~0xfffull;
    if (la < HVT_ORC_RAM_SIZE)
        return;
    uc_err e = uc_mem_map(uc, la, 0x1000, UC_PROT_ALL);
    if (getenv("HVT_ORC_DEBUG"))
        fprintf(stderr, "uc: map %#llx: %s\n", (unsigned long long)la, uc_strerror(e));
    if (e == UC_ERR_OK && content)
        uc_mem_write(uc, la, content, 0x1000);
}

/* Offset of QEMU's env->error_code inside a saved context; -1 unknown, -2 not found. */
static long ec_offset = -1;

static void calibrate(void);

/* The engine part: RAM image in, result out. CTXBUF (may be NULL) receives the context. */
static int run_uc(const struct hvt_orc_case *c, struct hvt_orc_result *r, uint8_t *ctxbuf,
                  size_t ctxlen)
{
    uc_engine *uc = NULL;
    uc_hook h1, h2, h3, h4, h5;
    struct uc_run u;
    uc_err err;
    unsigned k;
    memset(&u, 0, sizeof(u));
    memcpy(r->ram, c->ram, HVT_ORC_RAM_SIZE);
    r->st = c->st;
    r->status = HVT_ORC_HARNESS;
    r->vector = 0;
    r->has_ec = 0;
    r->error_code = 0;
    r->cr2 = 0;
    r->noncanon_rip = 0;
    r->detail[0] = 0;
    r->io_n = 0;
    u.res = r;
    k = build_stub(c, r->ram);
    u.target = c->st.rip; /* CS base is 0 in every case */
    u.bits32 = c->bits == 32;

    err = uc_open(UC_ARCH_X86, c->bits == 64 ? UC_MODE_64 : UC_MODE_32, &uc);
    if (err) {
        snprintf(r->detail, sizeof(r->detail), "uc_open: %s", uc_strerror(err));
        return 0;
    }
    err = uc_mem_map(uc, 0, HVT_ORC_RAM_SIZE, UC_PROT_ALL);
    if (!err)
        err = uc_mem_write(uc, 0, r->ram, HVT_ORC_RAM_SIZE);
    if (!err && (ctxbuf || ec_offset >= 0))
        err = uc_context_alloc(uc, &u.ctx);
    if (!err && c->paging != HVT_ORC_PG_OFF) {
        /* unicorn 2.0.1 walks the page tables (checks, faults, A/D bits) but then accesses
         * physical = linear ("identity map guest virtual address", excp_helper.c), and
         * refuses linear addresses that are not mapped physical addresses. So each linear
         * page of the case is mirrored at its linear address with its frame's contents, and
         * copied back to the frame afterwards; other addresses get a dummy page so that the
         * walk (and its fault) happens at all. */
        uint64_t stub = hvt_orc_stub_la(c);
        for (unsigned i = 0; i < ORC_STUB_PAGES; i++)
            mirror(uc, stub + i * 0x1000ull, r->ram + ORC_STUB_PHYS + i * 0x1000ull);
        for (unsigned i = 0; i < c->n_pages; i++)
            if (c->pages[i].pa + 0x1000 <= ORC_STUB_PHYS)
                mirror(uc, c->pages[i].la, r->ram + c->pages[i].pa);
        uint64_t las[7] = {c->st.rip, c->st.rip + c->insn_len - 1, c->mem_la,
                           c->mem_la + 0x1000, c->stack_la, c->stack_la + 0x1000,
                           c->st.rip + 0x1000};
        for (unsigned i = 0; i < 7; i++)
            mirror(uc, las[i], NULL);
    }
    if (err) {
        snprintf(r->detail, sizeof(r->detail), "uc setup: %s", uc_strerror(err));
        goto out;
    }
    {
        const struct hvt_vcpu_state *st = &c->st;
        uint64_t cr0 = st->cr0, cr3 = st->cr3, cr4 = st->cr4;
        uc_x86_mmr gdtr = {0, st->gdtr.base, st->gdtr.limit, 0};
        if (c->bits == 64) {
            for (unsigned i = 0; i < 16; i++)
                uc_reg_write(uc, gpr64[i], &st->gpr[i]);
            uc_reg_write(uc, UC_X86_REG_FS_BASE, &st->seg[HVT_SEG_FS].base);
            uc_reg_write(uc, UC_X86_REG_GS_BASE, &st->seg[HVT_SEG_GS].base);
        } else {
            for (unsigned i = 0; i < 8; i++) {
                uint32_t v = (uint32_t)st->gpr[i];
                uc_reg_write(uc, gpr32[i], &v);
            }
        }
        uc_reg_write(uc, UC_X86_REG_CR3, &cr3);
        uc_reg_write(uc, UC_X86_REG_CR4, &cr4);
        uc_reg_write(uc, UC_X86_REG_CR0, &cr0);
        uc_reg_write(uc, UC_X86_REG_GDTR, &gdtr);
        if (st->flags & HVT_STATE_SIMD_VALID) {
            /* XMM0..7 (32-bit) or XMM0..15; unicorn has no YMM upper halves */
            for (unsigned i = 0; i < (c->bits == 64 ? 16u : 8u); i++)
                uc_reg_write(uc, UC_X86_REG_XMM0 + (int)i, st->ymm[i]);
            uint32_t mxcsr = st->mxcsr;
            uc_reg_write(uc, UC_X86_REG_MXCSR, &mxcsr);
        }
    }
    uc_hook_add(uc, &h1, UC_HOOK_CODE, (void *)hook_code, &u, 1, 0);
    uc_hook_add(uc, &h2, UC_HOOK_INTR, (void *)hook_intr, &u, 1, 0);
    uc_hook_add(uc, &h3, UC_HOOK_INSN_INVALID, (void *)hook_invalid, &u, 1, 0);
    uc_hook_add(uc, &h4, UC_HOOK_INSN, (void *)hook_in, &u, 1, 0, UC_X86_INS_IN);
    uc_hook_add(uc, &h5, UC_HOOK_INSN, (void *)hook_out, &u, 1, 0, UC_X86_INS_OUT);
    if (c->form < hvt_orc_nforms && hvt_orc_forms[c->form].kind == K_STR)
        /* unicorn 2.0.1 counts every iteration of a REP string instruction as one instruction
         * (QEMU re-enters it per iteration, RIP staying on it): count = stub + 1 would stop
         * after its first iteration. Run until RIP reaches the next instruction instead (a
         * fault stops in hook_intr); the count only bounds a runaway. */
        err = uc_emu_start(uc, hvt_orc_stub_la(c), c->st.rip + c->insn_len, 0, k + 100000);
    else
        err = uc_emu_start(uc, hvt_orc_stub_la(c), 1, 0, k + 1);

    if (getenv("HVT_ORC_DEBUG")) {
        uint64_t cr2 = 0, cr0 = 0;
        uc_reg_read(uc, UC_X86_REG_CR2, &cr2);
        uc_reg_read(uc, UC_X86_REG_CR0, &cr0);
        fprintf(stderr, "uc: err %s faulted %d int %u eip %#llx cr2 %#llx cr0 %#llx ec_offset %ld\n",
                uc_strerror(err), u.faulted, u.intno, (unsigned long long)u.eip,
                (unsigned long long)cr2, (unsigned long long)cr0, ec_offset);
        fprintf(stderr, "uc: cr2 in hook %#llx\n", (unsigned long long)u.cr2);
        if (u.ctx && ec_offset >= 0) {
            int32_t ec;
            memcpy(&ec, (uint8_t *)u.ctx + ec_offset, 4);
            fprintf(stderr, "uc: error code %#x\n", (unsigned)ec);
        }
    }
    /* the outcome */
    if (u.faulted && u.eip == u.target) {
        r->status = HVT_ORC_FAULT;
        r->vector = u.intno;
        if (u.intno == HVT_VEC_PF) {
            /* read in the hook: unicorn 2.0.1 no longer shows it once uc_emu_start returns */
            uint64_t cr2 = u.cr2;
            r->cr2 = c->bits == 32 ? (cr2 & 0xffffffffu) : cr2;
        }
        if (ctxbuf && u.ctx) {
            size_t n = uc_context_size(uc);
            memcpy(ctxbuf, u.ctx, n < ctxlen ? n : ctxlen);
        }
        if (ec_offset >= 0 && u.ctx && (u.intno == HVT_VEC_PF || u.intno == HVT_VEC_GP || u.intno == HVT_VEC_SS)) {
            int32_t ec;
            memcpy(&ec, (uint8_t *)u.ctx + ec_offset, 4);
            r->has_ec = 1;
            r->error_code = (uint32_t)ec;
        }
    } else if (u.started && (err == UC_ERR_OK || (err == UC_ERR_FETCH_UNMAPPED && !u.faulted))) {
        /* completed; a fetch error after it is the next instruction's (a branch target) */
        r->status = HVT_ORC_DONE;
    } else {
        snprintf(r->detail, sizeof(r->detail), "stub did not reach the instruction (%s, int %u at %#llx)",
                 uc_strerror(err), u.intno, (unsigned long long)u.eip);
        goto out;
    }
    if (c->bits == 64) {
        for (unsigned i = 0; i < 16; i++)
            uc_reg_read(uc, gpr64[i], &r->st.gpr[i]);
        uc_reg_read(uc, UC_X86_REG_RIP, &r->st.rip);
        uc_reg_read(uc, UC_X86_REG_RFLAGS, &r->st.rflags);
        int64_t s = (int64_t)r->st.rip >> (c->paging == HVT_ORC_PG_5L ? 56 : 47);
        r->noncanon_rip = s != 0 && s != -1;
    } else {
        for (unsigned i = 0; i < 8; i++) {
            uint32_t v = 0;
            uc_reg_read(uc, gpr32[i], &v);
            r->st.gpr[i] = v;
        }
        uint32_t v = 0;
        uc_reg_read(uc, UC_X86_REG_EIP, &v);
        r->st.rip = v;
        uc_reg_read(uc, UC_X86_REG_EFLAGS, &v);
        r->st.rflags = v;
    }
    if (c->st.flags & HVT_STATE_SIMD_VALID)
        for (unsigned i = 0; i < (c->bits == 64 ? 16u : 8u); i++)
            uc_reg_read(uc, UC_X86_REG_XMM0 + (int)i, r->st.ymm[i]); /* low 16 bytes */
    if (r->status == HVT_ORC_FAULT)
        r->st.rip = c->st.rip;
    uc_mem_read(uc, 0, r->ram, HVT_ORC_RAM_SIZE);
    if (c->paging != HVT_ORC_PG_OFF)
        for (unsigned i = 0; i < c->n_pages; i++)
            if (c->pages[i].pa + 0x1000 <= ORC_STUB_PHYS &&
                c->pages[i].la >= HVT_ORC_RAM_SIZE)
                uc_mem_read(uc, c->pages[i].la & ~0xfffull, r->ram + c->pages[i].pa, 0x1000);
out:
    if (u.ctx)
        uc_context_free(u.ctx);
    uc_close(uc);
    return 0;
}

int hvt_orc_unicorn_available(void)
{
    return 1;
}

int hvt_orc_unicorn_has_error_codes(void)
{
    if (ec_offset == -1)
        calibrate();
    return ec_offset >= 0;
}

int hvt_orc_run_unicorn(const struct hvt_orc_case *c, struct hvt_orc_result *r)
{
    if (!c || !r || !c->ram || !r->ram || (c->bits != 32 && c->bits != 64))
        return -HVT_E_INVALID;
    if (ec_offset == -1)
        calibrate();
    return run_uc(c, r, NULL, 0);
}

/*
 * Error codes: unicorn 2.0.1 does not deliver exceptions through the IDT and has no register
 * for the error code, but QEMU keeps it in env->error_code, which uc_context_save copies. Its
 * offset is found by running six page faults whose error codes are architecturally certain and
 * keeping the one offset where all six appear.
 */
static void calib_case(struct hvt_orc_case *c, unsigned cpl, int write, uint64_t pte_bits)
{
    static const uint8_t ld[] = {0x48, 0x8b, 0x03}, st[] = {0x48, 0x89, 0x03};
    const uint64_t leaf[3] = {pte_bits, 0x67, 0x67};
    hvt_orc_craft(c, 64, cpl, write ? st : ld, 3, leaf, 0x27);
    c->st.gpr[HVT_RBX] = 0x401000;
    c->st.gpr[HVT_RSP] = 0x403800;
}

static void calibrate(void)
{
    static const struct {
        unsigned cpl;
        int write;
        uint64_t bits;
        uint32_t ec;
    } probes[] = {
        {3, 0, 0x0, 0x4},  {3, 1, 0x25, 0x7}, {3, 1, 0x0, 0x6},
        {3, 0, 0x21, 0x5}, {0, 1, 0x25, 0x3}, {0, 0, 0x27 | (1ull << 51), 0x9},
    };
    enum { NP = sizeof(probes) / sizeof(probes[0]), CTX = 1 << 16 };
    struct hvt_orc_case c;
    struct hvt_orc_result r;
    uint8_t *ctx = calloc(NP, CTX);
    ec_offset = -2;
    if (!ctx || hvt_orc_case_init(&c) || hvt_orc_result_init(&r)) {
        free(ctx);
        hvt_orc_case_fini(&c);
        return;
    }
    for (unsigned i = 0; i < NP; i++) {
        calib_case(&c, probes[i].cpl, probes[i].write, probes[i].bits);
        run_uc(&c, &r, ctx + (size_t)i * CTX, CTX);
        if (r.status != HVT_ORC_FAULT || r.vector != HVT_VEC_PF)
            goto done;
    }
    for (size_t off = 0; off + 4 <= CTX; off += 4) {
        unsigned i;
        for (i = 0; i < NP; i++) {
            int32_t v;
            memcpy(&v, ctx + (size_t)i * CTX + off, 4);
            if ((uint32_t)v != probes[i].ec)
                break;
        }
        if (i == NP) {
            ec_offset = (long)off;
            break;
        }
    }
done:
    free(ctx);
    hvt_orc_case_fini(&c);
    hvt_orc_result_fini(&r);
}

#else /* !HVT_HAVE_UNICORN */

int hvt_orc_unicorn_available(void)
{
    return 0;
}

int hvt_orc_unicorn_has_error_codes(void)
{
    return 0;
}

int hvt_orc_run_unicorn(const struct hvt_orc_case *c, struct hvt_orc_result *r)
{
    (void)c, (void)r;
    return -HVT_E_UNSUPPORTED;
}

#endif
