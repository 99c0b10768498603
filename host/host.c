/* SPDX-License-Identifier: MIT */
/* Simulated host: creation, the deterministic scheduler, the threaded runner, figures. */
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sized.h"
#include "host_int.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void hvt_host_fail(struct hvt_host *h, int err, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&h->lock);
    if (!h->err) {
        h->err = err < 0 ? err : -HVT_E_INTERNAL;
        va_start(ap, fmt);
        vsnprintf(h->errmsg, sizeof(h->errmsg), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&h->lock);
    __atomic_store_n(&h->stop, 1, __ATOMIC_RELEASE);
}

/* splitmix64: small, fast, and every seed (0 included) gives a good sequence. */
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t hvt_host_rand(struct hvt_host *h, struct vcpu *v)
{
    return h->threads ? splitmix(&v->rng) : splitmix(&h->rng);
}

void hvt_host_options_init(struct hvt_host_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->size = sizeof(*opt);
    opt->seed = 1;
    opt->cache = HVT_HOST_CACHE_NONE;
}

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!errbuf || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

static const char *cache_name(unsigned c)
{
    static const char *const names[] = {"none", "walk", "full"};
    return c < HVT_HOST_CACHE__COUNT ? names[c] : "?";
}

static void hdr_add(struct hvt_host *h, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void hdr_add(struct hvt_host *h, const char *key, const char *fmt, ...)
{
    va_list ap;
    size_t i = h->n_hdr;
    if (i >= sizeof(h->hdr_kv) / sizeof(h->hdr_kv[0]))
        return;
    va_start(ap, fmt);
    vsnprintf(h->hdr_buf[i], sizeof(h->hdr_buf[i]), fmt, ap);
    va_end(ap);
    h->hdr_kv[i].key = key;
    h->hdr_kv[i].value = h->hdr_buf[i];
    h->n_hdr++;
}

static void build_header_options(struct hvt_host *h)
{
    hdr_add(h, "scenario", "%s", h->sc->name);
    hdr_add(h, "seed", "%llu", (unsigned long long)h->opt.seed);
    hdr_add(h, "vcpus", "%u", h->n_vcpus);
    hdr_add(h, "events", "%llu", (unsigned long long)h->events_budget);
    hdr_add(h, "cache", "%s", cache_name(h->opt.cache));
    hdr_add(h, "record", "%s", (h->opt.flags & HVT_HOST_RECORD_ALL) ? "all" : "events");
    hdr_add(h, "threads", "%d", h->threads);
    hdr_add(h, "ram", "%llu", (unsigned long long)h->ram_bytes);
    hdr_add(h, "callsites", "%u", h->opt.callsite_depth);
    if (h->core_ignores_cpu)
        hdr_add(h, "core-ignores-cpu", "1");
    for (size_t i = 0; i < h->opt.n_core_options; i++) {
        /* "core.KEY": cannot collide with the host's own keys */
        snprintf(h->core_hdr_key[i], sizeof(h->core_hdr_key[i]), "core.%s", h->core_kv[i].key);
        hdr_add(h, h->core_hdr_key[i], "%s", h->core_kv[i].value);
    }
}

int hvt_host_create(struct hvt_host **out, const struct hvt_host_options *opt, char *errbuf,
                    size_t errlen)
{
    struct hvt_host *h;
    int rc;

    if (errbuf && errlen)
        errbuf[0] = 0;
    if (!out) {
        set_err(errbuf, errlen, "no output pointer");
        return -HVT_E_INVALID;
    }
    *out = NULL;
    struct hvt_host_options o; /* the caller's, in this library's layout */
    if (!opt || hvt_sized_in(&o, sizeof(o), opt, opt->size, HVT_HOST_OPTIONS_SIZE_V1)) {
        set_err(errbuf, errlen, "options missing, or of a size this library does not know");
        return -HVT_E_INVALID;
    }
    o.size = sizeof(o);
    opt = &o;
    if (!opt->scenario) {
        set_err(errbuf, errlen, "no scenario given");
        return -HVT_E_INVALID;
    }
    if (!hvt_host_scenario_find(opt->scenario)) {
        set_err(errbuf, errlen, "unknown scenario '%s'", opt->scenario);
        return -HVT_E_NOT_FOUND;
    }
    if (opt->vcpus > HVT_HOST_MAX_VCPUS) {
        set_err(errbuf, errlen, "%u vCPUs: at most %u", opt->vcpus, HVT_HOST_MAX_VCPUS);
        return -HVT_E_INVALID;
    }
    if (opt->events > 1000000000ull) {
        set_err(errbuf, errlen, "%llu events: at most 1000000000", (unsigned long long)opt->events);
        return -HVT_E_INVALID;
    }
    if (opt->cache >= HVT_HOST_CACHE__COUNT) {
        set_err(errbuf, errlen, "cache policy %u: must be none, walk or full", opt->cache);
        return -HVT_E_INVALID;
    }
    if (opt->ram_bytes && (opt->ram_bytes < HVT_HOST_MIN_RAM || opt->ram_bytes > HVT_HOST_MAX_RAM ||
                           opt->ram_bytes % (2u << 20))) {
        set_err(errbuf, errlen, "RAM size %llu: must be a multiple of 2 MiB in [4 MiB, 1 GiB]",
                (unsigned long long)opt->ram_bytes);
        return -HVT_E_INVALID;
    }
    if (opt->flags &
        ~(HVT_HOST_THREADS | HVT_HOST_RECORD_ALL | HVT_HOST_OVERWRITE | HVT_HOST_FOLLOW)) {
        set_err(errbuf, errlen, "unknown flags 0x%x", opt->flags);
        return -HVT_E_INVALID;
    }
    if (opt->n_core_options > HVT_HOST_MAX_CORE_OPTIONS ||
        (opt->n_core_options && !opt->core_options)) {
        set_err(errbuf, errlen, "core options: at most %u", HVT_HOST_MAX_CORE_OPTIONS);
        return -HVT_E_INVALID;
    }
    if (opt->callsite_depth > HVT_REC_MAX_DEPTH) {
        set_err(errbuf, errlen, "call-site depth %u: at most %u", opt->callsite_depth,
                HVT_REC_MAX_DEPTH);
        return -HVT_E_INVALID;
    }
    for (size_t i = 0; i < opt->n_core_options; i++) {
        const struct hvt_kv *kv = &opt->core_options[i];
        if (!kv->key || !kv->value || !kv->key[0] || strlen(kv->key) >= 48 ||
            strlen(kv->value) >= 64) {
            set_err(errbuf, errlen, "core option %zu: empty or too long", i);
            return -HVT_E_INVALID;
        }
    }

    h = calloc(1, sizeof(*h));
    if (!h) {
        set_err(errbuf, errlen, "out of memory");
        return -HVT_E_NOMEM;
    }
    pthread_mutex_init(&h->lock, NULL);
    for (unsigned i = 0; i < LOCK_STRIPES; i++)
        pthread_mutex_init(&h->stripes[i], NULL);
    h->opt = *opt;
    h->sc = hvt_host_scenario_find(opt->scenario);
    snprintf(h->scenario_name, sizeof(h->scenario_name), "%s", h->sc->name);
    h->opt.scenario = h->scenario_name;
    snprintf(h->core_name, sizeof(h->core_name), "%s", opt->core ? opt->core : HVT_CORE_REF);
    h->opt.core = h->core_name;
    for (size_t i = 0; i < opt->n_core_options; i++) {
        snprintf(h->core_kv_buf[i][0], sizeof(h->core_kv_buf[i][0]), "%s",
                 opt->core_options[i].key);
        snprintf(h->core_kv_buf[i][1], sizeof(h->core_kv_buf[i][1]), "%s",
                 opt->core_options[i].value);
        h->core_kv[i].key = h->core_kv_buf[i][0];
        h->core_kv[i].value = h->core_kv_buf[i][1];
    }
    h->opt.core_options = h->core_kv;
    if (opt->cpu)
        h->cpu = *opt->cpu;
    else
        hvt_cpu_profile_default(&h->cpu);
    h->opt.cpu = &h->cpu;
    h->threads = !!(opt->flags & HVT_HOST_THREADS);
    h->rng = opt->seed;
    h->n_vcpus = opt->vcpus ? opt->vcpus : h->sc->vcpus;
    h->events_budget = opt->events ? opt->events : h->sc->events;
    h->ram_bytes = opt->ram_bytes ? opt->ram_bytes : (8u << 20);
    h->ram = calloc(1, h->ram_bytes);
    h->vcpus = calloc(h->n_vcpus, sizeof(*h->vcpus));
    if (!h->ram || !h->vcpus) {
        hvt_host_destroy(h);
        set_err(errbuf, errlen, "out of memory for %llu bytes of guest RAM",
                (unsigned long long)opt->ram_bytes);
        return -HVT_E_NOMEM;
    }
    rc = hvt_host_world_build(h);
    if (rc < 0) {
        hvt_host_destroy(h);
        set_err(errbuf, errlen, "cannot build the guest image");
        return rc;
    }
    for (uint32_t i = 0; i < h->n_vcpus; i++) {
        struct vcpu *v = &h->vcpus[i];
        char cerr[256] = "";
        v->h = h;
        v->id = i;
        v->rng = opt->seed ^ (0x5851f42d4c957f2dull * (i + 1));
        hvt_host_vcpu_init_state(h, v);
        if (hvt_cpu_profile_check_state(&h->cpu, &v->st, cerr, sizeof(cerr))) {
            /* the scenario's guest needs a feature the profile lacks (e.g. CR4.SMEP) */
            set_err(errbuf, errlen, "scenario %s cannot run on this CPU: %s", h->sc->name, cerr);
            hvt_host_destroy(h);
            return -HVT_E_UNSUPPORTED;
        }
        rc = hvt_core_open(&v->core, h->core_name, cerr, sizeof(cerr));
        if (rc < 0) {
            set_err(errbuf, errlen, "core '%s': %s%s%s", h->core_name, hvt_strerror(rc),
                    cerr[0] ? ": " : "", cerr);
            hvt_host_destroy(h);
            return rc;
        }
        rc = hvt_core_set_cpu(v->core, &h->cpu);
        if (rc == -HVT_E_UNSUPPORTED) {
            h->core_ignores_cpu = 1;
        } else if (rc < 0) {
            set_err(errbuf, errlen, "core '%s' refuses the CPU profile %s: %s", h->core_name,
                    h->cpu.name, hvt_strerror(rc));
            hvt_host_destroy(h);
            return rc;
        }
        for (size_t k = 0; k < opt->n_core_options; k++) {
            rc = hvt_core_set_option(v->core, h->core_kv[k].key, h->core_kv[k].value);
            if (rc < 0) {
                set_err(errbuf, errlen, "core option %s=%s: %s", h->core_kv[k].key,
                        h->core_kv[k].value, hvt_strerror(rc));
                hvt_host_destroy(h);
                return rc;
            }
        }
        v->ev_ops = hvt_host_event_ops;
        v->ev_ctx = v;
    }
    build_header_options(h);
    *out = h;
    return 0;
}

void hvt_host_destroy(struct hvt_host *h)
{
    if (!h)
        return;
    if (h->vcpus) {
        for (uint32_t i = 0; i < h->n_vcpus; i++)
            hvt_core_close(h->vcpus[i].core);
    }
    free(h->vcpus);
    free(h->ram);
    pthread_mutex_destroy(&h->lock);
    for (unsigned i = 0; i < LOCK_STRIPES; i++)
        pthread_mutex_destroy(&h->stripes[i]);
    free(h);
}

const struct hvt_cpu_profile *hvt_host_cpu(const struct hvt_host *h)
{
    return h ? &h->cpu : NULL;
}

int hvt_host_core_ignores_cpu(const struct hvt_host *h)
{
    return h ? h->core_ignores_cpu : 0;
}

uint32_t hvt_host_vcpus(const struct hvt_host *h)
{
    return h ? h->n_vcpus : 0;
}

const struct hvt_kv *hvt_host_header_options(const struct hvt_host *h, size_t *n)
{
    if (!h || !n)
        return NULL;
    *n = h->n_hdr;
    return h->hdr_kv;
}

const char *hvt_host_error_message(const struct hvt_host *h)
{
    return h ? h->errmsg : "";
}

/* ---- deterministic scheduler ------------------------------------------------------------ */

static void complete_request(struct vcpu *v)
{
    hvt_host_device_complete(v->h, &v->pending);
    v->pending_ready = 1;
    v->n_ioreqs++;
    v->run = VCPU_RUNNABLE;
}

static void check_recorder(struct hvt_host *h)
{
    int rc = hvt_host_rec_healthy(h);
    if (rc < 0)
        hvt_host_fail(h, rc, "recording stopped: %s", hvt_host_rec_message(h));
}

/* One thread; every choice (which vCPU steps, how long the device takes, which events the
 * agents target) comes from one seeded PRNG in a fixed order, so a run is a function of the
 * options alone. */
static void run_deterministic(struct hvt_host *h)
{
    uint32_t *runnable = calloc(h->n_vcpus, sizeof(*runnable));
    uint64_t steps = 0, max_steps = h->events_budget * 4000 + 100000;
    if (!runnable) {
        hvt_host_fail(h, -HVT_E_NOMEM, "out of memory");
        return;
    }
    while (!h->err) {
        uint32_t n = 0;
        if (h->plan == HOST_PLAN_NONE ? h->events_started >= h->events_budget && !h->recorded_open
                                      : h->events_done >= h->events_budget)
            break; /* the budget is recorded: every recorded event has ended */
        for (uint32_t i = 0; i < h->n_vcpus; i++) {
            struct vcpu *v = &h->vcpus[i];
            if (v->run == VCPU_WAIT_IO && v->pending_due <= h->now)
                complete_request(v);
        }
        for (uint32_t i = 0; i < h->n_vcpus; i++) {
            struct vcpu *v = &h->vcpus[i];
            if (v->run == VCPU_RUNNABLE)
                runnable[n++] = i;
        }
        if (!n) {
            uint64_t next = UINT64_MAX;
            for (uint32_t i = 0; i < h->n_vcpus; i++) {
                if (h->vcpus[i].run == VCPU_WAIT_IO && h->vcpus[i].pending_due < next)
                    next = h->vcpus[i].pending_due;
            }
            if (next == UINT64_MAX)
                break; /* every vCPU stopped: budget reached (or an error) */
            h->now = next;
            continue;
        }
        hvt_host_vcpu_step(&h->vcpus[runnable[hvt_host_rand(h, NULL) % n]]);
        h->now++;
        if (++steps > max_steps) {
            hvt_host_fail(h, -HVT_E_INTERNAL, "no progress: %llu steps for %llu events",
                          (unsigned long long)steps, (unsigned long long)h->events_done);
        }
        if ((steps & 255) == 0)
            check_recorder(h);
    }
    free(runnable);
}

/* ---- threads ---------------------------------------------------------------------------- */

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    struct hvt_host *h = v->h;
    uint64_t steps = 0, max_steps = h->events_budget * 4000 + 100000;
    while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
        if (v->run == VCPU_STOPPED)
            break;
        if (v->run == VCPU_WAIT_IO) {
            /* the device model answers after the request's delay, counted in this vCPU's
             * ticks; yield meanwhile so that the other vCPUs race with the wait */
            if (++v->tick < v->pending_due) {
                sched_yield();
                continue;
            }
            complete_request(v);
        }
        hvt_host_vcpu_step(v);
        v->tick++;
        if (++steps > max_steps)
            hvt_host_fail(h, -HVT_E_INTERNAL, "vCPU %u: no progress", v->id);
        if ((steps & 255) == 0)
            check_recorder(h);
    }
    return NULL;
}

static void run_threads(struct hvt_host *h)
{
    pthread_t *tids = calloc(h->n_vcpus, sizeof(*tids));
    uint32_t started = 0;
    if (!tids) {
        hvt_host_fail(h, -HVT_E_NOMEM, "out of memory");
        return;
    }
    for (; started < h->n_vcpus; started++) {
        if (pthread_create(&tids[started], NULL, vcpu_thread, &h->vcpus[started])) {
            hvt_host_fail(h, -HVT_E_IO, "cannot start vCPU thread %u", started);
            break;
        }
    }
    for (uint32_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
}

int hvt_host_run(struct hvt_host *h, struct hvt_rec *rec)
{
    uint64_t t0;
    if (!h)
        return -HVT_E_INVALID;
    if (h->ran) {
        snprintf(h->errmsg, sizeof(h->errmsg), "the host has already run");
        return -HVT_E_INVALID;
    }
    h->ran = 1;
    h->rec = rec;
    for (uint32_t i = 0; i < h->n_vcpus; i++) {
        int rc = hvt_host_rec_bind(&h->vcpus[i]);
        if (rc < 0) {
            hvt_host_fail(h, rc, "recorder: cannot wrap the ops of vCPU %u: %s", i,
                          hvt_strerror(rc));
            return h->err;
        }
    }
    t0 = now_ns();
    if (h->threads)
        run_threads(h);
    else
        run_deterministic(h);
    h->wall_ns = now_ns() - t0;
    if (!h->err)
        check_recorder(h);
    return h->err;
}

int hvt_host_get_stats(const struct hvt_host *h, struct hvt_host_stats *st)
{
    size_t user_size;

    if (!h || !st || st->size < HVT_HOST_STATS_SIZE_V1)
        return -HVT_E_INVALID;
    user_size = st->size;
    if (user_size > sizeof(*st)) /* a newer caller's: zeros after what we know */
        memset((uint8_t *)st + sizeof(*st), 0, user_size - sizeof(*st));
    memset(st, 0, sizeof(*st));
    st->size = user_size;
    for (uint32_t i = 0; i < h->n_vcpus; i++) {
        const struct vcpu *v = &h->vcpus[i];
        st->instructions += v->n_instructions;
        st->events += v->n_events;
        st->passes += v->n_passes;
        st->ioreqs += v->n_ioreqs;
        st->ioreq_mismatches += v->n_mismatch;
        st->agent_actions += v->n_agent;
        st->guest_faults += v->n_faults;
        st->cache_hits += v->n_cache_hits;
    }
    st->wall_ns = h->wall_ns;
    return 0;
}
