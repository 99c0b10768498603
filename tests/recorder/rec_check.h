/* SPDX-License-Identifier: MIT */
/* Recorder tests: read a trace back with the format reader and check it against the
 * generator in rec_gen.h (event by event, access by access). */
#ifndef HVT_TEST_REC_CHECK_H
#define HVT_TEST_REC_CHECK_H

#include <stdio.h>

#include "hvtrace/format.h"
#include "rec_gen.h"

#define CHECK_MAX_VCPUS 64

struct readback {
    int err; /* reader error, 0 if none */
    uint64_t events, markers, marked, accesses, lost_in_events, bad_events;
    uint64_t per_vcpu[CHECK_MAX_VCPUS]; /* events seen per vCPU (= next expected number) */
    int ids_dense;                      /* ids are 0, 1, 2, ... in file order */
    int markers_placed;                 /* every marker names the event that follows it */
    char first_problem[200];
};

/* Reads PATH; every event of vCPU V must be V's next generated event (per_pass PER_PASS). */
static inline void readback(const char *path, uint32_t per_pass, struct readback *rb)
{
    struct hvt_fmt_reader *r = NULL;
    struct hvt_record rec;
    int res;
    struct hvt_lost pending[64];
    int n_pending = 0;

    memset(rb, 0, sizeof(*rb));
    rb->ids_dense = 1;
    rb->markers_placed = 1;
    res = hvt_fmt_reader_open(&r, path, NULL);
    if (res < 0) {
        rb->err = res;
        snprintf(rb->first_problem, sizeof(rb->first_problem), "open: %s", hvt_strerror(res));
        hvt_fmt_reader_close(r);
        return;
    }
    while ((res = hvt_fmt_reader_next(r, &rec)) == 1) {
        if (rec.type == HVT_REC_LOST) {
            rb->markers++;
            rb->marked += rec.u.lost->count;
            if (n_pending < 64)
                pending[n_pending++] = *rec.u.lost;
            continue;
        }
        {
            const struct hvt_event *ev = rec.u.event;
            uint64_t lost = 0;
            if (ev->id != rb->events)
                rb->ids_dense = 0;
            for (int i = 0; i < n_pending; i++)
                if (pending[i].event_id != ev->id || pending[i].vcpu != ev->vcpu)
                    rb->markers_placed = 0;
            n_pending = 0;
            if (ev->vcpu >= CHECK_MAX_VCPUS ||
                !gen_check_event(ev, rb->per_vcpu[ev->vcpu], per_pass, &lost)) {
                if (!rb->bad_events)
                    snprintf(rb->first_problem, sizeof(rb->first_problem),
                             "event id %llu (vCPU %u) differs from generated event %llu",
                             (unsigned long long)ev->id, ev->vcpu,
                             ev->vcpu < CHECK_MAX_VCPUS ? (unsigned long long)rb->per_vcpu[ev->vcpu]
                                                        : 0ull);
                rb->bad_events++;
            }
            if (ev->vcpu < CHECK_MAX_VCPUS)
                rb->per_vcpu[ev->vcpu]++;
            rb->events++;
            rb->lost_in_events += lost;
            for (uint32_t p = 0; p < ev->n_passes; p++)
                rb->accesses += ev->passes[p].n_accesses;
        }
    }
    if (n_pending)
        rb->markers_placed = 0;
    if (res < 0) {
        rb->err = res;
        snprintf(rb->first_problem, sizeof(rb->first_problem), "next: %s", hvt_strerror(res));
    }
    hvt_fmt_reader_close(r);
}

#endif
