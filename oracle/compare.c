/* SPDX-License-Identifier: MIT */
/* Oracle: compares the core's outcome with unicorn's, excluding known deviations by name. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "orc_internal.h"

static const char *const dev_names[HVT_ORC_DEV__COUNT] = {
    "none",
    "qemu-no-seg-checks",
    "qemu-a-bits-on-faulting-walk",
    "qemu-noncanonical-branch",
    "qemu-noncanonical-stack-gp",
    "qemu-rmw-pf-as-read",
    "qemu-ret-imm16-signed",
    "qemu-lock-neg-flags",
    "qemu-rcl-rcr-flags-on-fault",
    "qemu-cmpxchg32-zero-extends-rax",
    "qemu-translation-lookahead",
    "core-split-lock-unhandleable",
    "qemu-no-sse-alignment-check",
    "qemu-walk-before-alignment-gp",
    "qemu-sse-split-partial",
    "qemu-sse-ud-nm-before-fetch",
    "qemu-sse-nm-before-ud",
};

const char *hvt_orc_deviation_name(unsigned dev)
{
    return dev < HVT_ORC_DEV__COUNT ? dev_names[dev] : "?";
}

static const char *const gpr_names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                          "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

struct out {
    char *buf;
    size_t len, pos;
    int n;
};

static void say(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct out *o, const char *fmt, ...)
{
    va_list ap;
    o->n++;
    if (!o->buf || o->pos >= o->len)
        return;
    va_start(ap, fmt);
    int k = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
    va_end(ap);
    if (k > 0)
        o->pos += (size_t)k < o->len - o->pos ? (size_t)k : o->len - o->pos - 1;
}

static const char *status_name(int s)
{
    static const char *const n[] = {"completed", "fault", "UNIMPLEMENTED", "UNHANDLEABLE",
                                    "RETRY", "harness error"};
    return s >= 0 && s <= HVT_ORC_HARNESS ? n[s] : "?";
}

static void outcome(char *b, size_t n, const struct hvt_orc_result *r)
{
    if (r->status == HVT_ORC_FAULT) {
        char ec[24] = "";
        if (r->has_ec)
            snprintf(ec, sizeof(ec), " ec=%#x", r->error_code);
        if (r->vector == HVT_VEC_PF)
            snprintf(b, n, "fault vector %u%s cr2=%#llx", r->vector, ec,
                     (unsigned long long)r->cr2);
        else
            snprintf(b, n, "fault vector %u%s", r->vector, ec);
    } else {
        snprintf(b, n, "%s%s%s", status_name(r->status), r->detail[0] ? ": " : "", r->detail);
    }
}

/* Forms that read and write their memory operand (a fault is taken with write intent). */
static int is_rmw(const struct orc_form *f)
{
    if (!strcmp(f->mnem, "mov") || !strcmp(f->mnem, "test") || !strcmp(f->mnem, "cmp") ||
        !strcmp(f->mnem, "bt") || !strcmp(f->mnem, "setcc"))
        return 0;
    switch (f->kind) {
    case K_RM_R:
    case K_RM_IMM:
    case K_RM_IMM8:
    case K_RM_1:
    case K_RM_CL:
    case K_BT_IMM:
    case K_BT_R:
    case K_CX8: /* a locked cycle or a write of the old value: write intent either way */
        return 1;
    case K_RM:
        return f->ext <= 3; /* inc dec not neg */
    default:
        return 0;
    }
}

/* The branch target a CALL/JMP m or RET reads is non-canonical (the CPU faults before any
 * push; QEMU pushes, jumps, and faults later). */
static int noncanon_target(const struct hvt_orc_case *c, const struct orc_form *f)
{
    uint64_t t = 0;
    uint64_t la = f->kind == K_BRANCH_M ? c->mem_la : c->stack_la;
    if (hvt_orc_case_read(c, la, &t, 8))
        return 0;
    int64_t s = (int64_t)t >> (c->paging == HVT_ORC_PG_5L ? 56 : 47);
    return s != 0 && s != -1;
}

static int is_fault(const struct hvt_orc_result *r, unsigned vec)
{
    return r->status == HVT_ORC_FAULT && r->vector == vec;
}

int hvt_orc_compare(const struct hvt_orc_case *c, const struct hvt_orc_result *ref,
                    const struct hvt_orc_result *uc, char *diff, size_t difflen, unsigned *dev)
{
    struct out o = {diff, difflen, 0, 0};
    const struct orc_form *f = &hvt_orc_forms[c->form < hvt_orc_nforms ? c->form : 0];
    unsigned applied = HVT_ORC_DEV_NONE;
    char a[128], b[128];
    int ec_w_only = 0;
    unsigned msz = f->kind == K_CX8 ? 2 * c->opsize : c->opsize; /* memory operand bytes */
    if (diff && difflen)
        diff[0] = 0;
    if (dev)
        *dev = HVT_ORC_DEV_NONE;

    outcome(a, sizeof(a), ref);
    outcome(b, sizeof(b), uc);
    if (ref->status == HVT_ORC_UNHANDLEABLE && (c->provoked & HVT_ORC_P_SPLIT) &&
        ((c->insn_len && memchr(c->insn, 0xf0, c->insn_len)) || !strcmp(f->mnem, "xchg")) &&
        strstr(ref->detail, "split") &&
        !memcmp(ref->ram, c->ram, ORC_PT_LO)) {
        /* by contract (core/mmu.h): a LOCKed operand split across pages is UNHANDLEABLE */
        if (dev)
            *dev = HVT_ORC_DEV_CORE_SPLIT_LOCK;
        return 2;
    }
    if (ref->status == HVT_ORC_HARNESS || uc->status == HVT_ORC_HARNESS ||
        ref->status == HVT_ORC_UNIMPLEMENTED || ref->status == HVT_ORC_UNHANDLEABLE ||
        ref->status == HVT_ORC_RETRY) {
        say(&o, "outcome: core %s; unicorn %s\n", a, b);
        return 1;
    }

    /* outcome-level deviations: unicorn's state is not comparable, the core's is checked */
    unsigned odev = HVT_ORC_DEV_NONE;
    if ((c->provoked & HVT_ORC_P_SEG_LIMIT) && (is_fault(ref, 13) || is_fault(ref, 12)) &&
        ref->error_code == 0 && !(uc->status == HVT_ORC_FAULT && uc->vector == ref->vector))
        odev = HVT_ORC_DEV_SEG_CHECKS;
    else if (is_fault(ref, 13) && ref->error_code == 0 && c->bits == 64 &&
             (f->kind == K_BRANCH_M || f->kind == K_RET || f->kind == K_RET_IMM) &&
             (uc->noncanon_rip || noncanon_target(c, f)))
        odev = HVT_ORC_DEV_NONCANON_BRANCH;
    else if ((c->provoked & HVT_ORC_P_NONCANON) && is_fault(ref, 12) && is_fault(uc, 13) &&
             ref->error_code == 0)
        odev = HVT_ORC_DEV_NONCANON_STACK;
    else if (ref->status == HVT_ORC_DONE && is_fault(uc, 14) &&
             uc->cr2 == ((c->st.rip + c->insn_len - 1) | 0xfffull) + 1)
        odev = HVT_ORC_DEV_LOOKAHEAD; /* the page after the instruction: never fetched */
    else if (f->kind >= K_SSE_LD && f->align && is_fault(ref, 13) && ref->error_code == 0 &&
             (c->mem_la & 15) && !is_fault(uc, 13))
        odev = HVT_ORC_DEV_SSE_ALIGN; /* QEMU 5.0 does not check SSE alignment */
    else if (f->kind >= K_SSE_LD && is_fault(ref, 6) && is_fault(uc, 7) &&
             (c->st.cr0 & HVT_CR0_TS) &&
             (!(c->st.cr4 & HVT_CR4_OSFXSR) || (c->st.cr0 & HVT_CR0_EM)))
        odev = HVT_ORC_DEV_SSE_NM_BEFORE_UD; /* SDM vol. 3 table 13-1: #UD wins */
    else if (f->kind >= K_SSE_LD && is_fault(ref, 14) && (is_fault(uc, 6) || is_fault(uc, 7)) &&
             (c->provoked & HVT_ORC_P_CODE_SPLIT) &&
             ref->cr2 == ((c->st.rip | 0xfffull) + 1) &&
             ((c->st.cr0 & (HVT_CR0_TS | HVT_CR0_EM)) || !(c->st.cr4 & HVT_CR4_OSFXSR)))
        /* the CPU fetches the whole instruction (a code #PF outranks #UD/#NM); QEMU raises
         * them at translation, before reading the bytes on the next page */
        odev = HVT_ORC_DEV_SSE_UD_NM_A_BITS;
    if (odev) {
        /* a fault leaves everything as it was (LOOKAHEAD: the core completed, nothing to
         * compare with) */
        if (ref->status == HVT_ORC_FAULT &&
            (memcmp(&ref->st.gpr, &c->st.gpr, sizeof(c->st.gpr)) || ref->st.rip != c->st.rip ||
             ref->st.rflags != c->st.rflags))
            say(&o, "core changed registers although it raised vector %u\n", ref->vector);
        /* (paging structures may have changed: the instruction fetch sets A bits) */
        for (uint64_t i = 0; ref->status == HVT_ORC_FAULT && i < ORC_PT_LO; i += 8)
            if (memcmp(ref->ram + i, c->ram + i, 8)) {
                say(&o, "core changed memory at %#llx although it raised vector %u\n",
                    (unsigned long long)i, ref->vector);
                break;
            }
        if (o.n)
            return 1;
        if (dev)
            *dev = odev;
        return 2;
    }

    if (ref->status != uc->status || (ref->status == HVT_ORC_FAULT && ref->vector != uc->vector)) {
        say(&o, "outcome: core %s; unicorn %s\n", a, b);
    } else if (ref->status == HVT_ORC_FAULT) {
        /* QEMU runs a read-modify-write as a load then a store: a fault is taken by the load
         * (W = 0), on the operand's second page when only the first is read-only. The core
         * (and hardware) check the whole operand for writing first. */
        if (ref->vector == HVT_VEC_PF && uc->has_ec && is_rmw(f) && (ref->error_code & 2) &&
            !(uc->error_code & 2) && ref->cr2 - c->mem_la < msz &&
            uc->cr2 - c->mem_la < msz &&
            ((ref->error_code ^ uc->error_code) & ~0xbu) == 0)
            ec_w_only = 1;
        if (ref->vector == HVT_VEC_PF && uc->has_ec && is_rmw(f) &&
            (ref->error_code ^ uc->error_code) == 2 && (ref->error_code & 2) &&
            ref->cr2 == uc->cr2)
            ec_w_only = 1;
        if (!ec_w_only && ref->vector == HVT_VEC_PF && ref->cr2 != uc->cr2)
            say(&o, "cr2: core %#llx; unicorn %#llx\n", (unsigned long long)ref->cr2,
                (unsigned long long)uc->cr2);
        if (!ec_w_only && uc->has_ec && ref->error_code != uc->error_code)
            say(&o, "error code: core %#x; unicorn %#x\n", ref->error_code, uc->error_code);
        if (ec_w_only)
            applied = HVT_ORC_DEV_RMW_PF_READ;
    }

    /* registers */
    unsigned ngpr = c->bits == 64 ? 16 : 8;
    uint64_t m = c->bits == 64 ? ~0ull : 0xffffffffull;
    int locked = c->insn_len && memchr(c->insn, 0xf0, c->insn_len) != NULL;
    for (unsigned i = 0; i < ngpr; i++) {
        uint64_t d = (ref->st.gpr[i] - uc->st.gpr[i]) & m;
        if (i == 4 && f->kind == K_RET_IMM && ref->status == HVT_ORC_DONE &&
            c->insn[c->insn_len - 1] >= 0x80 &&
            d == (c->bits == 64 ? 0x10000ull : 0x10000ull)) {
            /* QEMU sign-extends RET's imm16 (the CPU does not: checked natively) */
            applied = HVT_ORC_DEV_RET_IMM16;
            continue;
        }
        if (i == 0 && c->bits == 64 && c->opsize == 4 && !strcmp(f->mnem, "cmpxchg") &&
            ref->status == HVT_ORC_DONE && (ref->st.rflags & HVT_RFLAGS_ZF) &&
            uc->st.gpr[0] == (ref->st.gpr[0] & 0xffffffffu) && ref->st.gpr[0] == c->st.gpr[0]) {
            /* success leaves RAX alone (checked natively); QEMU zero-extends EAX anyway */
            applied = HVT_ORC_DEV_CMPXCHG32_RAX;
            continue;
        }
        if ((ref->st.gpr[i] & m) != (uc->st.gpr[i] & m))
            say(&o, "%s: core %#llx; unicorn %#llx (before %#llx)\n", gpr_names[i],
                (unsigned long long)ref->st.gpr[i], (unsigned long long)uc->st.gpr[i],
                (unsigned long long)c->st.gpr[i]);
    }
    if (c->bits == 32) {
        for (unsigned i = 0; i < 16; i++)
            if ((ref->st.gpr[i] & ~m) != (c->st.gpr[i] & ~m) || (i >= 8 && ref->st.gpr[i] != c->st.gpr[i]))
                say(&o, "%s: core changed bits 32-bit mode cannot reach (%#llx, before %#llx)\n",
                    gpr_names[i], (unsigned long long)ref->st.gpr[i],
                    (unsigned long long)c->st.gpr[i]);
    }
    /* SIMD registers: XMM against unicorn; what unicorn cannot hold (bits 255:128, and XMM8..15
     * in 32-bit mode) the core must leave as it was (legacy SSE keeps them) */
    unsigned nx = c->bits == 64 ? 16 : 8;
    /* a 16-byte SSE operand across pages whose second page faults on both */
    int sse_split = f->kind >= K_SSE_LD && f->msize == 16 && is_fault(ref, 14) &&
                    is_fault(uc, 14) && ref->cr2 == uc->cr2 &&
                    ref->cr2 == (c->mem_la | 0xfffull) + 1 && ref->cr2 - c->mem_la < 16;
    uint64_t op_pa = UINT64_MAX; /* physical address of the operand's first byte */
    for (unsigned j = 0; j < c->n_pages && sse_split; j++)
        if (c->pages[j].la == (c->mem_la & ~0xfffull))
            op_pa = c->pages[j].pa + (c->mem_la & 0xfff);
    if (sse_split && c->paging == HVT_ORC_PG_OFF)
        op_pa = c->mem_la;
    for (unsigned i = 0; i < 16; i++) {
        if (i < nx && (c->st.flags & HVT_STATE_SIMD_VALID) && sse_split &&
            !memcmp(ref->st.ymm[i], c->st.ymm[i], 16) &&
            !memcmp(uc->st.ymm[i] + 8, c->st.ymm[i] + 8, 8)) {
            applied = HVT_ORC_DEV_SSE_SPLIT_PARTIAL; /* QEMU loaded the first half */
            continue;
        }
        if (i < nx && (c->st.flags & HVT_STATE_SIMD_VALID) &&
            memcmp(ref->st.ymm[i], uc->st.ymm[i], 16)) {
            uint64_t x[2], y[2];
            memcpy(x, ref->st.ymm[i], 16);
            memcpy(y, uc->st.ymm[i], 16);
            say(&o, "xmm%u: core %016llx%016llx; unicorn %016llx%016llx\n", i,
                (unsigned long long)x[1], (unsigned long long)x[0], (unsigned long long)y[1],
                (unsigned long long)y[0]);
        }
        unsigned from = i < nx && (c->st.flags & HVT_STATE_SIMD_VALID) ? 16 : 0;
        if (memcmp(ref->st.ymm[i] + from, c->st.ymm[i] + from, 32 - from))
            say(&o, "ymm%u: core changed bits %u..255, which it must keep\n", i, from * 8);
    }
    /* port I/O (INS/OUTS): the same accesses in the same order, the same values written */
    if (ref->io_n != uc->io_n) {
        say(&o, "port accesses: core %u; unicorn %u\n", ref->io_n, uc->io_n);
    } else {
        for (unsigned i = 0; i < ref->io_n && i < HVT_ORC_IO_LOG; i++) {
            const struct hvt_orc_io *p = &ref->io[i], *q = &uc->io[i];
            if (p->port != q->port || p->size != q->size || p->out != q->out ||
                p->value != q->value) {
                say(&o, "port access %u: core %s %#x/%u = %#x; unicorn %s %#x/%u = %#x\n", i,
                    p->out ? "out" : "in", p->port, p->size, p->value, q->out ? "out" : "in",
                    q->port, q->size, q->value);
                break;
            }
        }
    }
    if ((ref->st.rip & m) != (uc->st.rip & m))
        say(&o, "rip: core %#llx; unicorn %#llx (before %#llx)\n", (unsigned long long)ref->st.rip,
            (unsigned long long)uc->st.rip, (unsigned long long)c->st.rip);
    uint64_t fm = 0x3f7fd7ull & ~(ref->status == HVT_ORC_DONE ? c->flags_undef : 0);
    if ((ref->st.rflags & fm) != (uc->st.rflags & fm) && !strcmp(f->name, "neg m") && locked &&
        !(((ref->st.rflags ^ uc->st.rflags) & fm) & ~0xc4ull))
        applied = HVT_ORC_DEV_LOCK_NEG_FLAGS; /* only SF ZF PF differ */
    else if ((ref->st.rflags & fm) != (uc->st.rflags & fm))
        say(&o, "rflags: core %#llx; unicorn %#llx (before %#llx, compared %#llx)\n",
            (unsigned long long)ref->st.rflags, (unsigned long long)uc->st.rflags,
            (unsigned long long)c->st.rflags, (unsigned long long)fm);

    /* memory: everything but the stub's region, 8 bytes at a time */
    int shown = 0;
    int pf = is_fault(ref, 14) || is_fault(uc, 14);
    for (uint64_t i = 0; i < ORC_STUB_PHYS; i += 8) {
        uint64_t x, y, w;
        if (!memcmp(ref->ram + i, uc->ram + i, 8))
            continue;
        memcpy(&x, ref->ram + i, 8);
        memcpy(&y, uc->ram + i, 8);
        memcpy(&w, c->ram + i, 8);
        int pt = i >= ORC_PT_LO && i < ORC_PT_HI;
        uint64_t abits = c->paging == HVT_ORC_PG_2L || c->paging == HVT_ORC_PG_2L_PSE
                             ? 0x0000002000000020ull
                             : 0x20ull;
        uint64_t dbits = abits << 1;
        /* with the RMW deviation, the core's write-intent translation of the first page set
         * its D bit before the second page faulted; QEMU's load never sets D */
        if (pt && ec_w_only && !((x ^ y) & ~(abits | dbits)) && !(y & ~x))
            continue;
        /* an instruction that ends at a page end: unicorn's read-ahead walks the next page */
        if (pt && ((c->st.rip + c->insn_len) & 0xfff) == 0 && !((x ^ y) & ~abits) &&
            !(x & ~y)) {
            if (!applied)
                applied = HVT_ORC_DEV_LOOKAHEAD;
            continue;
        }
        if (!pt && sse_split && f->kind == K_SSE_ST && x == w && i + 8 > op_pa &&
            i < (op_pa | 0xfff) + 1) {
            applied = HVT_ORC_DEV_SSE_SPLIT_PARTIAL; /* QEMU stored the first half */
            continue;
        }
        if (pt && f->kind >= K_SSE_LD && ref->status == HVT_ORC_FAULT &&
            (is_fault(ref, 6) || is_fault(ref, 7)) && is_fault(uc, ref->vector) &&
            !((x ^ y) & ~abits)) {
            if (!applied)
                applied = HVT_ORC_DEV_SSE_UD_NM_A_BITS;
            continue;
        }
        if (pt && f->kind == K_CX8 && is_fault(ref, 13) && is_fault(uc, 13) &&
            (c->mem_la & 15) && !((x ^ y) & ~abits) && !(x & ~y)) {
            if (!applied)
                applied = HVT_ORC_DEV_WALK_BEFORE_ALIGN;
            continue;
        }
        if (pt && pf && !((x ^ y) & ~abits) && !(x & ~y)) {
            if (!applied)
                applied = HVT_ORC_DEV_AD_ON_FAULT;
            continue;
        }
        if (shown++ < 6)
            say(&o, "memory %#llx (%s): core %#018llx; unicorn %#018llx (before %#018llx)\n",
                (unsigned long long)i, pt ? "paging structure" : "data", (unsigned long long)x,
                (unsigned long long)y, (unsigned long long)w);
        else
            o.n++;
    }
    /* QEMU computes RCL/RCR flags in a helper before the store: a faulting store leaves them */
    if (ref->status == HVT_ORC_FAULT && uc->status == HVT_ORC_FAULT && o.n == 1 &&
        (!strcmp(f->mnem, "rcl") || !strcmp(f->mnem, "rcr")) &&
        (ref->st.rflags & fm) != (uc->st.rflags & fm) &&
        !(((ref->st.rflags ^ uc->st.rflags) & fm) & ~0x801ull)) {
        o.n = 0;
        o.pos = 0;
        if (o.buf && o.len)
            o.buf[0] = 0;
        applied = HVT_ORC_DEV_RCX_FLAGS_ON_FAULT;
    }
    if (o.n && ref->status == uc->status)
        say(&o, "(both: core %s; unicorn %s)\n", a, b);
    if (o.n)
        return 1;
    if (applied) {
        if (dev)
            *dev = applied;
        return 2;
    }
    return 0;
}
