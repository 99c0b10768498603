/* SPDX-License-Identifier: MIT */
/* hvtrace benchmarks: `hvtrace bench NAME` dispatch and the shared reporting helpers. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "hvtrace/core.h"
#include "util.h"

#define BENCH(name) extern int hvt_bench_##name(int argc, char **argv) __attribute__((weak));
BENCH(format)
BENCH(core)
BENCH(record)
BENCH(replay)
BENCH(kvm)
#undef BENCH

static const struct {
    const char *name;
    hvt_bench_fn fn;
    const char *summary;
} benches[] = {
    {"format", hvt_bench_format, "writer/reader throughput, bytes per access, reader memory"},
    {"core", hvt_bench_core, "reference-core instructions per second"},
    {"record", hvt_bench_record, "recorder hot-path cost and recording overhead"},
    {"replay", hvt_bench_replay, "replay throughput and parallel speed-up"},
    {"kvm", hvt_bench_kvm, "KVM device exits per second with and without recording"},
};

double hvt_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double hvt_bench_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double hvt_bench_peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

double hvt_bench_rss_mb(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return (double)rss * 4096.0 / (1024.0 * 1024.0);
}

#define MAX_FIGURES 64
struct hvt_bench_report {
    const char *name;
    int json;
    int n;
    struct {
        const char *key;
        double value;
        char text[256];
        int is_text;
        const char *note;
    } fig[MAX_FIGURES];
};

struct hvt_bench_report *hvt_bench_report_new(const char *bench_name, int json)
{
    struct hvt_bench_report *r = calloc(1, sizeof(*r));
    if (!r) {
        perror("hvtrace bench");
        exit(HVT_EXIT_USAGE);
    }
    r->name = bench_name;
    r->json = json;
    return r;
}

void hvt_bench_figure(struct hvt_bench_report *r, const char *key, double value, const char *note)
{
    if (r->n >= MAX_FIGURES)
        return;
    r->fig[r->n].key = key;
    r->fig[r->n].value = value;
    r->fig[r->n].note = note;
    r->n++;
}

void hvt_bench_text(struct hvt_bench_report *r, const char *key, const char *value)
{
    if (r->n >= MAX_FIGURES)
        return;
    r->fig[r->n].key = key;
    r->fig[r->n].is_text = 1;
    snprintf(r->fig[r->n].text, sizeof(r->fig[r->n].text), "%s", value ? value : "");
    r->n++;
}

void hvt_bench_report_done(struct hvt_bench_report *r)
{
    if (r->json) {
        printf("{\"type\":\"bench\",\"bench\":");
        hvt_json_str(stdout, r->name);
        for (int i = 0; i < r->n; i++) {
            printf(",");
            hvt_json_str(stdout, r->fig[i].key);
            printf(":");
            if (r->fig[i].is_text)
                hvt_json_str(stdout, r->fig[i].text);
            else
                printf("%.6g", r->fig[i].value);
        }
        printf("}\n");
    } else {
        printf("bench %s\n", r->name);
        for (int i = 0; i < r->n; i++) {
            if (r->fig[i].is_text)
                printf("  %-28s %14s\n", r->fig[i].key, r->fig[i].text);
            else
                printf("  %-28s %14.6g  %s\n", r->fig[i].key, r->fig[i].value,
                       r->fig[i].note ? r->fig[i].note : "");
        }
    }
    fflush(stdout);
    free(r);
}

int hvt_cmd_bench(int argc, char **argv);
int hvt_cmd_bench(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: hvtrace bench NAME [--json] [options]\n\nbenchmarks:\n");
        for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
            if (benches[i].fn)
                fprintf(f, "  %-8s %s\n", benches[i].name, benches[i].summary);
        fprintf(f, "\nBenchmarks print figures; they never fail on time.\n");
        return argc < 2 ? HVT_EXIT_USAGE : HVT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
        if (strcmp(argv[1], benches[i].name))
            continue;
        if (!benches[i].fn) {
            hvt_tool_err("bench '%s' is not available in this build yet", argv[1]);
            return HVT_EXIT_USAGE;
        }
        return benches[i].fn(argc - 1, argv + 1);
    }
    hvt_tool_err("unknown benchmark '%s' (try hvtrace bench --help)", argv[1]);
    return HVT_EXIT_USAGE;
}
