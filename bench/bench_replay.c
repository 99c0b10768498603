/* SPDX-License-Identifier: MIT */
/* hvtrace bench replay: replay throughput on the mixed scenario, cost over decoding alone, and
 * the speed-up of two jobs. Prints figures; never fails on time. */
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "hvtrace/format.h"
#include "hvtrace/host.h"
#include "hvtrace/replay.h"

/* Decodes every chunk and touches every access: the floor under any replay. */
static int decode_only(const char *path, uint64_t *accesses)
{
    struct hvt_fmt_reader *r = NULL;
    int64_t n;
    int rc = hvt_fmt_reader_open(&r, path, NULL);
    uint64_t acc = 0;
    if (rc < 0) {
        hvt_fmt_reader_close(r);
        return rc;
    }
    n = hvt_fmt_reader_chunk_count(r);
    for (int64_t k = 0; k < n; k++) {
        struct hvt_fmt_chunk *c;
        rc = hvt_fmt_reader_load_chunk(r, (uint64_t)k, &c);
        if (rc < 0)
            break;
        for (size_t i = 0; i < hvt_fmt_chunk_records(c); i++) {
            struct hvt_record rec;
            if (hvt_fmt_chunk_record(c, i, &rec) < 0 || rec.type != HVT_REC_EVENT)
                continue;
            for (uint32_t p = 0; p < rec.u.event->n_passes; p++)
                acc += rec.u.event->passes[p].n_accesses;
        }
        hvt_fmt_chunk_free(c);
    }
    hvt_fmt_reader_close(r);
    *accesses = acc;
    return rc < 0 ? rc : 0;
}

/* Wall-clock seconds of a replay with JOBS; its process CPU seconds in *CPU. */
static double time_replay(const char *path, unsigned jobs, struct hvt_rpl_summary *s, int *rc,
                          double *cpu)
{
    struct hvt_rpl_options o;
    double t0, c0;
    hvt_rpl_options_init(&o);
    o.jobs = jobs;
    c0 = hvt_bench_cpu_now();
    t0 = hvt_bench_now();
    *rc = hvt_rpl_run(path, &o, NULL, NULL, NULL, NULL, s, NULL);
    *cpu = hvt_bench_cpu_now() - c0;
    return hvt_bench_now() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define MAX_ROUNDS 50

int hvt_bench_replay(int argc, char **argv)
{
    struct hvt_host_options ho;
    struct hvt_rpl_summary s;
    struct hvt_bench_report *rep;
    char path[256], err[256];
    const char *tmp = getenv("TMPDIR");
    uint64_t events = 200000, acc = 0; /* ~100 chunks: enough to keep two workers busy */
    double dec = 1e9, r1 = 1e9, r2 = 1e9, dec_cpu = 1e9, r1_cpu = 1e9, ratio[MAX_ROUNDS];
    int json = 0, rc = 0, rounds = 3;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--events") && i + 1 < argc) {
            events = strtoull(argv[++i], NULL, 0);
            if (!events || events > 1000000000ull) {
                fprintf(stderr, "hvtrace: bench replay: --events wants 1..10^9\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
            if (rounds < 1 || rounds > MAX_ROUNDS) {
                fprintf(stderr, "hvtrace: bench replay: --rounds wants 1..%d\n", MAX_ROUNDS);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: hvtrace bench replay [--json] [--events N] [--rounds N]\n");
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    /* Every chunk decodes into a few MiB that glibc would map and unmap each time (a third of
     * the run in page faults, and a lock the jobs contend on): keep them on the heap. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    snprintf(path, sizeof(path), "%s/hvt-bench-replay-%ld.hvt", tmp && *tmp ? tmp : "/tmp",
             (long)getpid());
    hvt_host_options_init(&ho);
    ho.scenario = "mixed";
    ho.seed = 1;
    ho.events = events;
    ho.flags = HVT_HOST_OVERWRITE;
    rc = hvt_host_record(path, &ho, NULL, err, sizeof(err));
    if (rc < 0) {
        /* no synthetic fallback: the figures are only meaningful on the scenario */
        fprintf(stderr, "hvtrace: bench replay: recording the mixed scenario failed: %s\n", err);
        unlink(path);
        return 1;
    }
    /* best of the rounds (the machine is shared), decoding and replaying one after the other
     * in each round; each round's own ratio too (their median) */
    for (int run = 0; run < rounds && rc >= 0; run++) {
        double t0 = hvt_bench_now(), c0 = hvt_bench_cpu_now(), t, c, td;
        rc = decode_only(path, &acc);
        td = hvt_bench_now() - t0;
        c = hvt_bench_cpu_now() - c0;
        dec = td < dec ? td : dec;
        dec_cpu = c < dec_cpu ? c : dec_cpu;
        if (rc < 0)
            break;
        t = time_replay(path, 1, &s, &rc, &c);
        r1 = t < r1 ? t : r1;
        r1_cpu = c < r1_cpu ? c : r1_cpu;
        ratio[run] = t / td;
        if (rc < 0)
            break;
        t = time_replay(path, 2, &s, &rc, &c);
        r2 = t < r2 ? t : r2;
    }
    qsort(ratio, (size_t)rounds, sizeof(ratio[0]), cmp_double);
    unlink(path);
    if (rc < 0) {
        fprintf(stderr, "hvtrace: bench replay: %s\n", hvt_strerror(rc));
        return 1;
    }
    rep = hvt_bench_report_new("replay", json);
    hvt_bench_text(rep, "trace", "host scenario mixed, seed 1 (recorded in a temp dir)");
    hvt_bench_figure(rep, "events", (double)s.events, "events replayed");
    hvt_bench_figure(rep, "accesses", (double)acc, "accesses replayed");
    hvt_bench_figure(rep, "accesses_per_s", acc / r1, "replay, 1 job, analysis included");
    hvt_bench_figure(rep, "rounds", rounds, "decode, replay 1 job, replay 2 jobs each");
    hvt_bench_figure(rep, "decode_s", dec, "decode only, 1 thread (best round)");
    hvt_bench_figure(rep, "replay_s", r1, "replay, 1 job (best round)");
    hvt_bench_figure(rep, "replay_jobs2_s", r2, "replay, 2 jobs (best round)");
    hvt_bench_figure(rep, "replay_vs_decode", r1 / dec, "best over best; target <= 1.5");
    hvt_bench_figure(rep, "replay_vs_decode_median", ratio[rounds / 2],
                     "median of the rounds' own ratios");
    hvt_bench_figure(rep, "decode_cpu_s", dec_cpu, "process CPU time, least of the rounds");
    hvt_bench_figure(rep, "replay_cpu_s", r1_cpu, "process CPU time, 1 job, least of the rounds");
    hvt_bench_figure(rep, "replay_vs_decode_cpu", r1_cpu / dec_cpu,
                     "by CPU time (steadier on a shared machine)");
    hvt_bench_figure(rep, "jobs2_speedup", r1 / r2, "target >= 1.6 on 2 cores");
    hvt_bench_figure(rep, "peak_rss_mb", hvt_bench_peak_rss_mb(), "whole process");
    hvt_bench_report_done(rep);
    return 0;
}
