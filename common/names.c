/* SPDX-License-Identifier: MIT */
/* hvtrace: names of the shared enum values, used by every tool and report. */
#include "hvtrace/types.h"

#define NAME_FN(fn, table)                                                                    \
    const char *fn(unsigned v)                                                                \
    {                                                                                         \
        if (v >= sizeof(table) / sizeof(table[0]) || !table[v])                              \
            return "?";                                                                       \
        return table[v];                                                                      \
    }

static const char *const kinds[] = {"read", "write", "fetch", "cmpxchg", "io-in", "io-out"};
static const char *const spaces[] = {"ram", "mmio", "port"};
static const char *const classes[] = {"fetch", "data", "stack", "desc", "walk", "ad", "io"};
static const char *const segs[] = {"es",   "cs", "ss",   "ds",   "fs", "gs", "ldtr", "tr",
                                   "gdtr", "idtr", NULL, NULL, NULL, NULL, NULL, "none"};
static const char *const results[] = {"ok", "retry", "unhandleable", "cmpxchg-failed"};
static const char *const outcomes[] = {"okay", "retry", "exception", "unhandleable",
                                       "unimplemented"};
static const char *const causes[] = {"none", "mmio", "pio", "rep-partial", "other"};

NAME_FN(hvt_access_kind_name, kinds)
NAME_FN(hvt_space_name, spaces)
NAME_FN(hvt_tag_class_name, classes)
NAME_FN(hvt_seg_name, segs)
NAME_FN(hvt_op_result_name, results)
NAME_FN(hvt_outcome_name, outcomes)
NAME_FN(hvt_retry_cause_name, causes)
