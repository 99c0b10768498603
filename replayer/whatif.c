/* SPDX-License-Identifier: MIT */
/* Replayer what-if: later passes simulated with an access-once buffer filled by the first. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

int rpl_whatif(struct hvt_rpl_engine *e, const struct hvt_event *ev,
               struct hvt_rpl_event_report *rep)
{
    (void)e;
    (void)ev;
    rep->whatif = HVT_RPL_WHATIF_UNKNOWN;
    snprintf(rep->whatif_detail, sizeof(rep->whatif_detail), "not implemented yet");
    return 0;
}
