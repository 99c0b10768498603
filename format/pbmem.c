/* SPDX-License-Identifier: MIT */
/* hvtrace format: the budgeted protobuf-c allocator. */
#include "pbmem.h"

#include <stdint.h>
#include <stdlib.h>

#define HDR 16 /* keeps the size in front of the block, 16-byte alignment preserved */

static void *pbmem_alloc(void *data, size_t size)
{
    struct hvt_pbmem *m = data;
    if (size > m->budget || m->used + size + HDR > m->budget) {
        m->exceeded = 1;
        return NULL;
    }
    unsigned char *p = malloc(size + HDR);
    if (!p)
        return NULL;
    *(size_t *)p = size;
    m->used += size + HDR;
    if (m->used > m->peak)
        m->peak = m->used;
    return p + HDR;
}

static void pbmem_free(void *data, void *ptr)
{
    struct hvt_pbmem *m = data;
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - HDR;
    m->used -= *(size_t *)p + HDR;
    free(p);
}

void hvt_pbmem_init(struct hvt_pbmem *m, size_t budget)
{
    m->a.alloc = pbmem_alloc;
    m->a.free = pbmem_free;
    m->a.allocator_data = m;
    m->budget = budget;
    m->used = m->peak = 0;
    m->exceeded = 0;
}
