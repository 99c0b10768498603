/* SPDX-License-Identifier: MIT */
/* hvtrace format: a byte-budgeted ProtobufCAllocator, so that unpacking hostile input cannot
 * allocate more than a bound derived from the (already limited) message size. */
#ifndef HVT_FMT_PBMEM_H
#define HVT_FMT_PBMEM_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct hvt_pbmem {
    ProtobufCAllocator a; /* pass &m->a to protobuf-c */
    size_t budget, used, peak;
    int exceeded; /* an allocation was refused for the budget (-> HVT_E_LIMIT, not BAD_RECORD) */
};

/* Each allocation counts its size plus a small header against BUDGET. */
void hvt_pbmem_init(struct hvt_pbmem *m, size_t budget);

/* Budget for unpacking a message of LEN bytes: packed varints expand to at most 8 bytes each
 * and a nested message of 2 bytes to about 64, so 16x covers what our writer produces. */
static inline size_t hvt_pbmem_budget(size_t len)
{
    return 16 * len + (1u << 20);
}

#endif
