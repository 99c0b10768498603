/* SPDX-License-Identifier: MIT */
/* Recorder: a single-producer/single-consumer ring of 8-byte slots holding variable records. */
#ifndef HVT_REC_RING_H
#define HVT_REC_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Records are whole 8-byte words: an access takes 32 to 48 bytes instead of a 64-byte slot of
 * its own, and every line a vCPU fills is a line the writer's core must take from it. */
#define RING_SLOT 8u
#define RING_CACHELINE 64
#define RING_LINE_SLOTS (RING_CACHELINE / RING_SLOT)

/* Every record starts with this header (one slot); a record occupies NSLOTS consecutive slots
 * (at most 255, 2040 bytes) and never wraps (the producer pads to the end of the ring instead),
 * so both sides use it in place. */
struct ring_hdr {
    uint8_t type;   /* enum rec_rtype */
    uint8_t nslots; /* slots used by this record, >= 1 */
    uint16_t flags;
    uint32_t aux;
};

enum rec_rtype {
    RT_PAD = 0,      /* filler up to the end of the ring */
    RT_BEGIN = 1,    /* struct rr_begin */
    RT_ACCESS = 2,   /* struct rr_access */
    RT_PASS_END = 3, /* struct rr_pass_end */
    RT_END = 4,      /* struct rr_end */
};

/* Indices count slots and only grow; the slot is index & mask. head is written by the producer
 * only, tail by the consumer only. Each shared index has a cache line of its own, apart from
 * the fields its writer updates privately: when head shared a line with the producer's
 * private indices, every read of head by the writer cost the vCPU a line transfer at its
 * next record (a tenth of its recording cost on the host's mixed scenario). Both sides work on
 * private copies of their index and publish it in batches (head: ring_publish; tail:
 * ring_release), so neither pulls the other's line once per record. */
struct ring {
    _Alignas(RING_CACHELINE) _Atomic uint64_t head; /* published head: the consumer's view */

    _Alignas(RING_CACHELINE) uint64_t phead; /* producer: head including unpublished records */
    uint64_t pub;                            /* producer: the value last stored into head */
    uint64_t cached_tail;                    /* producer's last view of tail */
    uint64_t limit;   /* producer: phead may grow to this without looking at tail: the room
                         known free, up to the end of the current lap (records never wrap) */
    uint64_t pending; /* producer: slots reserved by ring_reserve, added by commit */

    _Alignas(RING_CACHELINE) _Atomic uint64_t tail;

    _Alignas(RING_CACHELINE) uint64_t cached_head; /* consumer's last view of head */
    uint64_t ctail;                                /* consumer: tail including unreleased pops */

    /* Block-mode wakeup: the producer stores in wait_tail the tail it waits for (0: not
     * waiting) and sleeps on progress (a futex word); the consumer bumps progress and wakes it
     * only once its tail reached wait_tail, so a waiting producer wakes once the room it asked
     * for is free, not for every batch the writer takes. */
    _Alignas(RING_CACHELINE) _Atomic uint64_t wait_tail;
    _Atomic uint32_t progress;

    _Alignas(RING_CACHELINE) uint64_t nslots; /* power of two */
    uint64_t mask;
    uint8_t *mem; /* nslots * RING_SLOT bytes, cache-line aligned */
};

int hvt_ring_init(struct ring *r, size_t bytes);
void hvt_ring_fini(struct ring *r);

/* Committed records are published to the consumer in batches of this many slots (and at
 * every ring_publish): each store to head pulls its cache line away from a consumer polling
 * it, which cost about as much as the rest of recording an access when done per record. */
#define RING_PUBLISH_SLOTS (32u * RING_LINE_SLOTS)

/* Producer, slow path of ring_reserve: looks at tail, pads to the end of the lap when the
 * record would wrap, and moves limit. */
void *hvt_ring_reserve_slow(struct ring *r, uint32_t n, uint32_t keep);

/* Producer: a pointer to N contiguous free slots (after padding to the ring's end when they
 * would wrap), keeping at least KEEP further slots free; NULL when there is no such room. The
 * fast path is one compare against limit. */
static inline void *ring_reserve(struct ring *r, uint32_t n, uint32_t keep)
{
    uint64_t head = r->phead;
    if (__builtin_expect(head + n + keep <= r->limit, 1)) {
        r->pending = n;
        return r->mem + (head & r->mask) * RING_SLOT;
    }
    return hvt_ring_reserve_slow(r, n, keep);
}

/* Producer: makes every committed record visible to the consumer. */
static inline void ring_publish(struct ring *r)
{
    if (r->phead != r->pub) {
        r->pub = r->phead;
        atomic_store_explicit(&r->head, r->pub, memory_order_release);
    }
}

/* The producer asks for write ownership of the line this many slots ahead of its head: the
 * consumer on the other core read that line at the previous turn of the ring, and waiting for
 * it at the first store of a record cost a vCPU about 2 ns per access. */
#define RING_PREFETCH_W_SLOTS (16u * RING_LINE_SLOTS)

/* Producer: commits the record returned by the last ring_reserve; it becomes visible at the
 * next batch boundary or ring_publish. */
static inline void ring_commit(struct ring *r)
{
    r->phead += r->pending;
    __builtin_prefetch(r->mem + ((r->phead + RING_PREFETCH_W_SLOTS) & r->mask) * RING_SLOT, 1);
    if (r->phead - r->pub >= RING_PUBLISH_SLOTS)
        ring_publish(r);
}

/* The consumer stores tail (frees room for the producer) at least every this many slots, and at
 * every ring_release. */
#define RING_RELEASE_SLOTS (32u * RING_LINE_SLOTS)

/* Consumer: the next record, or NULL when the ring is empty. Padding is skipped. */
static inline const struct ring_hdr *ring_peek(struct ring *r)
{
    for (;;) {
        const struct ring_hdr *h;
        if (r->ctail == r->cached_head) {
            r->cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
            if (r->ctail == r->cached_head)
                return NULL;
        }
        h = (const struct ring_hdr *)(r->mem + (r->ctail & r->mask) * RING_SLOT);
        if (h->type != RT_PAD)
            return h;
        r->ctail += h->nslots;
    }
}

/* Consumer: starts loading the published line 8 lines ahead of tail: the producer wrote it on
 * another core, and waiting for each line in turn is much of the consumer's cost. (One
 * prefetch per record keeps 8 lines in flight; more per record only cost instructions.) */
#define RING_PREFETCH_R_SLOTS (8u * RING_LINE_SLOTS)
static inline void ring_prefetch(struct ring *r)
{
    if (r->ctail + RING_PREFETCH_R_SLOTS < r->cached_head)
        __builtin_prefetch(r->mem + ((r->ctail + RING_PREFETCH_R_SLOTS) & r->mask) * RING_SLOT);
}

/* Consumer: makes every popped record's room the producer's again. */
static inline void ring_release(struct ring *r)
{
    atomic_store_explicit(&r->tail, r->ctail, memory_order_release);
}

/* Consumer: pops the record returned by ring_peek (its slots are released in batches). */
static inline void ring_pop(struct ring *r, const struct ring_hdr *h)
{
    r->ctail += h->nslots;
    if (r->ctail - atomic_load_explicit(&r->tail, memory_order_relaxed) >= RING_RELEASE_SLOTS)
        ring_release(r);
}

/* Consumer: after ring_release, wakes the producer if it sleeps in hvt_ring_wait and the room
 * it waits for is free. */
void hvt_ring_notify(struct ring *r);
/* Anyone: wakes a producer sleeping in hvt_ring_wait, whatever the room (the recording
 * stopped). */
void hvt_ring_wake(struct ring *r);

/* Consumer: slots in use right now (for the fill statistic). */
static inline uint64_t ring_fill(struct ring *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire) - r->ctail;
}

/* Producer, slow path: sleeps until WANT slots are free (WANT <= nslots), hvt_ring_wake is
 * called, or about 10 ms passed. */
void hvt_ring_wait(struct ring *r, uint64_t want);

#endif
