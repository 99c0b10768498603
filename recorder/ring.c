/* SPDX-License-Identifier: MIT */
/* Recorder: ring allocation and the block-mode sleep/wake pair (futex, only when full). */
#include "ring.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hvtrace/error.h"

int hvt_ring_init(struct ring *r, size_t bytes)
{
    uint64_t n = 1;
    void *mem = NULL;

    while (n * RING_SLOT < bytes)
        n <<= 1;
    memset(r, 0, sizeof(*r));
    if (posix_memalign(&mem, RING_CACHELINE, n * RING_SLOT))
        return -HVT_E_NOMEM;
    /* Touch every page now so the first laps do not page-fault on the vCPU's path. */
    memset(mem, 0, n * RING_SLOT);
    r->mem = mem;
    r->nslots = n;
    r->mask = n - 1;
    r->limit = n;
    return 0;
}

void hvt_ring_fini(struct ring *r)
{
    free(r->mem);
    r->mem = NULL;
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t val, long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

void *hvt_ring_reserve_slow(struct ring *r, uint32_t n, uint32_t keep)
{
    uint64_t head = r->phead;
    uint64_t idx = head & r->mask;
    uint64_t pad = (idx + n > r->nslots) ? r->nslots - idx : 0;
    uint64_t need = pad + n + keep, lap_end;

    if (r->nslots - (head - r->cached_tail) < need) {
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (r->nslots - (head - r->cached_tail) < need)
            return NULL;
    }
    if (pad) {
        struct ring_hdr *ph = (struct ring_hdr *)(r->mem + idx * RING_SLOT);
        ph->type = RT_PAD;
        ph->nslots = (uint8_t)pad;
        idx = 0;
    }
    r->pending = pad + n;
    /* The record starts at head + pad; the next ones may run to the end of its lap. */
    lap_end = ((head + pad) & ~r->mask) + r->nslots;
    r->limit = r->cached_tail + r->nslots < lap_end ? r->cached_tail + r->nslots : lap_end;
    return r->mem + idx * RING_SLOT;
}

void hvt_ring_wait(struct ring *r, uint64_t want)
{
    uint32_t seq;
    uint64_t need;

    if (want > r->nslots)
        want = r->nslots;
    /* that much is free whatever the tail */
    if (r->phead + want <= r->nslots)
        return;
    /* the tail that leaves WANT slots free; >= 1 */
    need = r->phead + want - r->nslots;
    /* Dekker pair with hvt_ring_notify: either the consumer sees wait_tail, or we see its
     * tail. */
    atomic_store_explicit(&r->wait_tail, need, memory_order_seq_cst);
    seq = atomic_load_explicit(&r->progress, memory_order_seq_cst);
    if (atomic_load_explicit(&r->tail, memory_order_seq_cst) < need)
        futex_wait(&r->progress, seq, 10 * 1000 * 1000L);
    atomic_store_explicit(&r->wait_tail, 0, memory_order_relaxed);
}

void hvt_ring_notify(struct ring *r)
{
    /* A locked RMW orders our tail store before the load of wait_tail (a full barrier on x86;
     * a plain fence would do but ThreadSanitizer does not model fences). */
    uint64_t w = atomic_fetch_or_explicit(&r->wait_tail, 0, memory_order_seq_cst);
    if (w && atomic_load_explicit(&r->tail, memory_order_relaxed) >= w) {
        atomic_fetch_add_explicit(&r->progress, 1, memory_order_seq_cst);
        futex_wake_all(&r->progress);
    }
}

void hvt_ring_wake(struct ring *r)
{
    atomic_fetch_add_explicit(&r->progress, 1, memory_order_seq_cst);
    futex_wake_all(&r->progress);
}
