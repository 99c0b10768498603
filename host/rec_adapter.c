/* SPDX-License-Identifier: MIT */
/* Simulated host: the one place that calls the recorder (event/pass calls, op interposer), so
 * the rest of the host runs the same with or without a recording. */
#include "hvtrace/recorder.h"

#include "host_int.h"

int hvt_host_rec_bind(struct vcpu *v)
{
    if (!v->h->rec) {
        v->ev_ops = hvt_host_event_ops;
        v->ev_ctx = v;
        return 0;
    }
    return hvt_rec_wrap_ops(v->h->rec, v->id, &hvt_host_event_ops, v, &v->ev_ops, &v->ev_ctx);
}

int hvt_host_rec_event_begin(struct vcpu *v, const uint8_t *insn, size_t len)
{
    if (!v->h->rec || v->unrecorded)
        return 0;
    return hvt_rec_event_begin(v->h->rec, v->id, &v->st, len ? insn : NULL, len);
}

int hvt_host_rec_pass_begin(struct vcpu *v)
{
    return v->h->rec && !v->unrecorded ? hvt_rec_pass_begin(v->h->rec, v->id) : 0;
}

int hvt_host_rec_pass_end(struct vcpu *v, const struct hvt_pass_outcome *out)
{
    return v->h->rec && !v->unrecorded ? hvt_rec_pass_end(v->h->rec, v->id, out, &v->st) : 0;
}

int hvt_host_rec_event_end(struct vcpu *v)
{
    return v->h->rec && !v->unrecorded ? hvt_rec_event_end(v->h->rec, v->id) : 0;
}

int hvt_host_rec_healthy(struct hvt_host *h)
{
    return h->rec ? hvt_rec_error(h->rec) : 0;
}

const char *hvt_host_rec_message(struct hvt_host *h)
{
    return h->rec ? hvt_rec_error_message(h->rec) : "";
}
