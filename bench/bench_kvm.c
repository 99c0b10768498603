/* SPDX-License-Identifier: MIT */
/* hvtrace bench kvm: device exits per second on KVM, served plainly and while recording. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "hvtrace/kvm.h"

/* Device exits (MMIO + port) per second of wall time. */
static double device_rate(const struct hvt_kvm_stats *st)
{
    double s = (double)st->wall_ns / 1e9;
    return s > 0 ? (double)(st->mmio_exits + st->pio_exits) / s : 0.0;
}

static const char *g_kernel;
static uint32_t g_seconds = 30;

static int run(const char *path, const char *scenario, uint64_t events, struct hvt_kvm_stats *st,
               char *err, size_t len)
{
    struct hvt_kvm_options o;
    hvt_kvm_options_init(&o);
    if (g_kernel) {
        o.kernel = g_kernel;
        o.seconds = g_seconds;
    } else {
        o.scenario = scenario;
        o.events = events;
    }
    o.flags = HVT_KVM_OVERWRITE;
    memset(st, 0, sizeof(*st));
    st->size = sizeof(*st);
    return hvt_kvm_record(path, &o, st, err, len);
}

int hvt_bench_kvm(int argc, char **argv);
int hvt_bench_kvm(int argc, char **argv)
{
    int json = 0, reps = 3;
    uint64_t events = 5000;
    const char *scenario = "clean";
    char err[256], path[] = "/tmp/hvt-bench-kvm-XXXXXX";
    struct hvt_kvm_stats off, on;
    double best_off = 0, best_on = 0, ev_on = 0;
    int fd;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--events") && i + 1 < argc) {
            events = strtoull(argv[++i], NULL, 0);
            if (events < 100 || events > 10000000) {
                fprintf(stderr, "hvtrace bench kvm: --events out of range (100..1e7)\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--scenario") && i + 1 < argc) {
            scenario = argv[++i];
        } else if (!strcmp(argv[i], "--kernel") && i + 1 < argc) {
            g_kernel = argv[++i];
            reps = 1;
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            g_seconds = (uint32_t)strtoul(argv[++i], NULL, 0);
            if (g_seconds < 1 || g_seconds > 3600) {
                fprintf(stderr, "hvtrace bench kvm: --seconds out of range (1..3600)\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: hvtrace bench kvm [--json] [--events N] [--scenario NAME]\n"
                   "                        [--kernel VMLINUX [--seconds N]]\n"
                   "Device exits (MMIO and port) per second on KVM: a VMM that only serves them\n"
                   "(exits_per_s_off) against record --host kvm, which single-steps to each\n"
                   "event's end, runs the shadow core per pass and records (exits_per_s_on);\n"
                   "overhead_ratio_kvm = off / on. N events per run (default 5000, scenario\n"
                   "clean), best of 3 interleaved rounds. With --kernel: one boot of N seconds\n"
                   "(default 30) each way (scripts/kvm-kernel.sh). Exit 77 without /dev/kvm.\n");
            return 0;
        } else {
            fprintf(stderr, "hvtrace bench kvm: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (hvt_kvm_probe(err, sizeof(err)) < 0) {
        fprintf(stderr, "hvtrace bench kvm: no usable KVM here: %s\n", err);
        return 77;
    }
    fd = mkstemp(path);
    if (fd < 0) {
        perror("hvtrace bench kvm: temporary file");
        return 1;
    }
    close(fd);
    for (int r = 0; r < reps; r++) {
        if (run(NULL, scenario, events, &off, err, sizeof(err)) < 0 ||
            run(path, scenario, events, &on, err, sizeof(err)) < 0) {
            fprintf(stderr, "hvtrace bench kvm: %s\n", err);
            unlink(path);
            return 1;
        }
        if (device_rate(&off) > best_off)
            best_off = device_rate(&off);
        if (device_rate(&on) > best_on) {
            best_on = device_rate(&on);
            ev_on = on.wall_ns ? (double)on.events / ((double)on.wall_ns / 1e9) : 0;
        }
    }
    unlink(path);
    struct hvt_bench_report *rep = hvt_bench_report_new("kvm", json);
    hvt_bench_text(rep, "module", on.module);
    hvt_bench_text(rep, "kernel", on.release);
    hvt_bench_text(rep, "scenario", g_kernel ? "kernel" : scenario);
    hvt_bench_figure(rep, "exits_per_s_off", best_off, "device exits/s, served only");
    hvt_bench_figure(rep, "exits_per_s_on", best_on, "device exits/s, recording");
    hvt_bench_figure(rep, "overhead_ratio_kvm", best_on > 0 ? best_off / best_on : 0, "off / on");
    hvt_bench_figure(rep, "events_per_s_on", ev_on, "recorded events/s");
    hvt_bench_figure(rep, "step_exits_per_event",
                     on.events ? (double)on.debug_exits / (double)on.events : 0,
                     "single-step exits per event");
    hvt_bench_figure(rep, "bytes_per_event",
                     on.events ? (double)on.file_bytes / (double)on.events : 0, "trace bytes");
    hvt_bench_report_done(rep);
    return 0;
}
