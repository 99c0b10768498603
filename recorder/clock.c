/* SPDX-License-Identifier: MIT */
/* Recorder: event time stamps. A vCPU stamps each event with one unserialised TSC read (about a
 * third of the cost of clock_gettime, which also waits for the instructions before it); the
 * writer turns stamps into CLOCK_MONOTONIC nanoseconds by interpolating between (TSC, clock)
 * pairs it samples itself. Without an invariant TSC (or with HVT_REC_CLOCK=mono in the
 * environment) the stamps are clock_gettime readings. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rec_internal.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

uint64_t hvt_rec_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int tsc_invariant(void)
{
#if defined(__x86_64__)
    unsigned a, b, c, d;
    const char *env = getenv("HVT_REC_CLOCK");
    if (env && !strcmp(env, "mono"))
        return 0;
    /* CPUID.80000007H:EDX[8]: the TSC runs at a constant rate in every P-, C- and T-state. */
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
        return 0;
    __get_cpuid(0x80000007u, &a, &b, &c, &d);
    return (d >> 8) & 1;
#else
    return 0;
#endif
}

/* A (TSC, clock) pair read as close together as this thread can: the TSC is taken on both sides
 * of the clock read, and the tightest of three tries is kept. */
static void sample(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        uint64_t a = rec_stamp_tsc();
        uint64_t n = hvt_rec_mono_ns();
        uint64_t b = rec_stamp_tsc();
        if (b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *ns = n;
        }
    }
}

void hvt_rec_clock_init(struct rec_clock *c)
{
    memset(c, 0, sizeof(*c));
    c->tsc = tsc_invariant();
    if (c->tsc) {
        sample(&c->tsc0, &c->ns0);
        c->tsc1 = c->tsc0;
        c->ns1 = c->ns0;
    } else {
        c->ns0 = hvt_rec_mono_ns();
    }
}

uint64_t hvt_rec_clock_ns(struct rec_clock *c, uint64_t stamp)
{
    double scale;
    if (!c->tsc)
        return stamp > c->ns0 ? stamp - c->ns0 : 0;
    if (stamp <= c->tsc0) /* a vCPU on a core whose TSC lags ours, right after open */
        return 0;
    /* Interpolate: an event stamped before our latest pair lies inside the span measured, so
     * its error is about that of one clock read, however short the span. Past the pair (the
     * event began after we sampled), sample again first. */
    if (stamp > c->tsc1 || c->tsc1 == c->tsc0) {
        sample(&c->tsc1, &c->ns1);
        c->scale = c->tsc1 > c->tsc0 ? (double)(c->ns1 - c->ns0) / (double)(c->tsc1 - c->tsc0) : 0;
    }
    if (c->tsc1 <= c->tsc0)
        return 0;
    scale = c->scale; /* ns per TSC tick over the span (tsc0, tsc1) */
    return (uint64_t)((double)(stamp - c->tsc0) * scale);
}
