/* SPDX-License-Identifier: MIT */
/* Oracle: a whole differential run: N cases of a seed on the reference core and on unicorn. */
#include <stdlib.h>
#include <string.h>

#include "common/sized.h"
#include "orc_internal.h"

void hvt_orc_run_fini(struct hvt_orc_run *run)
{
    if (run) {
        free(run->per_form);
        memset(run, 0, sizeof(*run));
    }
}

int hvt_orc_core_follow(struct hvt_core *core, const struct hvt_cpu_profile *cpu)
{
    struct hvt_cpu_profile p;
    if (!cpu) {
        if (hvt_cpu_profile_named(&p, "unicorn") < 0)
            return -HVT_E_INTERNAL;
        cpu = &p;
    }
    return hvt_core_set_cpu(core, cpu);
}

int hvt_orc_check(uint64_t seed, uint64_t n, const struct hvt_orc_filter *f,
                  hvt_orc_mismatch_fn on_mismatch, void *arg, struct hvt_orc_run *run)
{
    struct hvt_core *core = NULL;
    struct hvt_orc_case c;
    struct hvt_orc_result ref, uc;
    char diff[2048];
    int rc;

    struct hvt_orc_filter fl; /* the caller's, in this library's layout */
    if (!run)
        return -HVT_E_INVALID;
    memset(run, 0, sizeof(*run));
    if (f) {
        if (hvt_sized_in(&fl, sizeof(fl), f, f->size, HVT_ORC_FILTER_SIZE_V1))
            return -HVT_E_INVALID;
        fl.size = sizeof(fl);
        f = &fl;
    }
    if (!hvt_orc_unicorn_available())
        return -HVT_E_UNSUPPORTED;
    run->per_form = calloc(hvt_orc_nforms, sizeof(*run->per_form));
    if (!run->per_form)
        return -HVT_E_NOMEM;
    rc = hvt_core_open(&core, HVT_CORE_REF, NULL, 0);
    if (rc < 0)
        return rc;
    rc = hvt_orc_core_follow(core, f ? f->cpu : NULL);
    if (rc < 0) {
        hvt_core_close(core);
        return rc;
    }
    if (hvt_orc_case_init(&c) || hvt_orc_result_init(&ref) || hvt_orc_result_init(&uc)) {
        rc = -HVT_E_NOMEM;
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        unsigned dev = 0;
        rc = hvt_orc_gen(&c, hvt_orc_case_seed(seed, i), f);
        if (rc < 0)
            goto out;
        hvt_orc_run_core(core, &c, &ref);
        hvt_orc_run_unicorn(&c, &uc);
        int cmp = hvt_orc_compare(&c, &ref, &uc, diff, sizeof(diff), &dev);
        run->cases++;
        run->per_form[c.form].cases++;
        if (ref.status == HVT_ORC_HARNESS || uc.status == HVT_ORC_HARNESS)
            run->harness_errors++;
        if (cmp == 1) {
            run->mismatches++;
            run->per_form[c.form].mismatches++;
            if (on_mismatch)
                on_mismatch(arg, &c, &ref, &uc, diff);
        } else if (cmp == 2) {
            run->excluded++;
            run->excluded_by[dev]++;
            run->per_form[c.form].excluded++;
        }
    }
    rc = 0;
out:
    hvt_orc_case_fini(&c);
    hvt_orc_result_fini(&ref);
    hvt_orc_result_fini(&uc);
    hvt_core_close(core);
    return rc;
}
