/* SPDX-License-Identifier: MIT */
/* hvtrace common: the flat guest RAM behind the phys ops (ram.h). */
#include "common/ram.h"

static int in_ram(const struct hvt_ram *r, uint64_t gpa, uint32_t size)
{
    return gpa < r->size && size <= r->size - gpa;
}

int hvt_ram_read(const struct hvt_ram *r, uint64_t gpa, void *buf, uint32_t size)
{
    if (!in_ram(r, gpa, size))
        return HVT_OP_UNHANDLEABLE;
    memcpy(buf, r->mem + gpa, size);
    return HVT_OP_OKAY;
}

int hvt_ram_write(struct hvt_ram *r, uint64_t gpa, const void *buf, uint32_t size)
{
    if (!in_ram(r, gpa, size))
        return HVT_OP_UNHANDLEABLE;
    memcpy(r->mem + gpa, buf, size);
    return HVT_OP_OKAY;
}

int hvt_ram_cmpxchg(struct hvt_ram *r, uint64_t gpa, void *old, const void *new_, uint32_t size)
{
    if (!in_ram(r, gpa, size))
        return HVT_OP_UNHANDLEABLE;
    if (memcmp(r->mem + gpa, old, size)) {
        memcpy(old, r->mem + gpa, size);
        return HVT_OP_CMPXCHG_FAILED;
    }
    memcpy(r->mem + gpa, new_, size);
    return HVT_OP_OKAY;
}

static int op_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct hvt_ram *r = ctx;
    r->ops++;
    return hvt_ram_read(r, gpa, buf, size);
}

static int op_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                    struct hvt_op_info *info)
{
    struct hvt_ram *r = ctx;
    r->ops++;
    return hvt_ram_write(r, gpa, buf, size);
}

static int op_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                      struct hvt_op_info *info)
{
    struct hvt_ram *r = ctx;
    r->ops++;
    return hvt_ram_cmpxchg(r, gpa, old, new_, size);
}

static int op_in(void *ctx, uint16_t port, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct hvt_ram *r = ctx;
    r->ops++;
    if (r->io_result != HVT_OP_OKAY)
        return r->io_result;
    memset(buf, 0xff, size); /* nothing decodes the port: the bus floats high */
    return HVT_OP_OKAY;
}

static int op_out(void *ctx, uint16_t port, const void *buf, uint32_t size,
                  struct hvt_op_info *info)
{
    struct hvt_ram *r = ctx;
    r->ops++;
    return r->io_result;
}

const struct hvt_core_ops hvt_ram_ops = {
    sizeof(struct hvt_core_ops), op_read, op_write, op_cmpxchg, op_in, op_out,
};
