/* SPDX-License-Identifier: MIT */
/* Core tests: a flat guest-RAM ops table that logs every op call, with MMIO/port ranges that
 * can be made to answer RETRY or UNHANDLEABLE. Header-only so every test program can use it. */
#ifndef HVT_TEST_RAM_OPS_H
#define HVT_TEST_RAM_OPS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ram.h"
#include "hvtrace/core.h"

#define RAM_LOG_MAX 4096

struct ram_log_entry {
    uint8_t kind; /* enum hvt_access_kind */
    uint8_t result;
    uint32_t size;
    uint64_t gpa; /* or port */
    struct hvt_op_info info;
    uint8_t data[HVT_DATA_MAX]; /* value read/written (cmpxchg: new) */
    uint8_t old[HVT_DATA_MAX];  /* cmpxchg: expected */
};

struct ram {
    uint8_t *mem;
    uint64_t size;
    /* [mmio_lo, mmio_hi): answers mmio_result (RETRY by default) for memory ops */
    uint64_t mmio_lo, mmio_hi;
    int mmio_result;
    uint8_t mmio_value; /* byte returned for MMIO reads answered OKAY */
    int port_result;    /* answer to io_in/io_out (OKAY by default) */
    uint8_t port_value;
    /* fail the Nth op call (0-based) with fail_result; -1 = never */
    long fail_at;
    int fail_result;
    unsigned n_log;
    struct ram_log_entry log[RAM_LOG_MAX];
};

static inline struct ram *ram_new(uint64_t size)
{
    struct ram *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->mem = calloc(1, size);
    if (!r->mem)
        abort();
    r->size = size;
    r->mmio_lo = r->mmio_hi = 0;
    r->mmio_result = HVT_OP_RETRY;
    r->port_result = HVT_OP_OKAY;
    r->fail_at = -1;
    return r;
}

static inline void ram_free(struct ram *r)
{
    if (r) {
        free(r->mem);
        free(r);
    }
}

static inline void ram_clear_log(struct ram *r)
{
    r->n_log = 0;
}

static inline struct ram_log_entry *ram_log(struct ram *r, uint8_t kind, uint64_t gpa,
                                            uint32_t size, const struct hvt_op_info *info)
{
    struct ram_log_entry *e;
    if (r->n_log >= RAM_LOG_MAX)
        abort();
    e = &r->log[r->n_log++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->gpa = gpa;
    e->size = size;
    e->info = *info;
    return e;
}

/* Returns nonzero (and the result to give) when this call must fail. */
static inline int ram_forced(struct ram *r, int *res)
{
    if (r->fail_at >= 0 && (long)r->n_log - 1 == r->fail_at) {
        *res = r->fail_result;
        return 1;
    }
    return 0;
}

static inline int ram_in_mmio(struct ram *r, uint64_t gpa, uint32_t size)
{
    return gpa < r->mmio_hi && gpa + size > r->mmio_lo;
}

static inline int ram_read(void *ctx, uint64_t gpa, void *buf, uint32_t size,
                           struct hvt_op_info *info)
{
    struct ram *r = ctx;
    struct ram_log_entry *e = ram_log(r, info->kind, gpa, size, info);
    int res;
    if (ram_forced(r, &res))
        return e->result = (uint8_t)res;
    if (ram_in_mmio(r, gpa, size)) {
        info->space = HVT_SPACE_MMIO;
        e->info.space = HVT_SPACE_MMIO;
        if (r->mmio_result != HVT_OP_OKAY)
            return e->result = (uint8_t)r->mmio_result;
        memset(buf, r->mmio_value, size);
        memcpy(e->data, buf, size);
        return HVT_OP_OKAY;
    }
    res = hvt_ram_read(&(struct hvt_ram){.mem = r->mem, .size = r->size}, gpa, buf, size);
    if (res != HVT_OP_OKAY)
        return e->result = (uint8_t)res;
    memcpy(e->data, buf, size);
    return HVT_OP_OKAY;
}

static inline int ram_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                            struct hvt_op_info *info)
{
    struct ram *r = ctx;
    struct ram_log_entry *e = ram_log(r, HVT_ACC_WRITE, gpa, size, info);
    int res;
    memcpy(e->data, buf, size);
    if (ram_forced(r, &res))
        return e->result = (uint8_t)res;
    if (ram_in_mmio(r, gpa, size)) {
        info->space = HVT_SPACE_MMIO;
        e->info.space = HVT_SPACE_MMIO;
        return e->result = (uint8_t)r->mmio_result;
    }
    res = hvt_ram_write(&(struct hvt_ram){.mem = r->mem, .size = r->size}, gpa, buf, size);
    return e->result = (uint8_t)res;
}

static inline int ram_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                              struct hvt_op_info *info)
{
    struct ram *r = ctx;
    struct ram_log_entry *e = ram_log(r, HVT_ACC_CMPXCHG, gpa, size, info);
    int res;
    memcpy(e->data, new_, size);
    memcpy(e->old, old, size);
    if (ram_forced(r, &res))
        return e->result = (uint8_t)res;
    if (ram_in_mmio(r, gpa, size)) {
        info->space = HVT_SPACE_MMIO;
        e->info.space = HVT_SPACE_MMIO;
        return e->result = (uint8_t)r->mmio_result;
    }
    res = hvt_ram_cmpxchg(&(struct hvt_ram){.mem = r->mem, .size = r->size}, gpa, old, new_, size);
    return e->result = (uint8_t)res;
}

static inline int ram_io_in(void *ctx, uint16_t port, void *buf, uint32_t size,
                            struct hvt_op_info *info)
{
    struct ram *r = ctx;
    struct ram_log_entry *e = ram_log(r, HVT_ACC_IO_IN, port, size, info);
    int res;
    if (ram_forced(r, &res))
        return e->result = (uint8_t)res;
    if (r->port_result != HVT_OP_OKAY)
        return e->result = (uint8_t)r->port_result;
    memset(buf, r->port_value, size);
    memcpy(e->data, buf, size);
    return HVT_OP_OKAY;
}

static inline int ram_io_out(void *ctx, uint16_t port, const void *buf, uint32_t size,
                             struct hvt_op_info *info)
{
    struct ram *r = ctx;
    struct ram_log_entry *e = ram_log(r, HVT_ACC_IO_OUT, port, size, info);
    int res;
    memcpy(e->data, buf, size);
    if (ram_forced(r, &res))
        return e->result = (uint8_t)res;
    return e->result = (uint8_t)r->port_result;
}

static const struct hvt_core_ops ram_ops = {
    sizeof(struct hvt_core_ops), ram_read, ram_write, ram_cmpxchg, ram_io_in, ram_io_out,
};

/* Little-endian helpers for building page tables and checking memory. */
static inline void ram_put64(struct ram *r, uint64_t gpa, uint64_t v)
{
    memcpy(r->mem + gpa, &v, 8);
}
static inline uint64_t ram_get64(struct ram *r, uint64_t gpa)
{
    uint64_t v;
    memcpy(&v, r->mem + gpa, 8);
    return v;
}
static inline void ram_put32(struct ram *r, uint64_t gpa, uint32_t v)
{
    memcpy(r->mem + gpa, &v, 4);
}
static inline uint32_t ram_get32(struct ram *r, uint64_t gpa)
{
    uint32_t v;
    memcpy(&v, r->mem + gpa, 4);
    return v;
}

#endif
