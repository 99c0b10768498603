/* SPDX-License-Identifier: MIT */
/* Host tests: the public API's argument checks, scenario list, exact event budget, runs
 * without a recorder, threads mode, and hvt_host_record's output errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvt_test.h"
#include "hvtrace/host.h"

static void opts(struct hvt_host_options *o, const char *scenario)
{
    hvt_host_options_init(o);
    o->scenario = scenario;
}

static void test_scenario_list(void)
{
    static const char *const want[] = {"clean", "pageout", "ptwrite", "pae-pdpte",
                                       "cmps",  "gather",  "adbits",  "mixed"};
    CHECK_EQ(hvt_host_scenario_count(), 8);
    for (size_t i = 0; i < 8; i++) {
        CHECK_STR(hvt_host_scenario_name(i), want[i]);
        CHECK(hvt_host_scenario_summary(i) && hvt_host_scenario_summary(i)[0]);
    }
    CHECK(hvt_host_scenario_name(8) == NULL);
    CHECK(hvt_host_scenario_summary(99) == NULL);
}

static void test_create_bad_args(void)
{
    struct hvt_host_options o;
    struct hvt_host *h = (struct hvt_host *)1;
    char err[256];
    struct hvt_kv kv[HVT_HOST_MAX_CORE_OPTIONS + 1];

    opts(&o, "clean");
    CHECK_EQ(hvt_host_create(NULL, &o, err, sizeof(err)), -HVT_E_INVALID);
    CHECK_EQ(hvt_host_create(&h, NULL, err, sizeof(err)), -HVT_E_INVALID);
    CHECK(h == NULL);
    o.size = 8;
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_INVALID);
    opts(&o, NULL);
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_INVALID);
    opts(&o, "no-such-scenario");
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_NOT_FOUND);
    CHECK(strstr(err, "no-such-scenario") != NULL);
    opts(&o, "clean");
    o.vcpus = HVT_HOST_MAX_VCPUS + 1;
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_INVALID);
    opts(&o, "clean");
    o.events = 2000000000ull;
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_INVALID);
    opts(&o, "clean");
    o.cache = HVT_HOST_CACHE__COUNT;
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_INVALID);
    opts(&o, "clean");
    o.ram_bytes = 3u << 20;
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_INVALID);
    o.ram_bytes = (5u << 20);
    CHECK_EQ(hvt_host_create(&h, &o, NULL, 0), -HVT_E_INVALID);
    opts(&o, "clean");
    o.flags = 1u << 20;
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_INVALID);
    opts(&o, "clean");
    for (unsigned i = 0; i <= HVT_HOST_MAX_CORE_OPTIONS; i++)
        kv[i] = (struct hvt_kv){"decode-cache", "1"};
    o.core_options = kv;
    o.n_core_options = HVT_HOST_MAX_CORE_OPTIONS + 1;
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_INVALID);
    o.n_core_options = 1;
    o.core_options = NULL;
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_INVALID);
    opts(&o, "clean");
    kv[0] = (struct hvt_kv){"no-such-core-option", "1"};
    o.core_options = kv;
    o.n_core_options = 1;
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_UNSUPPORTED);
    CHECK(strstr(err, "no-such-core-option") != NULL);
    opts(&o, "clean");
    o.core = "/nonexistent/core.so";
    CHECK(hvt_host_create(&h, &o, err, sizeof(err)) < 0);
    CHECK(h == NULL);
    opts(&o, "clean");
    o.callsite_depth = 1000;
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_INVALID);
}

static void test_null_handles(void)
{
    struct hvt_host_stats st;
    size_t n = 5;
    hvt_host_destroy(NULL);
    CHECK_EQ(hvt_host_run(NULL, NULL), -HVT_E_INVALID);
    st.size = sizeof(st);
    CHECK_EQ(hvt_host_get_stats(NULL, &st), -HVT_E_INVALID);
    CHECK_STR(hvt_host_error_message(NULL), "");
    CHECK_EQ(hvt_host_vcpus(NULL), 0);
    CHECK(hvt_host_header_options(NULL, &n) == NULL);
}

/* A run with no recorder: exact event budget, figures, no second run. */
/* Options of an older caller (the first version, before cpu): accepted, and the missing cpu
 * (garbage beyond the caller's size) reads as NULL, the default profile. */
static void test_older_options_struct_accepted(void)
{
    struct hvt_host_options o;
    struct hvt_host *h = NULL;
    struct hvt_cpu_profile def;
    opts(&o, "clean");
    o.events = 5;
    o.size = HVT_HOST_OPTIONS_SIZE_V1;
    memset((char *)&o + HVT_HOST_OPTIONS_SIZE_V1, 0xee, sizeof(o) - HVT_HOST_OPTIONS_SIZE_V1);
    CHECK_EQ(hvt_host_create(&h, &o, NULL, 0), 0);
    hvt_cpu_profile_default(&def);
    CHECK(h && hvt_cpu_profile_equal(hvt_host_cpu(h), &def));
    hvt_host_destroy(h);
    h = NULL;
    o.size = HVT_HOST_OPTIONS_SIZE_V1 - 1;
    CHECK_EQ(hvt_host_create(&h, &o, NULL, 0), -HVT_E_INVALID);
}

static void test_run_unrecorded(void)
{
    struct hvt_host_options o;
    struct hvt_host *h = NULL;
    struct hvt_host_stats st;
    const struct hvt_kv *kv;
    size_t n = 0;
    int seen_scenario = 0, seen_cache = 0;

    opts(&o, "ptwrite");
    o.events = 50;
    o.vcpus = 3;
    o.cache = HVT_HOST_CACHE_WALK;
    CHECK_EQ(hvt_host_create(&h, &o, NULL, 0), 0);
    if (!h)
        return;
    CHECK_EQ(hvt_host_vcpus(h), 3);
    kv = hvt_host_header_options(h, &n);
    for (size_t i = 0; kv && i < n; i++) {
        seen_scenario |= !strcmp(kv[i].key, "scenario") && !strcmp(kv[i].value, "ptwrite");
        seen_cache |= !strcmp(kv[i].key, "cache") && !strcmp(kv[i].value, "walk");
    }
    CHECK(seen_scenario && seen_cache);
    CHECK_EQ(hvt_host_run(h, NULL), 0);
    st.size = sizeof(st) - 1;
    CHECK_EQ(hvt_host_get_stats(h, &st), -HVT_E_INVALID);
    st.size = sizeof(st);
    CHECK_EQ(hvt_host_get_stats(h, &st), 0);
    CHECK_U64(st.events, 50);
    CHECK(st.passes >= 100);
    CHECK(st.ioreqs >= 50);
    CHECK_U64(st.ioreq_mismatches, 0);
    CHECK(st.instructions >= 50);
    CHECK_EQ(hvt_host_run(h, NULL), -HVT_E_INVALID);
    CHECK(hvt_host_error_message(h)[0] != 0);
    hvt_host_destroy(h);
}

/* RAM-only instructions run as unrecorded probes; --record all turns every one into an
 * event; the guest program makes the same progress either way. */
static void test_probe_vs_record_all(void)
{
    struct hvt_host_options o;
    struct hvt_host *h = NULL;
    struct hvt_host_stats a, b;
    opts(&o, "clean");
    o.events = 100;
    o.vcpus = 1;
    CHECK_EQ(hvt_host_create(&h, &o, NULL, 0), 0);
    CHECK_EQ(hvt_host_run(h, NULL), 0);
    a.size = sizeof(a);
    CHECK_EQ(hvt_host_get_stats(h, &a), 0);
    hvt_host_destroy(h);
    CHECK_U64(a.events, 100);
    CHECK(a.instructions > 2 * a.events); /* clean has 9 RAM-only instructions per 5 events */

    o.flags = HVT_HOST_RECORD_ALL;
    o.events = a.instructions;
    CHECK_EQ(hvt_host_create(&h, &o, NULL, 0), 0);
    CHECK_EQ(hvt_host_run(h, NULL), 0);
    b.size = sizeof(b);
    CHECK_EQ(hvt_host_get_stats(h, &b), 0);
    hvt_host_destroy(h);
    CHECK_U64(b.events, a.instructions);
    CHECK_U64(b.instructions, a.instructions);
    CHECK_U64(b.ioreqs, a.ioreqs); /* the same device requests, in the same program order */
}

/* Threads mode runs to its budget (and, under TSan, without races). */
static void test_threads(void)
{
    struct hvt_host_options o;
    struct hvt_host *h = NULL;
    struct hvt_host_stats st;
    opts(&o, "pageout");
    o.events = 400;
    o.vcpus = 4;
    o.flags = HVT_HOST_THREADS;
    CHECK_EQ(hvt_host_create(&h, &o, NULL, 0), 0);
    if (!h)
        return;
    CHECK_EQ(hvt_host_run(h, NULL), 0);
    st.size = sizeof(st);
    CHECK_EQ(hvt_host_get_stats(h, &st), 0);
    CHECK_U64(st.events, 400);
    hvt_host_destroy(h);
}

/* Threads mode while recording: every vCPU feeds its own recorder ring concurrently. */
static void test_threads_recorded(void)
{
    struct hvt_host_options o;
    struct hvt_host_stats st;
    char err[512];
    char path[] = "/tmp/hvt-host-thr-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    opts(&o, "mixed");
    o.events = 3000;
    o.vcpus = 4;
    o.flags = HVT_HOST_THREADS | HVT_HOST_OVERWRITE;
    st.size = sizeof(st);
    CHECK_EQ(hvt_host_record(path, &o, &st, err, sizeof(err)), 0);
    CHECK_U64(st.events, 3000);
    CHECK_U64(st.rec_events, 3000);
    CHECK_U64(st.rec_dropped, 0);
    CHECK_EQ(hvt_fmt_verify(path, NULL, NULL, NULL), 0);
    unlink(path);
}

static void test_record_errors(void)
{
    struct hvt_host_options o;
    struct hvt_host_stats st;
    char err[512];
    char path[] = "/tmp/hvt-host-api-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    opts(&o, "clean");
    o.events = 10;
    CHECK_EQ(hvt_host_record(NULL, &o, NULL, err, sizeof(err)), -HVT_E_INVALID);
    CHECK_EQ(hvt_host_record("", &o, NULL, err, sizeof(err)), -HVT_E_INVALID);
    st.size = 4;
    CHECK_EQ(hvt_host_record(path, &o, &st, err, sizeof(err)), -HVT_E_INVALID);
    /* the file exists: refused without OVERWRITE, with a hint */
    CHECK_EQ(hvt_host_record(path, &o, NULL, err, sizeof(err)), -HVT_E_EXISTS);
    CHECK(strstr(err, path) != NULL);
    CHECK_EQ(hvt_host_record("/nonexistent-dir/x.hvt", &o, NULL, err, sizeof(err)), -HVT_E_IO);
    CHECK(strstr(err, "/nonexistent-dir/x.hvt") != NULL);
    o.scenario = "bogus";
    CHECK_EQ(hvt_host_record(path, &o, NULL, err, sizeof(err)), -HVT_E_NOT_FOUND);
    o.scenario = "clean";
    o.flags = HVT_HOST_OVERWRITE;
    st.size = sizeof(st);
    CHECK_EQ(hvt_host_record(path, &o, &st, err, sizeof(err)), 0);
    CHECK_U64(st.rec_events, 10);
    CHECK(st.file_bytes > 0);
    unlink(path);
}

/* The guests are shown the default profile unless told otherwise, whatever this machine is;
 * a profile the scenario's guest state cannot exist on is refused by name. */
static void test_cpu_profile(void)
{
    struct hvt_host_options o;
    struct hvt_host *h = NULL;
    struct hvt_cpu_profile p;
    char err[256];
    hvt_host_options_init(&o);
    o.scenario = "clean";
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), 0);
    CHECK_STR(hvt_host_cpu(h)->name, HVT_CPU_DEFAULT);
    CHECK_EQ(hvt_host_core_ignores_cpu(h), 0);
    hvt_host_destroy(h);
    CHECK_EQ(hvt_cpu_profile_named(&p, "amd-zen3"), 0);
    o.cpu = &p;
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), 0);
    CHECK_STR(hvt_host_cpu(h)->vendor, "AuthenticAMD");
    hvt_host_destroy(h);
    CHECK_EQ(hvt_cpu_profile_parse(&p, "amd-zen3 -lm", NULL, 0), 0);
    CHECK_EQ(hvt_host_create(&h, &o, err, sizeof(err)), -HVT_E_UNSUPPORTED);
    CHECK(strstr(err, "clean") && strstr(err, "lm"));
    CHECK(hvt_host_cpu(NULL) == NULL);
}

int main(void)
{
    RUN(test_scenario_list);
    RUN(test_create_bad_args);
    RUN(test_null_handles);
    RUN(test_older_options_struct_accepted);
    RUN(test_run_unrecorded);
    RUN(test_probe_vs_record_all);
    RUN(test_threads);
    RUN(test_threads_recorded);
    RUN(test_record_errors);
    RUN(test_cpu_profile);
    TEST_DONE();
}
