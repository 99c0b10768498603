/* SPDX-License-Identifier: MIT */
/* hvtrace bench record: recorder hot-path cost and the overhead of recording an emulation
 * workload: the simulated host's `mixed` scenario (the headline figures), and a loop where the
 * reference core emulates and records every instruction (the *_core_only figures). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "hvtrace/core.h"
#include "hvtrace/host.h"
#include "hvtrace/recorder.h"

/* Architectural bits the workload's vCPU state needs (public values, not core internals). */
#define CR0_PE (1ull << 0)
#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define PTE_P 1ull
#define PTE_RW 2ull

#define RAM_BYTES (4u << 20)
#define CODE_GPA 0x10000ull
#define DATA_GPA 0x200000ull
#define STACK_TOP 0x300000ull

/* zstd level of every recording (--level); 0 = the recorder's default. */
static int g_level;

/* ---- the workload on a guest RAM (struct hvt_ram) ------------------------------- */

/* The loop of memory instructions the workload emulates, ending with a jump back. */
static const uint8_t loop_code[] = {
    0x48, 0x8b, 0x03,       /* mov rax, [rbx] */
    0x48, 0x89, 0x43, 0x08, /* mov [rbx+8], rax */
    0x48, 0x01, 0x43, 0x10, /* add [rbx+16], rax */
    0x48, 0x8b, 0x4b, 0x18, /* mov rcx, [rbx+24] */
    0x50,                   /* push rax */
    0x5a,                   /* pop rdx */
    0x48, 0xff, 0x43, 0x20, /* inc qword [rbx+32] */
    0xeb, 0x00,             /* jmp loop (displacement patched) */
};

static int wram_init(struct hvt_ram *r, struct hvt_vcpu_state *st)
{
    r->size = RAM_BYTES;
    r->ops = 0;
    r->mem = calloc(1, RAM_BYTES);
    if (!r->mem)
        return -1;
    /* 4-level paging: identity map of 0..4 MiB with 4 KiB pages (PML4 0x1000, PDPT 0x2000,
     * PD 0x3000, PTs 0x4000 and 0x5000). */
    hvt_ram_put64(r, 0x1000, 0x2000 | PTE_P | PTE_RW);
    hvt_ram_put64(r, 0x2000, 0x3000 | PTE_P | PTE_RW);
    hvt_ram_put64(r, 0x3000, 0x4000 | PTE_P | PTE_RW);
    hvt_ram_put64(r, 0x3008, 0x5000 | PTE_P | PTE_RW);
    for (uint64_t p = 0; p < 1024; p++)
        hvt_ram_put64(r, 0x4000 + 8 * p, (p << 12) | PTE_P | PTE_RW);
    memcpy(r->mem + CODE_GPA, loop_code, sizeof(loop_code));
    r->mem[CODE_GPA + sizeof(loop_code) - 1] = (uint8_t)(-(int)sizeof(loop_code));

    memset(st, 0, sizeof(*st));
    st->cr0 = CR0_PE | CR0_WP | CR0_PG;
    st->cr4 = CR4_PAE;
    st->cr3 = 0x1000;
    st->efer = EFER_LME | EFER_LMA;
    st->rflags = 2;
    for (unsigned i = 0; i < 6; i++) {
        st->seg[i].limit = 0xffffffffu;
        st->seg[i].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G | 3;
    }
    st->seg[HVT_SEG_CS].attr =
        HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_G | HVT_SEG_ATTR_L | 0xb;
    st->seg[HVT_SEG_LDTR].attr = HVT_SEG_ATTR_UNUSABLE;
    st->seg[HVT_SEG_TR].attr = HVT_SEG_ATTR_P | 0xb;
    st->seg[HVT_SEG_TR].limit = 0x67;
    st->rip = CODE_GPA;
    st->gpr[HVT_RBX] = DATA_GPA;
    st->gpr[HVT_RSP] = STACK_TOP;
    return 0;
}

/* ---- one vCPU running the workload ----------------------------------------------------- */

struct runner {
    struct hvt_core *core; /* NULL: synthetic workload */
    struct hvt_ram ram;
    struct hvt_vcpu_state st;
    struct hvt_rec *rec; /* NULL: recording off */
    uint32_t vcpu;
    uint64_t insns;
    uint64_t failures;
    double seconds;
};

/* A stand-in for an emulation when the core is not usable: a 4-level walk, a fetch, a data
 * read and a write through the ops, like one simple memory instruction. */
static int synthetic_emulate(struct hvt_vcpu_state *st, const struct hvt_core_ops *ops, void *ctx)
{
    struct hvt_op_info info;
    uint64_t e = 0, la = st->gpr[HVT_RBX] + (st->rip & 0x18), table = st->cr3;
    uint8_t insn[8];

    memset(&info, 0, sizeof(info));
    info.seg = HVT_SEG_NONE;
    info.tag.cls = HVT_TAG_WALK;
    for (int level = 4; level >= 1; level--) {
        info.tag.level = (uint8_t)level;
        if (ops->read(ctx, table + 8 * ((la >> (12 + 9 * (level - 1))) & 511), &e, 8, &info))
            return -1;
        table = e & 0x000ffffffffff000ull;
    }
    memset(&info, 0, sizeof(info));
    info.kind = HVT_ACC_FETCH;
    info.seg = HVT_SEG_CS;
    info.tag.cls = HVT_TAG_FETCH;
    ops->read(ctx, CODE_GPA, insn, 4, &info);
    info.kind = HVT_ACC_READ;
    info.seg = HVT_SEG_DS;
    info.tag.cls = HVT_TAG_DATA;
    info.flags = HVT_OPF_LINEAR_VALID;
    info.linear = la;
    ops->read(ctx, table + (la & 0xfff), &e, 8, &info);
    e += insn[0];
    info.kind = HVT_ACC_WRITE;
    ops->write(ctx, table + (la & 0xfff), &e, 8, &info);
    st->rip += 4;
    return 0;
}

static void run_insns(struct runner *r, uint64_t n)
{
    const struct hvt_core_ops *ops = &hvt_ram_ops;
    void *ctx = &r->ram;
    struct hvt_core_ops wops;
    struct hvt_core_result res;
    struct hvt_pass_outcome out;
    double t0;

    if (r->rec && hvt_rec_wrap_ops(r->rec, r->vcpu, &hvt_ram_ops, &r->ram, &wops, &ctx) == 0)
        ops = &wops;
    t0 = hvt_bench_now();
    for (uint64_t i = 0; i < n; i++) {
        int err;
        if (r->rec) {
            hvt_rec_event_begin(r->rec, r->vcpu, &r->st, NULL, 0);
            hvt_rec_pass_begin(r->rec, r->vcpu);
        }
        memset(&res.out, 0, sizeof(res.out));
        if (r->core) {
            err = hvt_core_emulate(r->core, &r->st, ops, ctx, &res);
        } else {
            err = synthetic_emulate(&r->st, ops, ctx);
            res.out.kind = HVT_OUT_OKAY;
        }
        if (err || res.out.kind != HVT_OUT_OKAY)
            r->failures++;
        if (r->rec) {
            out = res.out;
            hvt_rec_pass_end(r->rec, r->vcpu, &out, &r->st);
            hvt_rec_event_end(r->rec, r->vcpu);
        }
        if (!r->core && r->st.rip >= CODE_GPA + 4096)
            r->st.rip = CODE_GPA;
    }
    r->seconds += hvt_bench_now() - t0;
    r->insns += n;
}

static void *runner_thread(void *p)
{
    struct runner *r = p;
    run_insns(r, r->insns);
    return NULL;
}

/* Opens a core and checks that it runs the loop; NULL (synthetic workload) when not. */
static struct hvt_core *open_core(void)
{
    struct hvt_core *c = NULL;
    struct runner r;
    char err[256];

    if (hvt_core_open(&c, HVT_CORE_REF, err, sizeof(err)))
        return NULL;
    memset(&r, 0, sizeof(r));
    r.core = c;
    if (wram_init(&r.ram, &r.st)) {
        hvt_core_close(c);
        return NULL;
    }
    run_insns(&r, 64);
    free(r.ram.mem);
    if (r.failures) {
        hvt_core_close(c);
        return NULL;
    }
    return c;
}

static struct hvt_rec *open_rec(const char *path, unsigned depth, size_t ring)
{
    struct hvt_rec_options o;
    struct hvt_rec *rec = NULL;
    hvt_rec_options_init(&o);
    o.callsite_depth = depth;
    o.ring_bytes = ring;
    if (g_level)
        o.level = g_level;
    o.flags = HVT_REC_OVERWRITE;
    if (hvt_rec_open(&rec, path, NULL, &o)) {
        fprintf(stderr, "hvtrace bench record: cannot open %s\n", path);
        return NULL;
    }
    return rec;
}

/* ns per emulated instruction for one configuration, best of ROUNDS. */
static double measure(struct runner *r, struct hvt_rec *rec, uint64_t n, int rounds)
{
    double best = 1e30;
    for (int k = 0; k < rounds; k++) {
        r->seconds = 0;
        r->rec = rec;
        run_insns(r, n);
        if (r->seconds / (double)n < best)
            best = r->seconds / (double)n;
    }
    return best * 1e9;
}

/* ---- the hot path alone ---------------------------------------------------------------- */

static double ns_per_access(const char *path, uint64_t *drops)
{
    struct hvt_rec *rec = open_rec(path, 0, 0);
    struct hvt_rec_stats st = {.size = sizeof(st)};
    struct hvt_vcpu_state s;
    struct hvt_access a;
    struct hvt_pass_outcome out = {0};
    const uint64_t events = 20000, per = 100;
    double t0, t;

    if (!rec)
        return -1;
    memset(&s, 0, sizeof(s));
    memset(&a, 0, sizeof(a));
    a.kind = HVT_ACC_READ;
    a.seg = HVT_SEG_NONE;
    a.tag.cls = HVT_TAG_WALK;
    a.size = 8;
    t0 = hvt_bench_now();
    for (uint64_t e = 0; e < events; e++) {
        hvt_rec_event_begin(rec, 0, &s, NULL, 0);
        hvt_rec_pass_begin(rec, 0);
        for (uint64_t i = 0; i < per; i++) {
            a.phys = 0x1000 + 8 * i;
            a.tag.level = (uint8_t)(1 + i % 4);
            a.data[0] = (uint8_t)i;
            hvt_rec_access(rec, 0, &a);
        }
        hvt_rec_pass_end(rec, 0, &out, &s);
        hvt_rec_event_end(rec, 0);
    }
    t = hvt_bench_now() - t0;
    hvt_rec_close(rec, &st);
    *drops = st.dropped;
    return t * 1e9 / (double)(events * per);
}

/* ---- the simulated host's mixed scenario ---------------------------------------------------- */

/* One run of the host, recording or not. */
struct host_run {
    double run_s;   /* hvt_host_run: what the vCPUs take */
    double close_s; /* hvt_rec_close: draining the rings and finishing the file */
    double cpu_s;   /* process CPU time (vCPU threads and the writer) from run to close */
    double thr_s;   /* CPU time of the thread that ran the host (all vCPUs unless threaded) */
    struct hvt_host_stats hs;
    struct hvt_rec_stats rs;
};

static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs scenario mixed (seed 1) for EVENTS events on VCPUS vCPUs with host FLAGS; RECORD selects
 * recording (into PATH, call-site depth DEPTH). Returns 0, or -1 after a message. */
static int host_once(const char *path, uint64_t events, uint32_t vcpus, unsigned flags, int record,
                     unsigned depth, struct host_run *out)
{
    struct hvt_host_options ho;
    struct hvt_host *h = NULL;
    struct hvt_rec *rec = NULL;
    char err[256];
    double t0, t1, t2, c0, tc0;
    int rc, rc2 = 0;

    memset(out, 0, sizeof(*out));
    out->hs.size = sizeof(out->hs);
    out->rs.size = sizeof(out->rs);
    hvt_host_options_init(&ho);
    ho.scenario = "mixed";
    ho.seed = 1;
    ho.events = events;
    ho.vcpus = vcpus;
    ho.flags = flags;
    if (hvt_host_create(&h, &ho, err, sizeof(err))) {
        fprintf(stderr, "hvtrace bench record: host: %s\n", err);
        return -1;
    }
    if (record) {
        struct hvt_rec_options o;
        hvt_rec_options_init(&o);
        o.n_vcpus = o.max_vcpus = hvt_host_vcpus(h);
        o.callsite_depth = depth;
        o.flags = HVT_REC_OVERWRITE;
        if (g_level)
            o.level = g_level;
        if (hvt_rec_open(&rec, path, NULL, &o)) {
            fprintf(stderr, "hvtrace bench record: cannot open %s\n", path);
            hvt_host_destroy(h);
            return -1;
        }
    }
    c0 = hvt_bench_cpu_now();
    tc0 = thread_cpu_now();
    t0 = hvt_bench_now();
    rc = hvt_host_run(h, rec);
    t1 = hvt_bench_now();
    out->thr_s = thread_cpu_now() - tc0;
    if (rec)
        rc2 = hvt_rec_close(rec, &out->rs);
    t2 = hvt_bench_now();
    out->cpu_s = hvt_bench_cpu_now() - c0;
    out->run_s = t1 - t0;
    out->close_s = t2 - t1;
    hvt_host_get_stats(h, &out->hs);
    if (rc || rc2)
        fprintf(stderr, "hvtrace bench record: host run: %s\n",
                rc ? hvt_host_error_message(h) : hvt_strerror(rc2));
    hvt_host_destroy(h);
    return rc || rc2 ? -1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* NAME's median, and its extremes over the rounds as NAME_min and NAME_max (the report keeps
 * the names' pointers: string literals). */
static void figure_spread(struct hvt_bench_report *rep, const char *name, const char *lo,
                          const char *hi, double *v, int n, double scale, const char *what)
{
    double m = median(v, n); /* sorts v */
    hvt_bench_figure(rep, name, scale * m, what);
    hvt_bench_figure(rep, lo, scale * v[0], NULL);
    hvt_bench_figure(rep, hi, scale * v[n - 1], NULL);
}
#define SPREAD(rep, name, v, n, scale, what)                                                       \
    figure_spread(rep, name, name "_min", name "_max", v, n, scale, what)

#define MAX_REPS 61

/* overhead_ratio and overhead_ratio_callsites on mixed: REPS rounds of (off, on, on with call
 * sites), the order reversed every other round so that drift hits all three alike; each
 * round gives a ratio against its own off run, and the figure is the median of the rounds. */
static int host_overhead(struct hvt_bench_report *rep, const char *path, uint64_t events, int reps,
                         uint64_t *drops)
{
    double off[MAX_REPS], on[MAX_REPS], cs[MAX_REPS], r_on[MAX_REPS], r_cs[MAX_REPS];
    double r_close[MAX_REPS], r_cpu[MAX_REPS], r_thr[MAX_REPS], close_on[MAX_REPS];
    double wr_ns[MAX_REPS], vc_ns[MAX_REPS];
    uint64_t waits = 0;
    struct host_run hr[3];
    uint64_t accesses = 0, rec_events = 0, host_events = 0;
    char text[256];

    for (int k = 0; k < reps; k++) {
        for (int j = 0; j < 3; j++) {
            int which = k % 2 ? 2 - j : j; /* 0 off, 1 on, 2 call sites */
            if (host_once(path, events, 0, 0, which > 0, which == 2 ? 8 : 0, &hr[which]))
                return -1;
        }
        off[k] = hr[0].run_s;
        on[k] = hr[1].run_s;
        cs[k] = hr[2].run_s;
        close_on[k] = hr[1].close_s;
        r_on[k] = hr[1].run_s / hr[0].run_s;
        r_cs[k] = hr[2].run_s / hr[0].run_s;
        r_close[k] = (hr[1].run_s + hr[1].close_s) / hr[0].run_s;
        r_cpu[k] = hr[1].cpu_s / hr[0].cpu_s;
        r_thr[k] = hr[1].thr_s / hr[0].thr_s;
        wr_ns[k] = 1e9 * (hr[1].cpu_s - hr[1].thr_s) / (double)(hr[1].rs.accesses + 1);
        vc_ns[k] = 1e9 * (hr[1].thr_s - hr[0].thr_s) / (double)(hr[1].rs.accesses + 1);
        waits += hr[1].rs.block_waits;
        *drops += hr[1].rs.dropped + hr[2].rs.dropped;
        accesses = hr[1].rs.accesses;
        rec_events = hr[1].rs.events;
        host_events = hr[0].hs.events;
        if (hr[1].hs.events != host_events || hr[2].hs.events != host_events ||
            hr[1].hs.instructions != hr[0].hs.instructions) {
            fprintf(stderr, "hvtrace bench record: runs of one seed differ\n");
            return -1;
        }
    }
    snprintf(text, sizeof(text),
             "simulated host, scenario mixed, seed 1, %llu events, 4 vCPUs on one scheduler "
             "thread, %d interleaved rounds, medians (min and max over the rounds)",
             (unsigned long long)host_events, reps);
    hvt_bench_text(rep, "workload", text);
    hvt_bench_figure(rep, "events_recorded", (double)rec_events, NULL);
    hvt_bench_figure(rep, "accesses_per_event", rec_events ? (double)accesses / rec_events : 0,
                     NULL);
    SPREAD(rep, "run_ms_off", off, reps, 1e3, "hvt_host_run, no recorder");
    SPREAD(rep, "run_ms_on", on, reps, 1e3, "recording, call sites off");
    SPREAD(rep, "run_ms_callsites", cs, reps, 1e3, "recording, depth 8");
    hvt_bench_figure(rep, "close_ms_on", 1e3 * median(close_on, reps),
                     "hvt_rec_close after the run (drain + index)");
    SPREAD(rep, "overhead_ratio", r_on, reps, 1, "median, target <= 1.15; block mode");
    hvt_bench_figure(rep, "overhead_ratio_incl_close", median(r_close, reps),
                     "run + close against run");
    hvt_bench_figure(rep, "overhead_ratio_cpu", median(r_cpu, reps),
                     "process CPU time, writer thread included");
    hvt_bench_figure(rep, "overhead_ratio_vcpu_cpu", median(r_thr, reps),
                     "CPU time of the vCPU thread alone");
    hvt_bench_figure(rep, "block_waits", (double)waits, "ring full, all rounds");
    hvt_bench_figure(rep, "vcpu_cpu_ns_per_access", median(vc_ns, reps),
                     "vCPU thread CPU time on - off, per access recorded");
    hvt_bench_figure(rep, "writer_cpu_ns_per_access", median(wr_ns, reps),
                     "writer thread CPU time (and close), per access recorded");
    SPREAD(rep, "overhead_ratio_callsites", r_cs, reps, 1, "depth 8");
    hvt_bench_figure(rep, "callsites_interned", (double)hr[2].rs.callsites, "depth 8");
    hvt_bench_figure(rep, "callsite_memo_hit_frac",
                     (double)hr[2].rs.callsite_memo_hits /
                         (double)(hr[2].rs.callsite_memo_hits + hr[2].rs.callsite_unwinds + 1),
                     "captures answered without unwinding");
    hvt_bench_figure(rep, "ns_per_access_in_host",
                     accesses ? 1e9 * (median(on, reps) - median(off, reps)) / (double)accesses : 0,
                     "(on - off) / accesses recorded");
    return 0;
}

/* Two vCPU threads of the host (HVT_HOST_THREADS, mixed), block mode. */
static int host_threads(struct hvt_bench_report *rep, const char *path, uint64_t events,
                        uint64_t *drops)
{
    struct host_run hr;
    if (host_once(path, events, 2, HVT_HOST_THREADS, 1, 0, &hr))
        return -1;
    *drops += hr.rs.dropped;
    hvt_bench_figure(rep, "writer_busy_frac",
                     hr.rs.writer_total_ns ? (double)hr.rs.writer_busy_ns / hr.rs.writer_total_ns
                                           : 0,
                     "host --threads, 2 vCPU threads, mixed");
    hvt_bench_figure(rep, "accesses_per_s_2vcpu", (double)hr.rs.accesses / hr.run_s, NULL);
    hvt_bench_figure(rep, "block_waits_2vcpu", (double)hr.rs.block_waits, NULL);
    hvt_bench_figure(rep, "bytes_per_access",
                     hr.rs.accesses ? (double)hr.rs.bytes_written / hr.rs.accesses : 0, "file");
    return 0;
}

int hvt_bench_record(int argc, char **argv)
{
    int json = 0, reps = 10, host_only = 0, core_only = 0, once = -1, events_set = 0;
    uint64_t events = 20000;
    double min_round_s = 1.0;
    struct hvt_bench_report *rep;
    char path[] = "/tmp/hvt-bench-record-XXXXXX";
    int fd;
    struct runner r, r2[2];
    struct hvt_core *core;
    struct hvt_rec *rec;
    struct hvt_rec_stats st = {.size = sizeof(st)};
    uint64_t n, drops = 0;
    double off, on, on_cs, hot;
    pthread_t t[2];

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--events") && i + 1 < argc) {
            events = strtoull(argv[++i], NULL, 0);
            events_set = 1;
            if (events < 100 || events > 100000000) {
                fprintf(stderr, "hvtrace bench record: --events out of range (100..1e8)\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > MAX_REPS) {
                fprintf(stderr, "hvtrace bench record: --reps out of range (1..%d)\n", MAX_REPS);
                return 2;
            }
        } else if (!strcmp(argv[i], "--round-s") && i + 1 < argc) {
            min_round_s = atof(argv[++i]);
            if (!(min_round_s >= 0 && min_round_s <= 600)) {
                fprintf(stderr, "hvtrace bench record: --round-s out of range (0..600)\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--once") && i + 1 < argc) {
            const char *w = argv[++i];
            once = !strcmp(w, "off") ? 0 : !strcmp(w, "on") ? 1 : -2;
            if (once < 0) {
                fprintf(stderr, "hvtrace bench record: --once takes off or on\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--host-only")) {
            host_only = 1;
        } else if (!strcmp(argv[i], "--core-only")) {
            core_only = 1;
        } else if (!strcmp(argv[i], "--level") && i + 1 < argc) {
            g_level = atoi(argv[++i]);
            if (g_level < -7 || g_level > 19 || !g_level) {
                fprintf(stderr, "hvtrace bench record: --level out of range (-7..-1, 1..19)\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: hvtrace bench record [--json] [--events N] [--reps N] [--level L]\n"
                   "                           [--round-s S] [--host-only] [--core-only]\n"
                   "                           [--once off|on]\n"
                   "Recorder hot-path cost (ns_per_access); recording overhead on the simulated\n"
                   "host's mixed scenario, on against off in one run (overhead_ratio, and\n"
                   "overhead_ratio_callsites with depth 8; median, min and max of N interleaved\n"
                   "rounds, default 10; each round's runs last at least S seconds, default 1:\n"
                   "the event count is scaled from a first run unless --events is given);\n"
                   "drops / writer_busy_frac with 2\n"
                   "vCPU threads (host --threads) in block mode; and the same figures on a loop\n"
                   "where the reference core emulates and records every instruction\n"
                   "(*_core_only). --level sets the zstd level of every recording (default:\n"
                   "the recorder's). --host-only stops after the host figures, --core-only\n"
                   "gives only the *_core_only ones. --once runs the\n"
                   "host once, recording off or on, and prints the accesses recorded (for\n"
                   "scripts/callgrind-record.sh, which counts instructions per access).\n");
            return 0;
        } else {
            fprintf(stderr, "hvtrace bench record: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    fd = mkstemp(path);
    if (fd < 0) {
        perror("hvtrace bench record: mkstemp");
        return 1;
    }
    close(fd);
    if (once >= 0) {
        struct host_run hr;
        int orc = host_once(path, events, 0, 0, once, 0, &hr);
        unlink(path);
        if (orc)
            return 1;
        printf("events %llu accesses %llu\n", (unsigned long long)hr.hs.events,
               (unsigned long long)hr.rs.accesses);
        return 0;
    }
    if (!events_set && min_round_s > 0 && !core_only) {
        /* Scale the workload so that the off run, the shortest, lasts MIN_ROUND_S. A short run
         * costs more per event than a long one (first touches, warm-up), so the count found
         * from it is checked by a run of its own, up to four times. */
        for (int k = 0; k < 4; k++) {
            struct host_run hr;
            if (host_once(path, events, 0, 0, 0, 0, &hr)) {
                unlink(path);
                return 1;
            }
            if (!(hr.run_s > 0) || hr.run_s >= min_round_s || events >= 100000000)
                break;
            events = (uint64_t)((double)events * (min_round_s / hr.run_s * 1.1));
            if (events > 100000000)
                events = 100000000;
        }
    }
    rep = hvt_bench_report_new("record", json);

    hot = ns_per_access(path, &drops);
    hvt_bench_figure(rep, "ns_per_access", hot, "hvt_rec_access, 8-byte reads, block mode");

    if (!core_only && (host_overhead(rep, path, events, reps, &drops) ||
                       host_threads(rep, path, events, &drops))) {
        unlink(path);
        hvt_bench_report_done(rep);
        return 1;
    }

    if (host_only) {
        hvt_bench_figure(rep, "drops", (double)drops, "all block-mode runs above, must be 0");
        unlink(path);
        hvt_bench_report_done(rep);
        return 0;
    }

    /* ---- every instruction emulated by the reference core and recorded ---- */
    core = open_core();
    hvt_bench_text(rep, "workload_core_only",
                   core ? "reference core, 7-insn memory loop, 4-level paging, every insn an event"
                        : "synthetic ops (reference core not usable)");
    memset(&r, 0, sizeof(r));
    r.core = core;
    if (wram_init(&r.ram, &r.st)) {
        hvt_bench_report_done(rep);
        return 1;
    }
    n = core ? 100000 : 1000000;

    /* Off and on alternate in one run, best of 3 each, so machine noise hits both. */
    rec = open_rec(path, 0, 0);
    off = measure(&r, NULL, n, 1);
    on = 0;
    if (rec) {
        double best_on = 1e30, best_off = off;
        for (int k = 0; k < 3; k++) {
            double a = measure(&r, rec, n, 1), b = measure(&r, NULL, n, 1);
            best_on = a < best_on ? a : best_on;
            best_off = b < best_off ? b : best_off;
        }
        off = best_off;
        on = best_on;
        hvt_rec_close(rec, &st);
    }
    hvt_bench_figure(rep, "ns_per_insn_off_core_only", off, "emulation without recording");
    hvt_bench_figure(rep, "ns_per_insn_on_core_only", on, "with recording, call sites off");
    hvt_bench_figure(rep, "accesses_per_insn_core_only",
                     st.events ? (double)st.accesses / st.events : 0, NULL);
    hvt_bench_figure(rep, "overhead_ratio_core_only", off > 0 ? on / off : 0,
                     "steady state, block mode, best of 3");

    /* Bursts that fit a warm ring: what the vCPU pays itself when the writer keeps up on
     * average. The writer drains the ring between bursts; the first (cold) burst is not
     * counted. */
    {
        struct hvt_rec *brec = open_rec(path, 0, 4u << 20);
        const uint64_t burst = core ? 1500 : 10000;
        double best = 1e30;
        for (int k = 0; brec && k < 16; k++) {
            struct hvt_rec_stats bs = {.size = sizeof(bs)};
            double b = measure(&r, brec, burst, 1);
            if (k > 0 && b < best)
                best = b;
            for (int w = 0; w < 2000; w++) { /* up to 2 s for the writer to catch up */
                hvt_rec_stats(brec, &bs);
                if (bs.events >= (uint64_t)(k + 1) * burst)
                    break;
                usleep(1000);
            }
        }
        hvt_rec_close(brec, NULL);
        hvt_bench_figure(rep, "overhead_ratio_burst_core_only",
                         best < 1e30 && off > 0 ? best / off : 0,
                         "bursts absorbed by a warm 4 MiB ring: vCPU-side cost only");
    }

    rec = open_rec(path, 8, 0);
    on_cs = 0;
    if (rec) {
        on_cs = measure(&r, rec, n / 4, 3);
        memset(&st, 0, sizeof(st));
        st.size = sizeof(st);
        hvt_rec_close(rec, &st);
    }
    hvt_bench_figure(rep, "ns_per_insn_callsites_core_only", on_cs, "depth 8");
    hvt_bench_figure(rep, "overhead_ratio_callsites_core_only", off > 0 ? on_cs / off : 0,
                     "depth 8");
    hvt_bench_figure(rep, "callsites_interned_core_only", (double)st.callsites, NULL);
    free(r.ram.mem);

    /* Two vCPU threads each running the loop, block mode: does the writer keep up? */
    rec = open_rec(path, 0, 0);
    if (rec) {
        double t0 = hvt_bench_now(), wall;
        for (int i = 0; i < 2; i++) {
            memset(&r2[i], 0, sizeof(r2[i]));
            r2[i].rec = rec;
            r2[i].vcpu = (uint32_t)i;
            r2[i].core = NULL;
            if (core && hvt_core_open(&r2[i].core, HVT_CORE_REF, NULL, 0))
                r2[i].core = NULL;
            wram_init(&r2[i].ram, &r2[i].st);
            r2[i].insns = n;
            pthread_create(&t[i], NULL, runner_thread, &r2[i]);
        }
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        wall = hvt_bench_now() - t0;
        memset(&st, 0, sizeof(st));
        st.size = sizeof(st);
        hvt_rec_close(rec, &st);
        for (int i = 0; i < 2; i++) {
            hvt_core_close(r2[i].core);
            free(r2[i].ram.mem);
        }
        drops += st.dropped;
        hvt_bench_figure(rep, "writer_busy_frac_core_only",
                         st.writer_total_ns ? (double)st.writer_busy_ns / st.writer_total_ns : 0,
                         "2 vCPU threads");
        hvt_bench_figure(rep, "accesses_per_s_2vcpu_core_only", (double)st.accesses / wall, NULL);
        hvt_bench_figure(rep, "block_waits_2vcpu_core_only", (double)st.block_waits, NULL);
        hvt_bench_figure(rep, "bytes_per_access_core_only",
                         st.accesses ? (double)st.bytes_written / st.accesses : 0, "file");
    }
    hvt_bench_figure(rep, "drops", (double)drops, "all block-mode runs above, must be 0");
    hvt_core_close(core);
    unlink(path);
    hvt_bench_report_done(rep);
    return 0;
}
