/* SPDX-License-Identifier: MIT */
/* Recorder tests: an in-memory stand-in for the format writer (records what it is given, can
 * be told to fail), so recorder unit tests see exactly what the recorder appends. */
#ifndef HVT_TEST_FAKE_FMT_H
#define HVT_TEST_FAKE_FMT_H

#include <pthread.h>

#include "hvtrace/format.h"

struct fake_item {
    int type; /* HVT_REC_EVENT or HVT_REC_LOST */
    struct hvt_event *ev;
    struct hvt_lost lost;
};

struct fake_cs {
    uint32_t id, n;
    struct hvt_frame frames[32];
    char names[32][96];
    char modules[32][160];
};

struct fake_sink {
    pthread_mutex_t lock;
    size_t n, cap;
    struct fake_item *items;
    size_t n_cs;
    struct fake_cs cs[256];
    long fail_after; /* appends accepted before every call fails with fail_err; -1 never */
    int fail_err;
    _Atomic int flushes;
    int closed;
    uint64_t last_id; /* for the id-order check */
    int order_violation;
};

extern struct fake_sink fake;

/* Resets the sink (frees what it holds). */
void fake_reset(void);
/* Opens a fake writer for hvt_rec_open_writer. */
struct hvt_fmt_writer *fake_writer(void);
/* Call site ID as given to the writer, or NULL. */
const struct fake_cs *fake_callsite(uint32_t id);

#endif
