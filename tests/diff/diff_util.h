/* SPDX-License-Identifier: MIT */
/* Differential tests: shared setup (unicorn availability, one core, a case and two results). */
#ifndef HVT_DIFF_UTIL_H
#define HVT_DIFF_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "gen.h"
#include "hvt_test.h"
#include "hvtrace/oracle.h"

#define SKIP_CODE 77

struct fix {
    struct hvt_core *core;
    struct hvt_orc_case c;
    struct hvt_orc_result ref, uc;
};

/* Exits with 77 (ctest SKIP) when unicorn is not built in. */
static inline void fix_init(struct fix *x)
{
    if (!hvt_orc_unicorn_available()) {
        fprintf(stderr, "SKIP: unicorn is not available in this build\n");
        exit(SKIP_CODE);
    }
    if (hvt_core_open(&x->core, HVT_CORE_REF, NULL, 0) < 0 ||
        hvt_orc_core_follow(x->core, NULL) < 0 || hvt_orc_case_init(&x->c) ||
        hvt_orc_result_init(&x->ref) || hvt_orc_result_init(&x->uc)) {
        fprintf(stderr, "setup failed\n");
        exit(1);
    }
}

static inline void fix_fini(struct fix *x)
{
    hvt_orc_case_fini(&x->c);
    hvt_orc_result_fini(&x->ref);
    hvt_orc_result_fini(&x->uc);
    hvt_core_close(x->core);
}

/* Runs the case on both; returns hvt_orc_compare's answer, *DEV the deviation. */
static inline int fix_run(struct fix *x, unsigned *dev)
{
    char diff[2048];
    int rc;
    hvt_orc_run_core(x->core, &x->c, &x->ref);
    hvt_orc_run_unicorn(&x->c, &x->uc);
    rc = hvt_orc_compare(&x->c, &x->ref, &x->uc, diff, sizeof(diff), dev);
    if (rc == 1)
        fprintf(stderr, "diff:\n%s", diff);
    return rc;
}

static inline uint64_t ram64(const uint8_t *ram, uint64_t pa)
{
    uint64_t v;
    memcpy(&v, ram + pa, 8);
    return v;
}

#endif
