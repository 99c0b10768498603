/* SPDX-License-Identifier: MIT */
/* hvtrace benchmarks: shared timing and reporting helpers. Benchmarks use the public API only. */
#ifndef HVT_BENCH_H
#define HVT_BENCH_H

#include <stdint.h>

/* Monotonic time in seconds. */
double hvt_bench_now(void);
/* CPU time of this whole process, in seconds (all threads). Rates on a shared machine use it:
 * wall-clock rates there measure the neighbours as much as the code. */
double hvt_bench_cpu_now(void);
/* Peak resident set size of this process so far, in MiB. */
double hvt_bench_peak_rss_mb(void);
/* Current resident set size, in MiB. */
double hvt_bench_rss_mb(void);

/* Figures are collected, then printed at hvt_bench_report(): one JSON object with --json, an
 * aligned "key  value  note" table otherwise. */
struct hvt_bench_report;
struct hvt_bench_report *hvt_bench_report_new(const char *bench_name, int json);
void hvt_bench_figure(struct hvt_bench_report *r, const char *key, double value, const char *note);
void hvt_bench_text(struct hvt_bench_report *r, const char *key, const char *value);
/* Prints and frees. */
void hvt_bench_report_done(struct hvt_bench_report *r);

/* Guest RAM for the benches: struct hvt_ram and hvt_ram_ops (common/ram.h). */
#include "common/ram.h"

/* A benchmark: argv[0] is its name; --json selects JSON output. Returns an exit code. */
typedef int (*hvt_bench_fn)(int argc, char **argv);

#endif
