/* SPDX-License-Identifier: MIT */
/* hvtrace benchmark piece (core extensions): REP MOVSB throughput of the reference core. */
#include "bench_core_rep.h"

#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "hvtrace/core.h"
#include "hvtrace/error.h"

#define RB_RAM 0x20000u
#define RB_CODE 0x8000u
#define RB_SRC 0x10000u
#define RB_DST 0x11000u

/* 64-bit state with identity-mapped 4-level paging of the low 2 MiB (tables at 0x1000..). */
static void rb_state(struct hvt_vcpu_state *st, struct hvt_ram *r)
{
    uint8_t *m = r->mem;
    const uint64_t e = 0x67; /* P RW US A D */
    memset(st, 0, sizeof(*st));
    hvt_ram_put64(r, 0x1000, 0x2000 | e);
    hvt_ram_put64(r, 0x2000, 0x3000 | e);
    hvt_ram_put64(r, 0x3000, 0x4000 | e);
    for (uint64_t p = 0; p < RB_RAM / 4096; p++)
        hvt_ram_put64(r, 0x4000 + 8 * p, (p * 4096) | e);
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
    struct hvt_ram ram = {.mem = NULL, .size = RB_RAM};
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
    ram.mem = m;
    rb_state(&st0, &ram);
    for (unsigned i = 0; i < 4096; i++)
        m[RB_SRC + i] = (uint8_t)(i * 13);
    t0 = hvt_bench_cpu_now();
    do {
        for (int k = 0; k < 16; k++) {
            st = st0;
            st.rip = RB_CODE;
            st.gpr[HVT_RCX] = 4096;
            st.gpr[HVT_RSI] = RB_SRC;
            st.gpr[HVT_RDI] = RB_DST;
            rc = hvt_core_emulate(core, &st, &hvt_ram_ops, &ram, &res);
            if (rc < 0 || res.out.kind != HVT_OUT_OKAY || st.gpr[HVT_RCX]) {
                rc = rc < 0 ? rc : -HVT_E_INTERNAL;
                goto out;
            }
            bytes += 4096;
        }
        t = hvt_bench_cpu_now() - t0;
    } while (t < min_seconds);
    rc = memcmp(m + RB_SRC, m + RB_DST, 4096) ? -HVT_E_INTERNAL : 0;
    if (!rc)
        *bytes_per_s = t > 0 ? (double)bytes / t : 0;
out:
    free(m);
    hvt_core_close(core);
    return rc;
}
