/* SPDX-License-Identifier: MIT */
/* hvtrace format: deep copy and free of events, for holding records past their reader. */
#include <stdlib.h>
#include <string.h>

#include "hvtrace/format.h"

/* Layout of a clone: one block holding the event, its passes and all their accesses, so that
 * hvt_event_free is a single free and a clone is never half-built. */
int hvt_event_clone(struct hvt_event **out, const struct hvt_event *ev)
{
    if (!out)
        return -HVT_E_INVALID;
    *out = NULL;
    if (!ev || (ev->n_passes && !ev->passes) || ev->n_passes > HVT_FMT_MAX_PASSES)
        return -HVT_E_INVALID;
    size_t na = 0;
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        if (ev->passes[p].n_accesses && !ev->passes[p].accesses)
            return -HVT_E_INVALID;
        na += ev->passes[p].n_accesses;
    }
    size_t sz = sizeof(struct hvt_event) + ev->n_passes * sizeof(struct hvt_pass) +
                na * sizeof(struct hvt_access);
    struct hvt_event *c = malloc(sz);
    if (!c)
        return -HVT_E_NOMEM;
    *c = *ev;
    struct hvt_pass *ps = (struct hvt_pass *)(c + 1);
    struct hvt_access *as = (struct hvt_access *)(ps + ev->n_passes);
    c->passes = ev->n_passes ? ps : NULL;
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        ps[p] = ev->passes[p];
        if (ps[p].n_accesses) {
            memcpy(as, ev->passes[p].accesses, ps[p].n_accesses * sizeof(*as));
            ps[p].accesses = as;
            as += ps[p].n_accesses;
        } else {
            ps[p].accesses = NULL;
        }
    }
    *out = c;
    return 0;
}

void hvt_event_free(struct hvt_event *ev)
{
    free(ev);
}
