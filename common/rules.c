/* SPDX-License-Identifier: MIT */
/* hvtrace common: why an access or a pass outcome breaks the recording rules (rules.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "hvtrace/error.h"
#include "common/rules.h"

static int why(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int why(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    if (msg && len) {
        va_start(ap, fmt);
        vsnprintf(msg, len, fmt, ap);
        va_end(ap);
    }
    return -HVT_E_INVALID;
}

int hvt_access_explain(const struct hvt_access *a, char *msg, size_t len)
{
    unsigned kind = a->kind, cls = a->tag.cls, level = a->tag.level;
    int is_io = kind == HVT_ACC_IO_IN || kind == HVT_ACC_IO_OUT;

    if (msg && len)
        msg[0] = 0;
    if (kind >= HVT_ACC__COUNT)
        return why(msg, len, "kind %u out of range (0..%u)", kind, HVT_ACC__COUNT - 1);
    if (a->space >= HVT_SPACE__COUNT)
        return why(msg, len, "space %u out of range (0..%u)", a->space, HVT_SPACE__COUNT - 1);
    if (a->seg > HVT_SEG_IDTR && a->seg != HVT_SEG_NONE)
        return why(msg, len, "segment %u out of range (0..%u or %u, none)", a->seg, HVT_SEG_IDTR,
                   HVT_SEG_NONE);
    if (a->outcome >= HVT_OP__COUNT)
        return why(msg, len, "outcome %u out of range (0..%u)", a->outcome, HVT_OP__COUNT - 1);
    if (cls >= HVT_TAG__COUNT)
        return why(msg, len, "tag class %u out of range (0..%u)", cls, HVT_TAG__COUNT - 1);
    if (a->size == 0 || a->size > HVT_DATA_MAX)
        return why(msg, len, "size %u out of range (1..%u)", a->size, HVT_DATA_MAX);
    if (a->flags & ~HVT_AF_ALL)
        return why(msg, len, "unknown access flags 0x%x", a->flags & ~HVT_AF_ALL);
    if (a->tag.reserved)
        return why(msg, len, "tag.reserved is %u, must be 0", a->tag.reserved);
    if (cls == HVT_TAG_WALK) {
        if (level < 1 || level > HVT_WALK_PAE_PDPTE)
            return why(msg, len, "walk level %u (walk levels are 1..5, or %u for a PAE PDPTE)",
                       level, HVT_WALK_PAE_PDPTE);
        if (kind != HVT_ACC_READ)
            return why(msg, len, "walk access of kind %s (a page walk reads)",
                       hvt_access_kind_name(kind));
    } else if (cls == HVT_TAG_AD) {
        if (level < 1 || level > 5)
            return why(msg, len, "a/d level %u (a/d updates are at levels 1..5)", level);
        if (kind != HVT_ACC_CMPXCHG && kind != HVT_ACC_WRITE)
            return why(msg, len, "a/d access of kind %s (an a/d update is a cmpxchg or write)",
                       hvt_access_kind_name(kind));
    } else if (level) {
        return why(msg, len, "level %u on a %s access (only walk and a/d have a level)", level,
                   hvt_tag_class_name(cls));
    }
    if (is_io && cls != HVT_TAG_IO)
        return why(msg, len, "%s with tag class %s (port I/O is tagged io)",
                   hvt_access_kind_name(kind), hvt_tag_class_name(cls));
    if (!is_io && cls == HVT_TAG_IO)
        return why(msg, len, "tag class io on a %s (io is for io-in and io-out)",
                   hvt_access_kind_name(kind));
    if (is_io != (a->space == HVT_SPACE_PORT))
        return why(msg, len, "%s in space %s (port I/O is in space port, and only port I/O)",
                   hvt_access_kind_name(kind), hvt_space_name(a->space));
    if (is_io && a->phys > HVT_PORT_MAX)
        return why(msg, len, "port 0x%" PRIx64 " above 0x%x", a->phys, HVT_PORT_MAX);
    if ((kind == HVT_ACC_FETCH) != (cls == HVT_TAG_FETCH))
        return why(msg, len, "%s with tag class %s (fetches, and only fetches, are tagged fetch)",
                   hvt_access_kind_name(kind), hvt_tag_class_name(cls));
    if (a->outcome == HVT_OP_CMPXCHG_FAILED && kind != HVT_ACC_CMPXCHG)
        return why(msg, len, "outcome cmpxchg-failed on a %s", hvt_access_kind_name(kind));
    return 0;
}

int hvt_outcome_explain(const struct hvt_pass_outcome *o, char *msg, size_t len)
{
    if (msg && len)
        msg[0] = 0;
    if (o->kind >= HVT_OUT__COUNT)
        return why(msg, len, "outcome kind %u out of range (0..%u)", o->kind, HVT_OUT__COUNT - 1);
    if (o->retry_cause >= HVT_RETRY__COUNT)
        return why(msg, len, "retry cause %u out of range (0..%u)", o->retry_cause,
                   HVT_RETRY__COUNT - 1);
    if (o->retry_cause != HVT_RETRY_NONE && o->kind != HVT_OUT_RETRY)
        return why(msg, len, "retry cause %s on a pass that ended %s",
                   hvt_retry_cause_name(o->retry_cause), hvt_outcome_name(o->kind));
    if (o->flags & ~HVT_PO_HAS_ERROR_CODE)
        return why(msg, len, "unknown outcome flags 0x%x", o->flags & ~HVT_PO_HAS_ERROR_CODE);
    if (o->kind != HVT_OUT_EXCEPTION && (o->vector || (o->flags & HVT_PO_HAS_ERROR_CODE)))
        return why(msg, len, "vector or error code on a pass that ended %s",
                   hvt_outcome_name(o->kind));
    if (o->kind == HVT_OUT_EXCEPTION && o->vector >= 32)
        return why(msg, len, "exception vector %u (vectors are 0..31)", o->vector);
    if (o->retire & ~(HVT_RETIRE_KNOWN | HVT_RETIRE_REPORTED))
        return why(msg, len, "unknown retire flags 0x%x",
                   o->retire & ~(HVT_RETIRE_KNOWN | HVT_RETIRE_REPORTED));
    if ((o->retire & HVT_RETIRE_KNOWN) && o->kind != HVT_OUT_OKAY)
        return why(msg, len, "retire flags 0x%x on a pass that ended %s",
                   o->retire & HVT_RETIRE_KNOWN, hvt_outcome_name(o->kind));
    return 0;
}
