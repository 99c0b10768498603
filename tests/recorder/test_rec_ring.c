/* SPDX-License-Identifier: MIT */
/* Recorder ring: the producer's one-compare reserve (limit), padding at the end of a lap, a
 * full ring, the drop-mode reserve (keep), batched publish and release, and the block-mode
 * wait/notify pair under two threads. */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "hvt_test.h"
#include "recorder/ring.h"

/* A test record: the header, then (nslots - 1) words each holding seq * 1000 + word index. */
static void fill(void *p, uint32_t n, uint32_t seq)
{
    struct ring_hdr *h = p;
    uint64_t *w = (uint64_t *)p;
    h->type = RT_ACCESS;
    h->nslots = (uint8_t)n;
    h->flags = 0;
    h->aux = seq;
    for (uint32_t i = 1; i < n; i++)
        w[i] = (uint64_t)seq * 1000 + i;
}

static int good(const struct ring_hdr *h, uint32_t n, uint32_t seq)
{
    const uint64_t *w = (const uint64_t *)h;
    if (h->type != RT_ACCESS || h->nslots != n || h->aux != seq)
        return 0;
    for (uint32_t i = 1; i < n; i++)
        if (w[i] != (uint64_t)seq * 1000 + i)
            return 0;
    return 1;
}

/* Deterministic record sizes 1..RMAX. */
#define RMAX 200u
static uint32_t size_of(uint32_t seq)
{
    return 1 + (seq * 2654435761u >> 7) % RMAX;
}

/* Single thread: records of every size through many laps; none wraps, padding is skipped,
 * every record comes out whole and in order, and room comes back only at release. */
static void test_laps(void)
{
    struct ring r;
    uint32_t put = 0, got = 0, pads = 0;
    uint64_t laps;

    CHECK_EQ(hvt_ring_init(&r, 8192), 0);
    CHECK_U64(r.nslots, 1024);
    while (got < 20000) {
        /* fill until full */
        for (;;) {
            uint32_t n = size_of(put);
            uint64_t before = r.phead;
            uint8_t *p = ring_reserve(&r, n, 0);
            if (!p) {
                /* full: really less than n slots free (counting the padding it would need) */
                uint64_t idx = r.phead & r.mask;
                uint64_t pad = idx + n > r.nslots ? r.nslots - idx : 0;
                CHECK(r.nslots - (r.phead - atomic_load(&r.tail)) < pad + n);
                break;
            }
            CHECK(p >= r.mem && p + (size_t)n * RING_SLOT <= r.mem + r.nslots * RING_SLOT);
            if ((before & r.mask) + n > r.nslots)
                pads++;
            fill(p, n, put++);
            ring_commit(&r);
        }
        ring_publish(&r);
        /* take about half, releasing only at the end */
        for (uint32_t k = 0; k < 12; k++) {
            const struct ring_hdr *h = ring_peek(&r);
            if (!h)
                break;
            CHECK(good(h, size_of(got), got));
            ring_pop(&r, h);
            got++;
        }
        ring_release(&r);
    }
    laps = r.phead / r.nslots;
    CHECK(laps > 100);
    CHECK(pads > 50); /* the end of a lap was reached with a record that did not fit */
    /* drain the rest */
    for (const struct ring_hdr *h; (h = ring_peek(&r));) {
        CHECK(good(h, size_of(got), got));
        ring_pop(&r, h);
        got++;
    }
    ring_release(&r);
    CHECK_EQ(got, put);
    CHECK_U64(atomic_load(&r.tail), r.phead);
    fprintf(stderr, "laps %llu, records %u, padded %u\n", (unsigned long long)laps, put, pads);
    hvt_ring_fini(&r);
}

/* Popped but not released is not free: the producer must not write over it. Then keep. */
static void test_full_and_keep(void)
{
    struct ring r;
    uint32_t seq = 0;
    const struct ring_hdr *h;

    CHECK_EQ(hvt_ring_init(&r, 8192), 0);
    /* 1024 slots: 128 records of 8 */
    while (ring_reserve(&r, 8, 0)) {
        fill(r.mem + (r.phead & r.mask) * RING_SLOT, 8, seq++);
        ring_commit(&r);
    }
    CHECK_EQ(seq, 128);
    CHECK_U64(r.phead, 1024);
    /* not yet published past the last batch: publish, then the consumer sees all */
    ring_publish(&r);
    CHECK_U64(ring_fill(&r), 1024);
    /* pop 4 records (32 slots, below the release batch): still full for the producer */
    for (int i = 0; i < 4; i++) {
        h = ring_peek(&r);
        CHECK(h && good(h, 8, (uint32_t)i));
        ring_pop(&r, h);
    }
    CHECK_U64(atomic_load(&r.tail), 0);
    CHECK(ring_reserve(&r, 1, 0) == NULL);
    ring_release(&r);
    CHECK_U64(atomic_load(&r.tail), 32);
    /* 32 free: a reserve keeping 25 more cannot take 8, one keeping 24 can */
    CHECK(ring_reserve(&r, 8, 25) == NULL);
    CHECK(ring_reserve(&r, 8, 24) != NULL);
    fill(r.mem + (r.phead & r.mask) * RING_SLOT, 8, seq++);
    ring_commit(&r);
    /* the record went to the start of the next lap, over the released room */
    CHECK_U64(r.phead, 1032);
    ring_publish(&r);
    /* everything comes out in order, the new record last */
    for (uint32_t i = 4; i < seq; i++) {
        h = ring_peek(&r);
        CHECK(h && good(h, 8, i));
        if (!h)
            break;
        ring_pop(&r, h);
    }
    CHECK(ring_peek(&r) == NULL);
    /* popping past the release batch stores tail without ring_release */
    CHECK_U64(atomic_load(&r.tail), 1032 - (1032 - 32) % RING_RELEASE_SLOTS);
    hvt_ring_fini(&r);
}

/* Publish is batched: committed records are invisible until a batch boundary or publish. */
static void test_publish_batches(void)
{
    struct ring r;
    uint32_t seq = 0;

    CHECK_EQ(hvt_ring_init(&r, 1 << 16), 0);
    while (r.phead + 4 < RING_PUBLISH_SLOTS) {
        CHECK(ring_reserve(&r, 4, 0) != NULL);
        fill(r.mem + (r.phead & r.mask) * RING_SLOT, 4, seq++);
        ring_commit(&r);
    }
    CHECK(ring_peek(&r) == NULL);
    CHECK(ring_reserve(&r, 4, 0) != NULL);
    fill(r.mem + (r.phead & r.mask) * RING_SLOT, 4, seq++);
    ring_commit(&r); /* crosses the batch */
    CHECK(ring_peek(&r) != NULL);
    CHECK_U64(atomic_load(&r.head), r.phead);
    hvt_ring_fini(&r);
}

/* Two threads: block-mode producer (waits for half the ring), consumer that notifies. */
struct pc {
    struct ring r;
    uint32_t total;
    _Atomic uint32_t got;
    _Atomic int bad;
    uint32_t waits;
};

static void *producer(void *p)
{
    struct pc *c = p;
    for (uint32_t seq = 0; seq < c->total; seq++) {
        uint32_t n = size_of(seq);
        void *q;
        while (!(q = ring_reserve(&c->r, n, 0))) {
            ring_publish(&c->r);
            c->waits++;
            hvt_ring_wait(&c->r, c->r.nslots / 2); /* more than any record and its padding */
        }
        fill(q, n, seq);
        ring_commit(&c->r);
    }
    ring_publish(&c->r);
    return NULL;
}

static void *consumer(void *p)
{
    struct pc *c = p;
    uint32_t got = 0;
    while (got < c->total) {
        const struct ring_hdr *h;
        int k = 0;
        while (k < 300 && (h = ring_peek(&c->r))) {
            if (!good(h, size_of(got), got))
                atomic_store(&c->bad, 1);
            ring_pop(&c->r, h);
            got++;
            k++;
        }
        ring_release(&c->r);
        hvt_ring_notify(&c->r);
        atomic_store(&c->got, got);
        if (!k)
            sched_yield();
    }
    return NULL;
}

static void test_threads(void)
{
    static struct pc c;
    pthread_t a, b;

    memset(&c, 0, sizeof(c));
    CHECK_EQ(hvt_ring_init(&c.r, 8192), 0);
    c.total = 200000;
    pthread_create(&a, NULL, producer, &c);
    pthread_create(&b, NULL, consumer, &c);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    CHECK_EQ(atomic_load(&c.bad), 0);
    CHECK_EQ(atomic_load(&c.got), c.total);
    CHECK(c.waits > 0); /* an 8 KiB ring fills */
    fprintf(stderr, "threads: %u records, producer waited %u times\n", c.total, c.waits);
    hvt_ring_fini(&c.r);
}

/* hvt_ring_wait returns at once when the room is already there, and hvt_ring_wake releases a
 * producer whatever the room. */
struct wk {
    struct ring *r;
    _Atomic int done; /* the waiter returned (woken, or its 10 ms passed first) */
};

static void *waker(void *p)
{
    struct wk *k = p;
    while (!atomic_load(&k->r->wait_tail) && !atomic_load(&k->done))
        sched_yield();
    hvt_ring_wake(k->r);
    return NULL;
}

static void test_wait_wake(void)
{
    struct ring r;
    struct wk k;
    pthread_t t;
    double t0;
    struct timespec ts;

    CHECK_EQ(hvt_ring_init(&r, 8192), 0);
    hvt_ring_wait(&r, 512); /* empty ring: no sleep */
    CHECK_U64(atomic_load(&r.wait_tail), 0);
    while (ring_reserve(&r, 8, 0))
        ring_commit(&r);
    ring_publish(&r);
    k.r = &r;
    atomic_store(&k.done, 0);
    pthread_create(&t, NULL, waker, &k);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    hvt_ring_wait(&r, 512); /* full, nobody consumes: only the wake (or the 10 ms cap) ends it */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    atomic_store(&k.done, 1);
    pthread_join(t, NULL);
    CHECK_U64(atomic_load(&r.wait_tail), 0);
    CHECK((double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec - t0 < 5.0);
    hvt_ring_fini(&r);
}

int main(void)
{
    test_laps();
    test_full_and_keep();
    test_publish_batches();
    test_threads();
    test_wait_wake();
    return hvt_test_failures ? 1 : 0;
}
