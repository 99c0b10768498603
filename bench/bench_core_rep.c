/* SPDX-License-Identifier: MIT */
/* hvtrace benchmark piece (issue 4): REP MOVSB throughput of the reference core. */
#include "bench_core_rep.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hvtrace/core.h"
#include "hvtrace/error.h"

#define RB_RAM 0x20000u
#define RB_CODE 0x8000u
#define RB_SRC 0x10000u
#define RB_DST 0x11000u

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int rb_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    (void)info;
    if (gpa >= RB_RAM || size > RB_RAM - gpa)
        return HVT_OP_UNHANDLEABLE;
    memcpy(buf, (uint8_t *)ctx + gpa, size);
    return HVT_OP_OKAY;
}
static int rb_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                    struct hvt_op_info *info)
{
    (void)info;
    if (gpa >= RB_RAM || size > RB_RAM - gpa)
        return HVT_OP_UNHANDLEABLE;
    memcpy((uint8_t *)ctx + gpa, buf, size);
    return HVT_OP_OKAY;
}
static int rb_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                      struct hvt_op_info *info)
{
    uint8_t *m = (uint8_t *)ctx + gpa;
    (void)info;
    if (gpa >= RB_RAM || size > RB_RAM - gpa)
        return HVT_OP_UNHANDLEABLE;
    if (memcmp(m, old, size)) {
        memcpy(old, m, size);
        return HVT_OP_CMPXCHG_FAILED;
    }
    memcpy(m, new_, size);
    return HVT_OP_OKAY;
}
static int rb_in(void *ctx, uint16_t port, void *buf, uint32_t size, struct hvt_op_info *info)
{
    (void)ctx, (void)port, (void)buf, (void)size, (void)info;
    return HVT_OP_UNHANDLEABLE;
}
static int rb_out(void *ctx, uint16_t port, const void *buf, uint32_t size,
                  struct hvt_op_info *info)
{
    (void)ctx, (void)port, (void)buf, (void)size, (void)info;
    return HVT_OP_UNHANDLEABLE;
}
static const struct hvt_core_ops rb_ops = {
    sizeof(struct hvt_core_ops), rb_read, rb_write, rb_cmpxchg, rb_in, rb_out,
};

static void put64(uint8_t *m, uint64_t gpa, uint64_t v)
{
    memcpy(m + gpa, &v, 8);
}

/* 64-bit state with identity-mapped 4-level paging of the low 2 MiB (tables at 0x1000..). */
static void rb_state(struct hvt_vcpu_state *st, uint8_t *m)
{
    const uint64_t e = 0x67; /* P RW US A D */
    memset(st, 0, sizeof(*st));
    put64(m, 0x1000, 0x2000 | e);
    put64(m, 0x2000, 0x3000 | e);
    put64(m, 0x3000, 0x4000 | e);
    for (uint64_t p = 0; p < RB_RAM / 4096; p++)
        put64(m, 0x4000 + 8 * p, (p * 4096) | e);
    st->cr0 = 0x80010001ull;
    st->cr3 = 0x1000;
    st->cr4 = 0x20;
    st->efer = 0xd00;
    st->rflags = 2;
    for (unsigned i = 0; i < 6; i++) {
        st->seg[i].attr = 0x93 | (1u << 10) | (1u << 11);
        st->seg[i].limit = 0xffffffffu;
    }
    st->seg[HVT_SEG_CS].attr = 0x9b | (1u << 9) | (1u << 11);
    st->seg[HVT_SEG_LDTR].attr = 1u << 16;
    st->seg[HVT_SEG_TR].attr = 0x8b;
    st->seg[HVT_SEG_TR].limit = 0x67;
    m[RB_CODE] = 0xf3; /* rep movsb */
    m[RB_CODE + 1] = 0xa4;
}

int hvt_core_bench_rep_movsb(double min_seconds, double *bytes_per_s)
{
    struct hvt_core *core = NULL;
    struct hvt_vcpu_state st0, st;
    struct hvt_core_result res;
    uint8_t *m;
    uint64_t bytes = 0;
    double t0, t;
    int rc;

    if (!bytes_per_s)
        return -HVT_E_INVALID;
    *bytes_per_s = 0;
    rc = hvt_core_open(&core, HVT_CORE_REF, NULL, 0);
    if (rc < 0)
        return rc;
    m = calloc(1, RB_RAM);
    if (!m) {
        hvt_core_close(core);
        return -HVT_E_NOMEM;
    }
    rb_state(&st0, m);
    for (unsigned i = 0; i < 4096; i++)
        m[RB_SRC + i] = (uint8_t)(i * 13);
    t0 = cpu_now();
    do {
        for (int k = 0; k < 16; k++) {
            st = st0;
            st.rip = RB_CODE;
            st.gpr[HVT_RCX] = 4096;
            st.gpr[HVT_RSI] = RB_SRC;
            st.gpr[HVT_RDI] = RB_DST;
            rc = hvt_core_emulate(core, &st, &rb_ops, m, &res);
            if (rc < 0 || res.out.kind != HVT_OUT_OKAY || st.gpr[HVT_RCX]) {
                rc = rc < 0 ? rc : -HVT_E_INTERNAL;
                goto out;
            }
            bytes += 4096;
        }
        t = cpu_now() - t0;
    } while (t < min_seconds);
    rc = memcmp(m + RB_SRC, m + RB_DST, 4096) ? -HVT_E_INTERNAL : 0;
    if (!rc)
        *bytes_per_s = t > 0 ? (double)bytes / t : 0;
out:
    free(m);
    hvt_core_close(core);
    return rc;
}
