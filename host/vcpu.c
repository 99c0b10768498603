/* SPDX-License-Identifier: MIT */
/* Simulated host: running one vCPU step: the unrecorded probe, and event passes with the
 * device-model protocol (RETRY, completed requests, mismatch check) and access-once buffer. */
#include <stdio.h>
#include <string.h>

#include "host_int.h"

/* ---- probe ops: RAM only, writes kept private ------------------------------------------- */

/* Reads RAM and overlays the probe's own buffered writes (oldest first, so the newest wins). */
static void sb_read(struct vcpu *v, uint64_t gpa, uint8_t *buf, uint32_t size)
{
    hvt_host_ram_read(v->h, gpa, buf, size);
    for (unsigned i = 0; i < v->n_sb; i++) {
        const struct sb_entry *e = &v->sb[i];
        uint64_t lo = e->gpa > gpa ? e->gpa : gpa;
        uint64_t hi = e->gpa + e->size < gpa + size ? e->gpa + e->size : gpa + size;
        for (uint64_t a = lo; a < hi; a++)
            buf[a - gpa] = e->data[a - e->gpa];
    }
}

static int sb_add(struct vcpu *v, uint64_t gpa, const void *buf, uint32_t size, const void *expect)
{
    if (v->n_sb >= SB_MAX) {
        /* Too many writes to keep private: give up the probe; the instruction then runs as
         * an event, which is always correct (just recorded when it need not be). */
        v->sb_overflow = 1;
        return HVT_OP_UNHANDLEABLE;
    }
    v->sb[v->n_sb].gpa = gpa;
    v->sb[v->n_sb].size = size;
    v->sb[v->n_sb].cas = expect != NULL;
    if (expect)
        memcpy(v->sb[v->n_sb].expect, expect, size);
    memcpy(v->sb[v->n_sb].data, buf, size);
    v->n_sb++;
    return HVT_OP_OKAY;
}

/* A device access in the probe: refuse it before anything reaches the device model. */
static int probe_device(struct vcpu *v, struct hvt_op_info *info, int port)
{
    v->probe_hit = 1;
    info->space = port ? HVT_SPACE_PORT : HVT_SPACE_MMIO;
    return HVT_OP_UNHANDLEABLE;
}

static int probe_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct vcpu *v = ctx;
    if (!hvt_host_in_ram(v->h, gpa, size))
        return hvt_host_in_mmio(gpa, size) ? probe_device(v, info, 0) : HVT_OP_UNHANDLEABLE;
    info->space = HVT_SPACE_RAM;
    sb_read(v, gpa, buf, size);
    return HVT_OP_OKAY;
}

static int probe_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                       struct hvt_op_info *info)
{
    struct vcpu *v = ctx;
    if (!hvt_host_in_ram(v->h, gpa, size))
        return hvt_host_in_mmio(gpa, size) ? probe_device(v, info, 0) : HVT_OP_UNHANDLEABLE;
    info->space = HVT_SPACE_RAM;
    return sb_add(v, gpa, buf, size, NULL);
}

static int probe_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                         struct hvt_op_info *info)
{
    struct vcpu *v = ctx;
    uint8_t cur[HVT_DATA_MAX];
    if (!hvt_host_in_ram(v->h, gpa, size))
        return hvt_host_in_mmio(gpa, size) ? probe_device(v, info, 0) : HVT_OP_UNHANDLEABLE;
    info->space = HVT_SPACE_RAM;
    sb_read(v, gpa, cur, size);
    if (memcmp(cur, old, size)) {
        memcpy(old, cur, size);
        return HVT_OP_CMPXCHG_FAILED;
    }
    return sb_add(v, gpa, new_, size, old);
}

static int probe_io_in(void *ctx, uint16_t port, void *buf, uint32_t size, struct hvt_op_info *info)
{
    return probe_device(ctx, info, 1);
}

static int probe_io_out(void *ctx, uint16_t port, const void *buf, uint32_t size,
                        struct hvt_op_info *info)
{
    return probe_device(ctx, info, 1);
}

static const struct hvt_core_ops probe_ops = {
    sizeof(struct hvt_core_ops), probe_read, probe_write, probe_cmpxchg, probe_io_in, probe_io_out,
};

/* ---- access-once buffer ----------------------------------------------------------------- */

static int cache_applies(const struct vcpu *v, const struct hvt_op_info *info)
{
    switch (v->h->opt.cache) {
    case HVT_HOST_CACHE_WALK:
        return info->tag.cls == HVT_TAG_WALK;
    case HVT_HOST_CACHE_FULL:
        return 1;
    default:
        return 0;
    }
}

static int tag_eq(const struct hvt_tag *a, const struct hvt_tag *b)
{
    return a->cls == b->cls && a->operand == b->operand && a->level == b->level &&
           a->element == b->element;
}

static struct cache_entry *cache_find(struct vcpu *v, const struct hvt_tag *tag, uint64_t gpa,
                                      uint32_t size)
{
    for (unsigned i = 0; i < v->n_cache; i++) {
        struct cache_entry *e = &v->cache[i];
        if (e->gpa == gpa && e->size == size && tag_eq(&e->tag, tag))
            return e;
    }
    return NULL;
}

static void cache_add(struct vcpu *v, const struct hvt_tag *tag, uint64_t gpa, uint32_t size,
                      const void *data)
{
    struct cache_entry *e;
    if (v->n_cache >= CACHE_MAX)
        return; /* a full buffer just stops buffering: later reads go to memory */
    e = &v->cache[v->n_cache++];
    e->tag = *tag;
    e->gpa = gpa;
    e->size = size;
    memcpy(e->data, data, size);
}

/* The event's own writes update the buffered bytes (Xen's hvmemul_write_cache): a later pass
 * must see what earlier passes of the same instruction wrote, e.g. the A/D bits they set. */
static void cache_update(struct vcpu *v, uint64_t gpa, const uint8_t *data, uint32_t size)
{
    for (unsigned i = 0; i < v->n_cache; i++) {
        struct cache_entry *e = &v->cache[i];
        uint64_t lo = e->gpa > gpa ? e->gpa : gpa;
        uint64_t hi = e->gpa + e->size < gpa + size ? e->gpa + e->size : gpa + size;
        for (uint64_t a = lo; a < hi; a++)
            e->data[a - e->gpa] = data[a - gpa];
    }
}

/* ---- event ops: RAM directly, devices through requests ---------------------------------- */

static int ioreq_match(const struct ioreq *a, const struct ioreq *b)
{
    return a->type == b->type && a->dir == b->dir && a->size == b->size && a->addr == b->addr &&
           a->count == b->count;
}

/* The device-model protocol for the current pass's next device access. */
static int device_access(struct vcpu *v, unsigned type, unsigned dir, uint64_t addr, void *buf,
                         uint32_t size, const struct hvt_op_info *info)
{
    struct hvt_host *h = v->h;
    struct ioreq rq;
    const struct ioreq *served = NULL;
    unsigned k = v->io_idx++;

    memset(&rq, 0, sizeof(rq));
    rq.type = (uint8_t)type;
    rq.dir = (uint8_t)dir;
    rq.size = size;
    rq.addr = addr;
    rq.count = 1;
    rq.element = info->tag.element;
    if (dir == IOREQ_WRITE)
        memcpy(rq.data, buf, size);

    if (k < v->n_done) {
        served = &v->done[k];
    } else if (v->has_pending && v->pending_ready) {
        if (v->n_done >= DONE_MAX) {
            v->mismatch = 1;
            return HVT_OP_UNHANDLEABLE;
        }
        v->done[v->n_done++] = v->pending;
        v->has_pending = 0;
        v->pending_ready = 0;
        served = &v->done[k];
    } else if (v->has_pending) {
        /* cannot happen: a vCPU waiting for its device does not run */
        hvt_host_fail(h, -HVT_E_INTERNAL, "vCPU %u: device access while a request is pending",
                      v->id);
        return HVT_OP_UNHANDLEABLE;
    }
    if (served) {
        /* The check a hypervisor makes on a completed request: the re-executed instruction
         * must ask for the same thing (Xen hvmemul_do_io: type, addr, size, count, dir). */
        if (!ioreq_match(served, &rq)) {
            v->mismatch = 1;
            return HVT_OP_UNHANDLEABLE;
        }
        if (dir == IOREQ_READ)
            memcpy(buf, served->data, size);
        return HVT_OP_OKAY;
    }
    /* A new request: queue it and let the device model answer after a seeded delay. */
    v->pending = rq;
    v->has_pending = 1;
    v->pending_ready = 0;
    v->pending_due = (h->threads ? v->tick : h->now) + 1 + hvt_host_rand(h, v) % 6;
    return HVT_OP_RETRY;
}

static int ev_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct vcpu *v = ctx;
    if (hvt_host_in_ram(v->h, gpa, size)) {
        int buffered = cache_applies(v, info);
        info->space = HVT_SPACE_RAM;
        if (buffered) {
            const struct cache_entry *e = cache_find(v, &info->tag, gpa, size);
            if (e) {
                memcpy(buf, e->data, size);
                v->n_cache_hits++;
                return HVT_OP_OKAY;
            }
        }
        hvt_host_ram_read(v->h, gpa, buf, size);
        if (buffered)
            cache_add(v, &info->tag, gpa, size, buf);
        return HVT_OP_OKAY;
    }
    if (hvt_host_in_mmio(gpa, size)) {
        info->space = HVT_SPACE_MMIO;
        return device_access(v, IOREQ_MMIO, IOREQ_READ, gpa, buf, size, info);
    }
    return HVT_OP_UNHANDLEABLE;
}

static int ev_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                    struct hvt_op_info *info)
{
    struct vcpu *v = ctx;
    if (hvt_host_in_ram(v->h, gpa, size)) {
        info->space = HVT_SPACE_RAM;
        hvt_host_ram_write(v->h, gpa, buf, size);
        cache_update(v, gpa, buf, size);
        return HVT_OP_OKAY;
    }
    if (hvt_host_in_mmio(gpa, size)) {
        info->space = HVT_SPACE_MMIO;
        return device_access(v, IOREQ_MMIO, IOREQ_WRITE, gpa, (void *)buf, size, info);
    }
    return HVT_OP_UNHANDLEABLE;
}

static int ev_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                      struct hvt_op_info *info)
{
    struct vcpu *v = ctx;
    if (hvt_host_in_ram(v->h, gpa, size)) {
        info->space = HVT_SPACE_RAM;
        if (!hvt_host_ram_cmpxchg(v->h, gpa, old, new_, size))
            return HVT_OP_CMPXCHG_FAILED;
        cache_update(v, gpa, new_, size);
        return HVT_OP_OKAY;
    }
    if (hvt_host_in_mmio(gpa, size)) {
        /* a locked RMW on MMIO cannot be atomic with the device model (Xen refuses too) */
        info->space = HVT_SPACE_MMIO;
    }
    return HVT_OP_UNHANDLEABLE;
}

static int ev_io(struct vcpu *v, unsigned dir, uint16_t port, void *buf, uint32_t size,
                 struct hvt_op_info *info)
{
    info->space = HVT_SPACE_PORT;
    if (port < PORT_LO || port >= PORT_HI) {
        /* unclaimed port: reads float high, writes vanish (as on real hardware) */
        if (dir == IOREQ_READ)
            memset(buf, 0xff, size);
        return HVT_OP_OKAY;
    }
    return device_access(v, IOREQ_PIO, dir, port, buf, size, info);
}

static int ev_io_in(void *ctx, uint16_t port, void *buf, uint32_t size, struct hvt_op_info *info)
{
    return ev_io(ctx, IOREQ_READ, port, buf, size, info);
}

static int ev_io_out(void *ctx, uint16_t port, const void *buf, uint32_t size,
                     struct hvt_op_info *info)
{
    return ev_io(ctx, IOREQ_WRITE, port, (void *)buf, size, info);
}

const struct hvt_core_ops hvt_host_event_ops = {
    sizeof(struct hvt_core_ops), ev_read, ev_write, ev_cmpxchg, ev_io_in, ev_io_out,
};

/* ---- steps ------------------------------------------------------------------------------ */

static void stop_vcpu(struct vcpu *v)
{
    v->run = VCPU_STOPPED;
}

static void unimplemented(struct vcpu *v, const struct hvt_core_result *res, uint64_t rip)
{
    char bytes[3 * HVT_INSN_MAX + 1] = "";
    for (unsigned i = 0; i < res->insn_len && i < HVT_INSN_MAX; i++)
        snprintf(bytes + 3 * i, 4, "%02x ", res->insn[i]);
    hvt_host_fail(v->h, -HVT_E_UNSUPPORTED,
                  "scenario %s: the core does not implement the instruction at rip 0x%llx "
                  "(%s%s%s)",
                  v->h->sc->name, (unsigned long long)rip, bytes, res->detail[0] ? "- " : "",
                  res->detail);
    stop_vcpu(v);
}

static void end_event(struct vcpu *v)
{
    struct hvt_host *h = v->h;
    int rc = hvt_host_rec_event_end(v);
    if (rc < 0)
        hvt_host_fail(h, rc, "vCPU %u: recorder: %s", v->id, hvt_strerror(rc));
    v->in_event = 0;
    v->has_pending = v->pending_ready = 0;
    v->n_done = 0;
    hvt_host_agents_event_end(v);
    if (v->unrecorded) {
        v->unrecorded = 0;
        return;
    }
    v->n_events++;
    if (!h->threads)
        h->recorded_open--;
    if (h->threads)
        __atomic_add_fetch(&h->events_done, 1, __ATOMIC_RELAXED);
    else
        h->events_done++;
}

/* After a RETRY pass that committed REP iterations or gather elements, the requests those
 * finished iterations consumed belong to the past: keep only those of the iteration that is
 * still to finish (the one that issued the pending request). */
static void prune_done(struct vcpu *v)
{
    unsigned n = 0;
    for (unsigned i = 0; i < v->n_done; i++) {
        if (v->has_pending && v->done[i].element == v->pending.element)
            v->done[n++] = v->done[i];
    }
    v->n_done = n;
}

static void run_pass(struct vcpu *v)
{
    struct hvt_host *h = v->h;
    struct hvt_core_result res;
    uint64_t rip = v->st.rip;
    int rc;

    if (v->pass >= PASS_MAX) {
        hvt_host_fail(h, -HVT_E_INTERNAL,
                      "vCPU %u: the event at rip 0x%llx did not complete "
                      "in %u passes",
                      v->id, (unsigned long long)rip, PASS_MAX);
        stop_vcpu(v);
        return;
    }
    rc = hvt_host_rec_pass_begin(v);
    if (rc < 0) {
        hvt_host_fail(h, rc, "vCPU %u: recorder: %s", v->id, hvt_strerror(rc));
        stop_vcpu(v);
        return;
    }
    v->io_idx = 0;
    v->mismatch = 0;
    memset(&res, 0, sizeof(res));
    /* an unrecorded event's accesses bypass the recorder's interposer */
    rc = v->unrecorded ? hvt_core_emulate(v->core, &v->st, &hvt_host_event_ops, v, &res)
                       : hvt_core_emulate(v->core, &v->st, &v->ev_ops, v->ev_ctx, &res);
    if (rc < 0) {
        hvt_host_fail(h, rc, "vCPU %u: core: %s", v->id, hvt_strerror(rc));
        stop_vcpu(v);
        return;
    }
    if (v->mismatch && res.out.kind == HVT_OUT_UNHANDLEABLE)
        strncpy(res.detail, "ioreq mismatch", sizeof(res.detail) - 1);
    rc = hvt_host_rec_pass_end(v, &res.out);
    if (rc < 0) {
        hvt_host_fail(h, rc, "vCPU %u: recorder: %s", v->id, hvt_strerror(rc));
        stop_vcpu(v);
        return;
    }
    v->pass++;
    v->n_passes++;

    switch (res.out.kind) {
    case HVT_OUT_OKAY:
        v->n_instructions++;
        v->unhandleable_streak = 0;
        end_event(v);
        break;
    case HVT_OUT_RETRY:
        if (res.out.iterations)
            prune_done(v);
        if (v->has_pending && !v->pending_ready)
            v->run = VCPU_WAIT_IO;
        /* agents act here: after this pass, before the next one */
        hvt_host_agents_after_retry(v, &res);
        break;
    case HVT_OUT_EXCEPTION:
        end_event(v);
        if (!hvt_host_agents_fault(v, &res)) {
            hvt_host_fail(h, -HVT_E_INTERNAL,
                          "vCPU %u: unexpected guest exception %u "
                          "(error code 0x%x) at rip 0x%llx",
                          v->id, res.out.vector, res.out.error_code, (unsigned long long)rip);
            stop_vcpu(v);
        }
        break;
    case HVT_OUT_UNHANDLEABLE:
        end_event(v);
        if (v->mismatch) {
            /* A detected fault, as a hypervisor would report it; the guest is not killed
             * here: the instruction is emulated again from scratch as a new event. */
            v->n_mismatch++;
            if (++v->unhandleable_streak < 64)
                break;
        }
        hvt_host_fail(h, -HVT_E_INTERNAL,
                      "vCPU %u: the instruction at rip 0x%llx cannot be "
                      "emulated (%s)",
                      v->id, (unsigned long long)rip, res.detail[0] ? res.detail : "unhandleable");
        stop_vcpu(v);
        break;
    default:
        end_event(v);
        unimplemented(v, &res, rip);
        break;
    }
}

static void begin_event(struct vcpu *v, const struct hvt_core_result *probe)
{
    int rc = hvt_host_rec_event_begin(v, probe->insn, probe->insn_len);
    if (rc < 0) {
        hvt_host_fail(v->h, rc, "vCPU %u: recorder: %s", v->id, hvt_strerror(rc));
        stop_vcpu(v);
        return;
    }
    v->in_event = 1;
    v->pass = 0;
    v->n_done = 0;
    v->n_cache = 0;
    v->has_pending = v->pending_ready = 0;
    v->targeted = 0;
    v->last_event_rip = v->st.rip;
    run_pass(v);
}

/* Makes a finished probe's writes real. Its compare-exchanges (A/D updates, LOCK CMPXCHG)
 * must still find what the probe compared against: with threads, an agent may have rewritten
 * that entry since. Agents write under h->lock, so checking and committing under it is
 * atomic with respect to them. Returns 0 (nothing written) when a check fails. */
static int commit_probe(struct vcpu *v)
{
    struct hvt_host *h = v->h;
    int ok = 1;
    if (h->threads)
        pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < v->n_sb && ok; i++) {
        uint8_t cur[HVT_DATA_MAX];
        if (!v->sb[i].cas)
            continue;
        /* what the probe saw: RAM under its own earlier writes */
        unsigned n = v->n_sb;
        v->n_sb = i;
        sb_read(v, v->sb[i].gpa, cur, v->sb[i].size);
        v->n_sb = n;
        ok = !memcmp(cur, v->sb[i].expect, v->sb[i].size);
    }
    for (unsigned i = 0; i < v->n_sb && ok; i++)
        hvt_host_ram_write(h, v->sb[i].gpa, v->sb[i].data, v->sb[i].size);
    if (h->threads)
        pthread_mutex_unlock(&h->lock);
    return ok;
}

void hvt_host_vcpu_step(struct vcpu *v)
{
    struct hvt_host *h = v->h;
    struct hvt_vcpu_state copy;
    struct hvt_core_result res;
    int rc;

    if (v->run != VCPU_RUNNABLE)
        return;
    if (v->in_event) {
        run_pass(v);
        return;
    }
    /* The probe: the instruction on a copy of the state, RAM writes kept private, device
     * accesses refused before they happen. */
    copy = v->st;
    v->n_sb = 0;
    v->sb_overflow = 0;
    v->probe_hit = 0;
    memset(&res, 0, sizeof(res));
    rc = hvt_core_emulate(v->core, &copy, &probe_ops, v, &res);
    if (rc < 0) {
        hvt_host_fail(h, rc, "vCPU %u: core: %s", v->id, hvt_strerror(rc));
        stop_vcpu(v);
        return;
    }
    if (v->probe_hit || v->sb_overflow || (h->opt.flags & HVT_HOST_RECORD_ALL) ||
        res.out.kind == HVT_OUT_UNHANDLEABLE) {
        /* Events are reserved before they start, so that a run records exactly the budget:
         * a vCPU that would start one more simply stops (its probe left no trace). */
        uint64_t n = h->threads ? __atomic_fetch_add(&h->events_started, 1, __ATOMIC_RELAXED)
                                : h->events_started++;
        if (n >= h->events_budget && h->threads) {
            stop_vcpu(v);
            return;
        }
        /* Deterministic mode: an event that is not to be recorded still runs, unrecorded, so
         * that every choice of the scheduler and the agents stays what a longer recording
         * makes (see enum host_plan). */
        if (h->plan == HOST_PLAN_SET)
            v->unrecorded = v->rec_started >= v->rec_quota;
        else if (h->plan == HOST_PLAN_NONE)
            v->unrecorded = n >= h->events_budget;
        if (!v->unrecorded) {
            v->rec_started++;
            if (!h->threads)
                h->recorded_open++;
        }
        begin_event(v, &res);
        return;
    }
    switch (res.out.kind) {
    case HVT_OUT_OKAY:
    case HVT_OUT_RETRY: /* partial REP progress without a device: keep it and go on */
        if (!commit_probe(v))
            break; /* raced with an agent: nothing happened, the step runs again */
        v->st = copy;
        if (res.out.kind == HVT_OUT_OKAY)
            v->n_instructions++;
        break;
    case HVT_OUT_EXCEPTION:
        if (!hvt_host_agents_fault(v, &res)) {
            hvt_host_fail(h, -HVT_E_INTERNAL,
                          "vCPU %u: unexpected guest exception %u "
                          "(error code 0x%x) at rip 0x%llx",
                          v->id, res.out.vector, res.out.error_code, (unsigned long long)v->st.rip);
            stop_vcpu(v);
        }
        break;
    default:
        unimplemented(v, &res, v->st.rip);
        break;
    }
}
