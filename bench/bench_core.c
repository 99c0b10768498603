/* SPDX-License-Identifier: MIT */
/* hvtrace bench core: reference-core instructions per second on a mixed stream, 4-level paging. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_core_rep.h"
#include "hvtrace/core.h"
#include "hvtrace/error.h"

#ifdef HVT_HAVE_UNICORN
#include <unicorn/unicorn.h>
#endif

/*
 * The guest: 4-level paging (PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000), code at linear
 * 0x400000 (frame 0x10000), data at 0x401000 (0x11000), stack at 0x402000 (0x12000), CPL 0.
 * The code is a loop of the forms ending in JMP [rbx+0x800], which holds the loop's
 * start: every instruction walks the page tables and reaches memory through the ops table.
 */
#define RAM_SIZE 0x20000u
#define CODE_LA 0x400000ull
#define DATA_LA 0x401000ull
#define STACK_LA 0x402000ull

static const uint8_t stream[] = {
    0x48, 0x89, 0x03,             /* mov [rbx], rax */
    0x48, 0x8b, 0x4b, 0x08,       /* mov rcx, [rbx+8] */
    0x48, 0x01, 0x43, 0x10,       /* add [rbx+0x10], rax */
    0x48, 0x2b, 0x53, 0x18,       /* sub rdx, [rbx+0x18] */
    0x83, 0x73, 0x20, 0x5a,       /* xor dword [rbx+0x20], 0x5a */
    0x48, 0x21, 0x4b, 0x28,       /* and [rbx+0x28], rcx */
    0x0b, 0x43, 0x30,             /* or eax, [rbx+0x30] */
    0x48, 0x39, 0x43, 0x38,       /* cmp [rbx+0x38], rax */
    0xf6, 0x43, 0x40, 0x01,       /* test byte [rbx+0x40], 1 */
    0x48, 0xff, 0x43, 0x48,       /* inc qword [rbx+0x48] */
    0xff, 0x4b, 0x50,             /* dec dword [rbx+0x50] */
    0x48, 0xf7, 0x53, 0x58,       /* not qword [rbx+0x58] */
    0xf7, 0x5b, 0x60,             /* neg dword [rbx+0x60] */
    0x48, 0x0f, 0xaf, 0x4b, 0x68, /* imul rcx, [rbx+0x68] */
    0x48, 0x87, 0x53, 0x70,       /* xchg [rbx+0x70], rdx */
    0xf0, 0x48, 0x0f, 0xb1, 0x4b, 0x78, /* lock cmpxchg [rbx+0x78], rcx */
    0xf0, 0x0f, 0xc1, 0x83, 0x80, 0, 0, 0, /* lock xadd [rbx+0x80], eax */
    0x0f, 0xba, 0x6b, 0x08, 0x05, /* bts dword [rbx+8], 5 */
    0x48, 0x0f, 0xa3, 0x4b, 0x10, /* bt [rbx+0x10], rcx */
    0x48, 0xd1, 0x63, 0x18,       /* shl qword [rbx+0x18], 1 */
    0xc1, 0x7b, 0x20, 0x03,       /* sar dword [rbx+0x20], 3 */
    0x48, 0xd3, 0x43, 0x28,       /* rol qword [rbx+0x28], cl */
    0x0f, 0x94, 0x43, 0x30,       /* sete [rbx+0x30] */
    0x48, 0x0f, 0x45, 0x53, 0x38, /* cmovne rdx, [rbx+0x38] */
    0x48, 0x0f, 0xb6, 0x73, 0x40, /* movzx rsi, byte [rbx+0x40] */
    0x48, 0x0f, 0xbf, 0x7b, 0x48, /* movsx rdi, word [rbx+0x48] */
    0x48, 0x63, 0x73, 0x50,       /* movsxd rsi, dword [rbx+0x50] */
    0x50,                         /* push rax */
    0x59,                         /* pop rcx */
    0xff, 0x73, 0x58,             /* push qword [rbx+0x58] */
    0x8f, 0x43, 0x60,             /* pop qword [rbx+0x60] */
    0xff, 0xa3, 0x00, 0x08, 0, 0, /* jmp [rbx+0x800] */
};
#define STREAM_INSNS 31u

static void guest(struct hvt_ram *r, struct hvt_vcpu_state *st)
{
    memset(r->mem, 0, RAM_SIZE);
    hvt_ram_put64(r, 0x1000, 0x2000 | 0x27);
    hvt_ram_put64(r, 0x2000, 0x3000 | 0x27);
    hvt_ram_put64(r, 0x3000 + 2 * 8, 0x4000 | 0x27);
    hvt_ram_put64(r, 0x4000, 0x10000 | 0x27);
    hvt_ram_put64(r, 0x4008, 0x11000 | 0x67);
    hvt_ram_put64(r, 0x4010, 0x12000 | 0x67);
    memcpy(r->mem + 0x10000, stream, sizeof(stream));
    hvt_ram_put64(r, 0x11800, CODE_LA);
    memset(st, 0, sizeof(*st));
    st->cr0 = 0x80010031;
    st->cr3 = 0x1000;
    st->cr4 = 0x20;
    st->efer = 0x500;
    st->rflags = 2;
    st->rip = CODE_LA;
    st->gpr[3] = DATA_LA;          /* rbx */
    st->gpr[4] = STACK_LA + 0x800; /* rsp */
    st->gpr[0] = 0x1234;
    st->gpr[1] = 7;
    st->seg[1].sel = 8;
    st->seg[1].attr = 0xb | 0x10 | 0x80 | 0x200 | 0x800; /* 64-bit code, DPL 0 */
    st->seg[1].limit = 0xffffffffu;
    for (int s = 0; s < 6; s++) {
        if (s == 1)
            continue;
        st->seg[s].sel = 0x10;
        st->seg[s].attr = 0x3 | 0x10 | 0x80 | 0x400 | 0x800;
        st->seg[s].limit = 0xffffffffu;
    }
}

/* Runs N instructions; returns seconds, or -1 when the core stops with anything but OKAY. */
static double run(struct hvt_core *core, struct hvt_ram *r, uint64_t n, char *why, size_t whylen)
{
    struct hvt_vcpu_state st;
    struct hvt_core_result res;
    guest(r, &st);
    double t0 = hvt_bench_now();
    for (uint64_t i = 0; i < n; i++) {
        if (hvt_core_emulate(core, &st, &hvt_ram_ops, r, &res) < 0 || res.out.kind != HVT_OUT_OKAY) {
            snprintf(why, whylen, "instruction %llu at rip %#llx: outcome %s (%s)",
                     (unsigned long long)i, (unsigned long long)st.rip,
                     hvt_outcome_name(res.out.kind), res.detail);
            return -1;
        }
    }
    return hvt_bench_now() - t0;
}

#ifdef HVT_HAVE_UNICORN
/* Unicorn on the same stream: the loop's bytes at CODE_LA, its data and stack pages, every
 * memory read and write through a hook (what an emulator does to reach a device model), the
 * loop counted by a hook on its first instruction alone. Unicorn's 64-bit mode starts with
 * paging off and linear = physical, and its soft TLB caches translations: it does no page walk
 * per access, where the reference core walks 4 levels for every one. */
struct uc_count {
    uint64_t ops, loops, max_loops;
};

static void uc_mem_hook(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value,
                        void *arg)
{
    struct uc_count *c = arg;
    (void)uc, (void)type, (void)addr, (void)size, (void)value;
    c->ops++;
}

static void uc_loop_hook(uc_engine *uc, uint64_t addr, uint32_t size, void *arg)
{
    struct uc_count *c = arg;
    (void)addr, (void)size;
    if (++c->loops > c->max_loops)
        uc_emu_stop(uc);
}

/* Instructions per second of unicorn on N instructions of the stream (0 when it cannot run),
 * and its memory hook calls per instruction in *OPS. */
static double unicorn_rate(uint64_t n, double *ops, char *why, size_t whylen)
{
    uc_engine *uc;
    uc_hook h1, h2;
    struct uc_count c = {0, 0, n / STREAM_INSNS};
    uint8_t page[0x1000];
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK) {
        snprintf(why, whylen, "uc_open failed");
        return 0;
    }
    uc_err err = uc_mem_map(uc, CODE_LA, 0x3000, UC_PROT_ALL);
    memset(page, 0, sizeof(page));
    memcpy(page, stream, sizeof(stream));
    if (!err)
        err = uc_mem_write(uc, CODE_LA, page, sizeof(page));
    uint64_t target = CODE_LA, rbx = DATA_LA, rsp = STACK_LA + 0x800, rax = 0x1234, rcx = 7;
    if (!err)
        err = uc_mem_write(uc, DATA_LA + 0x800, &target, 8);
    uc_reg_write(uc, UC_X86_REG_RBX, &rbx);
    uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
    uc_reg_write(uc, UC_X86_REG_RAX, &rax);
    uc_reg_write(uc, UC_X86_REG_RCX, &rcx);
    if (!err)
        err = uc_hook_add(uc, &h1, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, (void *)uc_mem_hook, &c,
                          1, 0);
    if (!err)
        err = uc_hook_add(uc, &h2, UC_HOOK_CODE, (void *)uc_loop_hook, &c, CODE_LA, CODE_LA);
    double t = 0;
    if (!err) {
        double t0 = hvt_bench_now();
        err = uc_emu_start(uc, CODE_LA, CODE_LA + 0x1000, 0, 0);
        t = hvt_bench_now() - t0;
    }
    uc_close(uc);
    if (err || c.loops <= c.max_loops || t <= 0) {
        snprintf(why, whylen, "unicorn: %s after %llu loops", err ? uc_strerror(err) : "stopped",
                 (unsigned long long)c.loops);
        return 0;
    }
    uint64_t insns = (c.loops - 1) * STREAM_INSNS;
    *ops = (double)c.ops / (double)insns;
    return (double)insns / t;
}
#endif

int hvt_bench_core(int argc, char **argv)
{
    int json = 0;
    struct hvt_core *core = NULL;
    struct hvt_ram r = {.mem = NULL, .size = RAM_SIZE};
    char why[160] = "";
    uint64_t n = 2000000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--insns") && i + 1 < argc) {
            n = strtoull(argv[++i], NULL, 0);
        } else {
            fprintf(stderr, "usage: hvtrace bench core [--json] [--insns N]\n");
            return !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ? 0 : 2;
        }
    }
    if (hvt_core_open(&core, HVT_CORE_REF, NULL, 0) < 0) {
        fprintf(stderr, "hvtrace: bench core: cannot open the reference core\n");
        return 2;
    }
    r.mem = malloc(RAM_SIZE);
    if (!r.mem) {
        hvt_core_close(core);
        return 2;
    }
    struct hvt_bench_report *rep = hvt_bench_report_new("core", json);
    /* warm: one loop so that the decode cache holds every form; then the timed run */
    double t = run(core, &r, STREAM_INSNS * 4, why, sizeof(why));
    struct hvt_core_stats s0 = {0, 0}, s1 = {0, 0};
    int have_stats = hvt_core_stats(core, &s0) == 0;
    if (t >= 0) {
        r.ops = 0;
        t = run(core, &r, n, why, sizeof(why));
    }
    have_stats = have_stats && hvt_core_stats(core, &s1) == 0;
    if (t < 0) {
        hvt_bench_text(rep, "error", why);
        hvt_bench_report_done(rep);
        free(r.mem);
        hvt_core_close(core);
        return 1;
    }
    double ops_per_insn = (double)r.ops / (double)n;
    hvt_bench_figure(rep, "insns_per_s", (double)n / t,
                     "4-level paging, decode cache warm, every access through the ops table "
                     "(target >= 2e6)");
    hvt_bench_figure(rep, "ns_per_insn", t * 1e9 / (double)n, NULL);
    hvt_bench_figure(rep, "ops_per_insn", ops_per_insn, "walk reads, fetches, data, A/D");
    hvt_bench_figure(rep, "stream_forms", STREAM_INSNS, "distinct encodings in the loop");
    /* measured over the timed run through the core's counters (hvt_core_stats) */
    uint64_t lookups = (s1.decode_hits - s0.decode_hits) + (s1.decode_misses - s0.decode_misses);
    if (have_stats && lookups)
        hvt_bench_figure(rep, "decode_cache_hit_rate",
                         (double)(s1.decode_hits - s0.decode_hits) / (double)lookups,
                         "hits / lookups over the timed run (hvt_core_stats)");
    double rep_bps = 0;
    int rrc = hvt_core_bench_rep_movsb(0.3, &rep_bps);
    if (rrc == 0)
        hvt_bench_figure(rep, "rep_bytes_per_s", rep_bps,
                         "REP MOVSB, RAM-to-RAM 4 KiB copies, one read and one write op per byte");
    else
        hvt_bench_text(rep, "rep_error", hvt_strerror(rrc));
#ifdef HVT_HAVE_UNICORN
    {
        double uops = 0, core_rate = (double)n / t;
        char uwhy[160] = "";
        /* the core's rate again, right before unicorn's: the two side by side in time */
        double t2 = run(core, &r, n, why, sizeof(why));
        if (t2 > 0)
            core_rate = (double)n / t2;
        double urate = unicorn_rate(n, &uops, uwhy, sizeof(uwhy));
        if (urate > 0) {
            hvt_bench_figure(rep, "unicorn_insns_per_s", urate,
                             "unicorn 64-bit, same stream, memory read/write hooks, no page walks");
            hvt_bench_figure(rep, "unicorn_hook_calls_per_insn", uops, NULL);
            hvt_bench_figure(rep, "core_vs_unicorn", core_rate / urate,
                             "reference core insns_per_s / unicorn's, measured back to back");
        } else {
            hvt_bench_text(rep, "unicorn_error", uwhy);
        }
    }
#endif
    if (hvt_core_set_option(core, "decode-cache", "0") == 0) {
        uint64_t nc = n / 4 ? n / 4 : 1;
        double tc = run(core, &r, nc, why, sizeof(why));
        if (tc > 0)
            hvt_bench_figure(rep, "insns_per_s_cold", (double)nc / tc,
                             "decode cache off: capstone on every instruction");
    }
    hvt_bench_report_done(rep);
    free(r.mem);
    hvt_core_close(core);
    return 0;
}
