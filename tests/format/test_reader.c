/* SPDX-License-Identifier: MIT */
/* hvtrace format tests: seeking, load_chunk from two threads, and bad arguments to the reader. */
#include "gen.h"

#include <pthread.h>

#define N_EVENTS 3000

static struct hvt_event *evs[N_EVENTS];
static char path[512];
static int64_t n_chunks;

static uint64_t id_of(int i)
{
    return 100 + 2 * (uint64_t)i; /* odd ids do not exist */
}

static void setup(void)
{
    struct hvt_fmt_writer *w = gen_writer(path, 8192);
    struct hvt_lost l = {.vcpu = 1, .count = 5, .event_id = HVT_NO_EVENT};
    for (int i = 0; i < N_EVENTS; i++) {
        evs[i] = gen_event(id_of(i), i ? evs[i - 1] : NULL, (uint32_t)(i % 3));
        if (i % 97 == 0)
            CHECK_EQ(hvt_fmt_writer_append_lost(w, &l), 0);
        CHECK_EQ(hvt_fmt_writer_append(w, evs[i]), 0);
        if (i == N_EVENTS / 2) /* a flush in the middle: a small chunk */
            CHECK_EQ(hvt_fmt_writer_flush(w), 0);
    }
    CHECK_EQ(hvt_fmt_writer_append_lost(w, &l), 0); /* a chunk ending with a lost marker */
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
}

static void seek_checks(unsigned flags)
{
    struct hvt_fmt_reader_options ro;
    hvt_fmt_reader_options_init(&ro);
    ro.flags = flags;
    struct hvt_fmt_reader *r;
    CHECK_EQ(hvt_fmt_reader_open(&r, path, &ro), 0);
    n_chunks = hvt_fmt_reader_chunk_count(r);
    CHECK(n_chunks > 10);
    static const int targets[] = {0, 1, 17, 1499, 1500, 1501, 2998, 2999, 5, 2000, 0};
    struct hvt_record rec;
    for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
        int i = targets[t];
        for (int odd = 0; odd < 2; odd++) {
            uint64_t id = id_of(i) - (uint64_t)odd; /* odd: between two events */
            CHECK_EQ(hvt_fmt_reader_seek_event(r, id), 0);
            CHECK_EQ(hvt_fmt_reader_next(r, &rec), 1);
            CHECK_EQ(rec.type, HVT_REC_EVENT);
            if (rec.type == HVT_REC_EVENT) {
                CHECK_U64(rec.u.event->id, id_of(i));
                CHECK(event_eq(evs[i], rec.u.event));
            }
            /* and it goes on in order */
            int j = i + 1;
            for (int k = 0; k < 120 && j < N_EVENTS; k++) {
                CHECK_EQ(hvt_fmt_reader_next(r, &rec), 1);
                if (rec.type == HVT_REC_EVENT) {
                    CHECK_U64(rec.u.event->id, id_of(j));
                    j++;
                }
            }
        }
    }
    CHECK_EQ(hvt_fmt_reader_seek_event(r, id_of(N_EVENTS - 1) + 1), -HVT_E_NOT_FOUND);
    CHECK_EQ(hvt_fmt_reader_error(r)->code, -HVT_E_NOT_FOUND);
    CHECK_EQ(hvt_fmt_reader_seek_event(r, UINT64_MAX), -HVT_E_NOT_FOUND);
    CHECK_EQ(hvt_fmt_reader_seek_event(r, 0), 0);
    CHECK_EQ(hvt_fmt_reader_next(r, &rec), 1);
    CHECK(rec.type == HVT_REC_EVENT && rec.u.event->id == id_of(0));
    hvt_fmt_reader_close(r);
}

static void test_seek(void)
{
    seek_checks(0);
    seek_checks(HVT_FMT_R_SCAN);
}

struct thr {
    struct hvt_fmt_reader *r;
    int start;
    uint64_t events;
    int errors;
};

static void *load_all(void *arg)
{
    struct thr *t = arg;
    for (int round = 0; round < 2; round++)
        for (int64_t k = t->start; k < n_chunks; k++) {
            struct hvt_fmt_chunk *c;
            if (hvt_fmt_reader_load_chunk(t->r, (uint64_t)k, &c)) {
                t->errors++;
                continue;
            }
            for (size_t j = 0; j < hvt_fmt_chunk_records(c); j++) {
                struct hvt_record rec;
                if (hvt_fmt_chunk_record(c, j, &rec) || rec.type != HVT_REC_EVENT)
                    continue;
                uint64_t i = (rec.u.event->id - 100) / 2;
                if (i >= N_EVENTS || !event_eq(evs[i], rec.u.event))
                    t->errors++;
                t->events++;
            }
            hvt_fmt_chunk_free(c);
        }
    return NULL;
}

static void test_threads(void)
{
    /* in scan mode the chunk table grows under the reader's lock while both threads load */
    for (unsigned flags = 0; flags <= HVT_FMT_R_SCAN; flags += HVT_FMT_R_SCAN) {
        struct hvt_fmt_reader_options ro;
        hvt_fmt_reader_options_init(&ro);
        ro.flags = flags;
        struct hvt_fmt_reader *r;
        CHECK_EQ(hvt_fmt_reader_open(&r, path, &ro), 0);
        struct thr a = {r, 0, 0, 0}, b = {r, 0, 0, 0};
        pthread_t ta, tb;
        CHECK_EQ(pthread_create(&ta, NULL, load_all, &a), 0);
        CHECK_EQ(pthread_create(&tb, NULL, load_all, &b), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        CHECK_EQ(a.errors + b.errors, 0);
        CHECK_EQ(a.events, 2 * N_EVENTS);
        CHECK_EQ(b.events, 2 * N_EVENTS);
        hvt_fmt_reader_close(r);
    }
}

static void test_bad_args(void)
{
    struct hvt_fmt_reader *r = (struct hvt_fmt_reader *)1;
    CHECK_EQ(hvt_fmt_reader_open(NULL, path, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_reader_open(&r, NULL, NULL), -HVT_E_INVALID);
    CHECK(r == NULL);
    CHECK_EQ(hvt_fmt_reader_open(&r, "", NULL), -HVT_E_INVALID);
    struct hvt_fmt_reader_options ro;
    hvt_fmt_reader_options_init(&ro);
    ro.flags = 0x80;
    CHECK_EQ(hvt_fmt_reader_open(&r, path, &ro), -HVT_E_INVALID);
    ro.flags = 0;
    ro.size = 4;
    CHECK_EQ(hvt_fmt_reader_open(&r, path, &ro), -HVT_E_INVALID);
    hvt_fmt_reader_options_init(NULL);
    CHECK_EQ(hvt_fmt_reader_open(&r, "/nonexistent/x.hvt", NULL), -HVT_E_IO);
    CHECK(r != NULL && strstr(hvt_fmt_reader_error(r)->message, "No such file") != NULL);
    CHECK(hvt_fmt_reader_header(r) == NULL);
    struct hvt_record rec;
    CHECK_EQ(hvt_fmt_reader_next(r, &rec), -HVT_E_INVALID); /* a reader whose open failed */
    hvt_fmt_reader_close(r);
    hvt_fmt_reader_close(NULL);
    CHECK(hvt_fmt_reader_error(NULL)->code == 0);

    CHECK_EQ(hvt_fmt_reader_open(&r, path, NULL), 0);
    CHECK_EQ(hvt_fmt_reader_next(NULL, &rec), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_reader_next(r, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_reader_seek_event(NULL, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_reader_chunk_count(NULL), -HVT_E_INVALID);
    struct hvt_fmt_chunk_info info;
    CHECK_EQ(hvt_fmt_reader_chunk_info(NULL, 0, &info), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_reader_chunk_info(r, 0, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_reader_chunk_info(r, 1u << 30, &info), -HVT_E_NOT_FOUND);
    struct hvt_fmt_chunk *c = (struct hvt_fmt_chunk *)1;
    CHECK_EQ(hvt_fmt_reader_load_chunk(NULL, 0, &c), -HVT_E_INVALID);
    CHECK(c == NULL);
    CHECK_EQ(hvt_fmt_reader_load_chunk(r, 0, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_reader_load_chunk(r, 1u << 30, &c), -HVT_E_NOT_FOUND);
    CHECK_EQ(hvt_fmt_chunk_records(NULL), 0);
    CHECK_EQ(hvt_fmt_chunk_record(NULL, 0, &rec), -HVT_E_INVALID);
    CHECK(hvt_fmt_chunk_callsite(NULL, 1) == NULL);
    hvt_fmt_chunk_free(NULL);
    CHECK(hvt_fmt_reader_callsite(NULL, 1) == NULL);
    CHECK(hvt_fmt_reader_callsite(r, 1) == NULL); /* nothing read yet */
    CHECK(hvt_fmt_reader_header(NULL) == NULL);
    CHECK_EQ(hvt_fmt_reader_has_index(NULL), 0);
    CHECK_EQ(hvt_fmt_reader_has_index(r), 1);
    CHECK_EQ(hvt_fmt_reader_load_chunk(r, 0, &c), 0);
    CHECK_EQ(hvt_fmt_chunk_record(c, 0, NULL), -HVT_E_INVALID);
    hvt_fmt_chunk_free(c);
    hvt_fmt_reader_close(r);

    CHECK_EQ(hvt_fmt_verify(NULL, NULL, NULL, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_verify("/nonexistent/x.hvt", NULL, NULL, NULL), -HVT_E_IO);
    CHECK_EQ(hvt_fmt_verify(path, NULL, NULL, NULL), 0);
    CHECK_EQ(hvt_fmt_salvage(NULL, "x", NULL, NULL, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_salvage(path, NULL, NULL, NULL, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_salvage(path, path, NULL, NULL, NULL), -HVT_E_SAME_FILE);
}

/* A chunk in which no event carries instruction bytes has an empty ev_insn column: decoding it
 * must not pass protobuf-c's NULL data pointer to memcpy (UBSan caught this in the recorder's
 * kill test). */
static void test_chunk_without_insn_bytes(void)
{
    char p2[512];
    tmp_path(p2, sizeof(p2), "noinsn");
    struct hvt_fmt_writer_options o;
    hvt_fmt_writer_options_init(&o);
    o.flags = HVT_FMT_W_OVERWRITE;
    struct hvt_fmt_writer *w;
    CHECK_EQ(hvt_fmt_writer_open(&w, p2, NULL, &o), 0);
    struct hvt_event *ev[3];
    for (int i = 0; i < 3; i++) {
        ev[i] = gen_event(10 + (uint64_t)i, i ? ev[i - 1] : NULL, 0);
        ev[i]->insn_len = 0;
        memset(ev[i]->insn, 0, sizeof(ev[i]->insn));
        CHECK_EQ(hvt_fmt_writer_append(w, ev[i]), 0);
    }
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    struct hvt_fmt_reader *r = NULL;
    CHECK_EQ(hvt_fmt_reader_open(&r, p2, NULL), 0);
    struct hvt_record rec;
    int n = 0;
    while (r && hvt_fmt_reader_next(r, &rec) == 1) {
        CHECK_EQ(rec.type, HVT_REC_EVENT);
        CHECK_EQ(rec.u.event->insn_len, 0);
        CHECK_U64(rec.u.event->id, 10 + (uint64_t)n);
        n++;
    }
    CHECK_EQ(n, 3);
    hvt_fmt_reader_close(r);
    for (int i = 0; i < 3; i++)
        gen_free(ev[i]);
    unlink(p2);
}

/* The reader keeps its record storage from chunk to chunk: a chunk of small accesses and states
 * without SIMD registers, read after one of 32-byte cmpxchg accesses and SIMD states, must
 * still hand out records whose every byte the format defines (zero past the data's size, zero
 * cmpxchg operands, zero SIMD part), not what the previous chunk left there. */
static void test_storage_reuse_leaves_nothing(void)
{
    char p[512];
    tmp_path(p, sizeof(p), "reuse");
    struct hvt_fmt_writer *w = gen_writer(p, 4096);
    static struct hvt_event ev;
    static struct hvt_pass ps[2];
    static struct hvt_access acc[2][8];
    const int n = 400;
    for (int i = 0; i < n; i++) {
        int big = i < n / 2;
        memset(&ev, 0, sizeof(ev));
        memset(ps, 0, sizeof(ps));
        memset(acc, 0, sizeof(acc));
        ev.id = (uint64_t)i + 1;
        ev.vcpu = (uint32_t)(i % 2);
        ev.init.rip = 0x1000 + (uint64_t)i;
        if (big) {
            ev.init.flags = HVT_STATE_SIMD_VALID;
            ev.init.mxcsr = 0x1f80;
            memset(ev.init.ymm, 0xa5, sizeof(ev.init.ymm));
        }
        ev.n_passes = 2;
        ev.passes = ps;
        for (int k = 0; k < 2; k++) {
            ps[k].index = (uint32_t)k;
            ps[k].end = ev.init;
            ps[k].end.ymm[3][k] ^= big ? 0x5a : 0;
            ps[k].n_accesses = 8;
            ps[k].accesses = acc[k];
            for (int a = 0; a < 8; a++) {
                struct hvt_access *x = &acc[k][a];
                x->kind = big ? HVT_ACC_CMPXCHG : HVT_ACC_READ;
                x->seg = HVT_SEG_NONE;
                x->size = big ? HVT_DATA_MAX : 1;
                x->phys = 0x2000 + 8 * (uint64_t)a;
                memset(x->data, big ? 0xff : 0x11, x->size);
                if (big) {
                    memset(x->old, 0xee, x->size);
                    memset(x->cur, 0xdd, x->size);
                }
            }
        }
        CHECK_EQ(hvt_fmt_writer_append(w, &ev), 0);
    }
    struct hvt_fmt_writer_stats st;
    CHECK_EQ(hvt_fmt_writer_close(w, &st), 0);
    CHECK(st.chunks >= 4);
    struct hvt_fmt_reader *r = NULL;
    CHECK_EQ(hvt_fmt_reader_open(&r, p, NULL), 0);
    struct hvt_record rec;
    int seen = 0, rc;
    static const uint8_t zero[512];
    while ((rc = hvt_fmt_reader_next(r, &rec)) == 1) {
        const struct hvt_event *e = rec.u.event;
        if (e->id > (uint64_t)n / 2) { /* a small one */
            CHECK(!(e->init.flags & HVT_STATE_SIMD_VALID));
            CHECK(e->init.mxcsr == 0 && !memcmp(e->init.ymm, zero, sizeof(e->init.ymm)));
            for (uint32_t k = 0; k < e->n_passes; k++) {
                const struct hvt_pass *q = &e->passes[k];
                CHECK(q->end.mxcsr == 0 && !memcmp(q->end.ymm, zero, sizeof(q->end.ymm)));
                for (uint32_t a = 0; a < q->n_accesses; a++) {
                    const struct hvt_access *x = &q->accesses[a];
                    CHECK_EQ(x->data[0], 0x11);
                    CHECK(!memcmp(x->data + 1, zero, HVT_DATA_MAX - 1));
                    CHECK(!memcmp(x->old, zero, HVT_DATA_MAX) &&
                          !memcmp(x->cur, zero, HVT_DATA_MAX));
                }
            }
        } else {
            CHECK(e->init.ymm[0][0] == 0xa5 && e->passes[1].end.ymm[3][1] == (0xa5 ^ 0x5a));
            CHECK(e->passes[0].accesses[7].old[31] == 0xee);
        }
        seen++;
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ(seen, n);
    hvt_fmt_reader_close(r);
    unlink(p);
}

int main(void)
{
    tmp_path(path, sizeof(path), "reader");
    RUN(setup);
    RUN(test_seek);
    RUN(test_threads);
    RUN(test_bad_args);
    RUN(test_chunk_without_insn_bytes);
    RUN(test_storage_reuse_leaves_nothing);
    for (int i = 0; i < N_EVENTS; i++)
        gen_free(evs[i]);
    unlink(path);
    TEST_DONE();
}
