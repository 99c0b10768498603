/* SPDX-License-Identifier: MIT */
/* Recorder stress: 8 vCPU threads record concurrently into one trace, read back and compared
 * access by access. Block mode loses nothing; drop mode with a tiny ring loses exactly what it
 * counts, each loss marked. HVT_REC_STRESS_BIG=1 records 1,000,000 accesses per vCPU. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hvt_test.h"
#include "rec_check.h"

#define N_VCPUS 8

struct vcpu_arg {
    struct hvt_rec *rec;
    uint32_t vcpu;
    uint32_t per_pass;
    uint64_t target; /* accesses to make */
    uint64_t made;
    uint64_t events;
};

static void *vcpu_main(void *p)
{
    struct vcpu_arg *a = p;
    for (uint64_t e = 0; a->made < a->target; e++) {
        a->made += gen_record(a->rec, a->vcpu, e, a->per_pass);
        a->events++;
    }
    return NULL;
}

static void run(unsigned mode, size_t ring, uint32_t per_pass, uint64_t target)
{
    char path[] = "/tmp/hvt-rec-stress-XXXXXX";
    int fd = mkstemp(path);
    struct hvt_rec_options o;
    struct hvt_rec *rec = NULL;
    struct hvt_rec_stats st = {.size = sizeof(st)};
    pthread_t t[N_VCPUS];
    struct vcpu_arg args[N_VCPUS];
    struct readback rb;
    uint64_t made = 0, events = 0;

    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd);
    hvt_rec_options_init(&o);
    o.backpressure = mode;
    o.ring_bytes = ring;
    o.level = 1;
    o.flags = HVT_REC_OVERWRITE | HVT_REC_NO_TIME;
    CHECK_EQ(hvt_rec_open(&rec, path, NULL, &o), 0);
    if (!rec) {
        unlink(path);
        return;
    }
    for (uint32_t i = 0; i < N_VCPUS; i++) {
        args[i] = (struct vcpu_arg){rec, i, per_pass, target, 0, 0};
        pthread_create(&t[i], NULL, vcpu_main, &args[i]);
    }
    for (uint32_t i = 0; i < N_VCPUS; i++) {
        pthread_join(t[i], NULL);
        made += args[i].made;
        events += args[i].events;
    }
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    readback(path, per_pass, &rb);
    CHECK_EQ(rb.err, 0);
    if (rb.first_problem[0])
        fprintf(stderr, "first problem: %s\n", rb.first_problem);
    CHECK_U64(rb.bad_events, 0);
    CHECK(rb.ids_dense);
    CHECK(rb.markers_placed);
    CHECK_U64(rb.events, events);
    CHECK_U64(st.events, events);
    for (uint32_t i = 0; i < N_VCPUS; i++)
        CHECK_U64(rb.per_vcpu[i], args[i].events);
    CHECK_U64(rb.accesses, st.accesses);
    CHECK_U64(rb.accesses + st.dropped, made);
    CHECK_U64(rb.marked, st.dropped);
    CHECK_U64(rb.lost_in_events, st.dropped);
    CHECK_U64(rb.markers, st.lost_markers);
    if (mode == HVT_REC_BLOCK) {
        CHECK_U64(st.dropped, 0);
        CHECK_U64(rb.markers, 0);
    } else {
        CHECK(st.dropped > 0);
    }
    fprintf(stderr,
            "%s: %u vCPUs, %llu events, %llu accesses made, %llu dropped in %llu markers, "
            "%llu file bytes, max ring fill %llu/%llu, writer busy %.0f%%\n",
            mode == HVT_REC_BLOCK ? "block" : "drop", N_VCPUS, (unsigned long long)events,
            (unsigned long long)made, (unsigned long long)st.dropped,
            (unsigned long long)st.lost_markers, (unsigned long long)st.bytes_written,
            (unsigned long long)st.max_ring_fill, (unsigned long long)st.ring_bytes,
            st.writer_total_ns ? 100.0 * (double)st.writer_busy_ns / (double)st.writer_total_ns
                               : 0.0);
    unlink(path);
}

/* hvt_rec_open's file errors, with the real format writer. */
static void test_open_errors(void)
{
    char path[] = "/tmp/hvt-rec-open-XXXXXX";
    int fd = mkstemp(path);
    struct hvt_rec_options o;
    struct hvt_rec *rec = NULL;

    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd);
    hvt_rec_options_init(&o);
    CHECK_EQ(hvt_rec_open(&rec, path, NULL, &o), -HVT_E_EXISTS);
    CHECK(rec == NULL);
    CHECK_EQ(hvt_rec_open(&rec, "/nonexistent-dir/x/trace", NULL, &o), -HVT_E_IO);
    CHECK(rec == NULL);
    o.flags = HVT_REC_OVERWRITE;
    CHECK_EQ(hvt_rec_open(&rec, path, NULL, NULL), -HVT_E_EXISTS); /* defaults: no overwrite */
    CHECK_EQ(hvt_rec_open(&rec, path, NULL, &o), 0);
    CHECK_EQ(hvt_rec_close(rec, NULL), 0);
    unlink(path);
}

static int big(void)
{
    const char *e = getenv("HVT_REC_STRESS_BIG");
    return e && *e && *e != '0';
}

static void test_stress_block(void)
{
    run(HVT_REC_BLOCK, 1 << 20, 8, big() ? 1000000 : 100000);
}

static void test_stress_drop(void)
{
    run(HVT_REC_DROP, 8192, 40, big() ? 1000000 : 50000);
}

int main(void)
{
    RUN(test_open_errors);
    RUN(test_stress_block);
    RUN(test_stress_drop);
    TEST_DONE();
}
