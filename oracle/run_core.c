/* SPDX-License-Identifier: MIT */
/* Oracle: runs a case on a core through an ops table over a copy of the case's RAM. */
#include <stdlib.h>
#include <string.h>

#include "common/ram.h"
#include "orc_internal.h"

int hvt_orc_case_init(struct hvt_orc_case *c)
{
    memset(c, 0, sizeof(*c));
    c->ram = calloc(1, HVT_ORC_RAM_SIZE);
    return c->ram ? 0 : -HVT_E_NOMEM;
}

void hvt_orc_case_fini(struct hvt_orc_case *c)
{
    if (c) {
        free(c->ram);
        memset(c, 0, sizeof(*c));
    }
}

int hvt_orc_result_init(struct hvt_orc_result *r)
{
    memset(r, 0, sizeof(*r));
    r->ram = calloc(1, HVT_ORC_RAM_SIZE);
    return r->ram ? 0 : -HVT_E_NOMEM;
}

void hvt_orc_result_fini(struct hvt_orc_result *r)
{
    if (r) {
        free(r->ram);
        memset(r, 0, sizeof(*r));
    }
}

/* Plain RAM (common/ram.h): everything in range is served, nothing else (the case never needs
 * a device). */
static struct hvt_ram case_ram(struct hvt_orc_result *r)
{
    return (struct hvt_ram){.mem = r->ram, .size = HVT_ORC_RAM_SIZE};
}

static int op_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct hvt_ram m = case_ram(ctx);
    return hvt_ram_read(&m, gpa, buf, size);
}

static int op_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                    struct hvt_op_info *info)
{
    struct hvt_ram m = case_ram(ctx);
    return hvt_ram_write(&m, gpa, buf, size);
}

static int op_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                      struct hvt_op_info *info)
{
    struct hvt_ram m = case_ram(ctx);
    return hvt_ram_cmpxchg(&m, gpa, old, new_, size);
}

/* Port I/O (INS/OUTS cases): inputs read hvt_orc_io_value(port, k) for the K-th access, outputs
 * are logged; the comparison checks both sequences against unicorn's. */
static void io_log(struct hvt_orc_result *r, uint16_t port, uint32_t size, int out, uint32_t v)
{
    if (r->io_n < HVT_ORC_IO_LOG) {
        struct hvt_orc_io *e = &r->io[r->io_n];
        e->port = port;
        e->size = (uint8_t)size;
        e->out = (uint8_t)out;
        e->value = v;
    }
    r->io_n++;
}

static int op_io(void *ctx, uint16_t port, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct hvt_orc_result *r = ctx;
    uint32_t v = hvt_orc_io_value(port, r->io_n);
    (void)info;
    if (size != 1 && size != 2 && size != 4)
        return HVT_OP_UNHANDLEABLE;
    v &= size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
    memcpy(buf, &v, size);
    io_log(r, port, size, 0, v);
    return HVT_OP_OKAY;
}

static int op_io_out(void *ctx, uint16_t port, const void *buf, uint32_t size,
                     struct hvt_op_info *info)
{
    struct hvt_orc_result *r = ctx;
    uint32_t v = 0;
    (void)info;
    if (size != 1 && size != 2 && size != 4)
        return HVT_OP_UNHANDLEABLE;
    memcpy(&v, buf, size);
    io_log(r, port, size, 1, v);
    return HVT_OP_OKAY;
}

static const struct hvt_core_ops orc_ops = {
    sizeof(struct hvt_core_ops), op_read, op_write, op_cmpxchg, op_io, op_io_out,
};

int hvt_orc_run_core(struct hvt_core *core, const struct hvt_orc_case *c,
                     struct hvt_orc_result *r)
{
    struct hvt_core_result res;
    int rc;
    if (!core || !c || !r || !c->ram || !r->ram)
        return -HVT_E_INVALID;
    memcpy(r->ram, c->ram, HVT_ORC_RAM_SIZE);
    r->st = c->st;
    r->status = HVT_ORC_HARNESS;
    r->vector = 0;
    r->has_ec = 0;
    r->error_code = 0;
    r->cr2 = 0;
    r->noncanon_rip = 0;
    r->detail[0] = 0;
    r->io_n = 0;
    memset(&res, 0, sizeof(res));
    rc = hvt_core_emulate(core, &r->st, &orc_ops, r, &res);
    if (rc < 0) {
        snprintf(r->detail, sizeof(r->detail), "core error: %s", hvt_strerror(rc));
        return 0;
    }
    snprintf(r->detail, sizeof(r->detail), "%s", res.detail);
    switch (res.out.kind) {
    case HVT_OUT_OKAY:
        r->status = HVT_ORC_DONE;
        break;
    case HVT_OUT_EXCEPTION:
        r->status = HVT_ORC_FAULT;
        r->vector = res.out.vector;
        r->has_ec = !!(res.out.flags & HVT_PO_HAS_ERROR_CODE);
        r->error_code = res.out.error_code;
        r->cr2 = res.out.cr2;
        break;
    case HVT_OUT_UNIMPLEMENTED:
        r->status = HVT_ORC_UNIMPLEMENTED;
        break;
    case HVT_OUT_RETRY:
        r->status = HVT_ORC_RETRY;
        break;
    default:
        r->status = HVT_ORC_UNHANDLEABLE;
        break;
    }
    return 0;
}
