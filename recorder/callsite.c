/* SPDX-License-Identifier: MIT */
/* Recorder: call-site capture (unw_backtrace), lock-free interning, dladdr + ELF symbolization. */
#define UNW_LOCAL_ONLY
#include "callsite.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hvtrace/error.h"
#include "hvtrace/recorder.h"
#include "symtab.h"

/* Frames between unw_backtrace's first entry and the caller of cs_capture: cs_capture itself. */
#define CS_OWN_FRAMES 1u
#define CS_MAX_PROBES 64u

struct cs_slot {
    _Atomic uint64_t key;   /* chain hash | 1; 0 = free */
    _Atomic uint32_t ready; /* 1 once n and ips are published */
    uint32_t n;
};

struct cs_table {
    unsigned depth;
    _Atomic uint64_t count;
    struct cs_slot *slots;
    uint64_t *ips;               /* [CS_TABLE_SLOTS * depth] */
    struct hvt_rec_symtab *syms; /* writer thread only; NULL: dladdr names only */
};

int cs_table_new(struct cs_table **out, unsigned depth)
{
    struct cs_table *t = calloc(1, sizeof(*t));
    if (!t)
        return -HVT_E_NOMEM;
    t->depth = depth;
    t->slots = calloc(CS_TABLE_SLOTS, sizeof(*t->slots));
    t->ips = calloc((size_t)CS_TABLE_SLOTS * depth, sizeof(*t->ips));
    t->syms = hvt_rec_symtab_new();
    if (!t->slots || !t->ips) {
        cs_table_free(t);
        return -HVT_E_NOMEM;
    }
    *out = t;
    return 0;
}

void cs_table_free(struct cs_table *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->ips);
    hvt_rec_symtab_free(t->syms);
    free(t);
}

uint64_t cs_count(const struct cs_table *t)
{
    return atomic_load_explicit(&((struct cs_table *)t)->count, memory_order_relaxed);
}

static uint64_t chain_hash(void *const *ips, int n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uintptr_t)ips[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h | 1;
}

static int chain_equal(const struct cs_table *t, uint32_t slot, void *const *ips, int n)
{
    const uint64_t *s = t->ips + (size_t)slot * t->depth;
    if (t->slots[slot].n != (uint32_t)n)
        return 0;
    for (int i = 0; i < n; i++)
        if (s[i] != (uint64_t)(uintptr_t)ips[i])
            return 0;
    return 1;
}

__attribute__((noinline)) uint32_t cs_capture(struct cs_table *t, unsigned skip, int *overflow)
{
    void *buf[HVT_REC_MAX_DEPTH + 16 + CS_OWN_FRAMES];
    unsigned want = t->depth + skip + CS_OWN_FRAMES;
    int got, n;
    void **ips;
    uint64_t h;

    if (want > sizeof(buf) / sizeof(buf[0]))
        want = sizeof(buf) / sizeof(buf[0]);
    got = unw_backtrace(buf, (int)want);
    if (got <= (int)(skip + CS_OWN_FRAMES))
        return 0;
    ips = buf + skip + CS_OWN_FRAMES;
    n = got - (int)(skip + CS_OWN_FRAMES);
    if (n > (int)t->depth)
        n = (int)t->depth;
    h = chain_hash(ips, n);

    for (uint32_t probe = 0; probe < CS_MAX_PROBES; probe++) {
        uint32_t i = (uint32_t)((h + probe) & (CS_TABLE_SLOTS - 1));
        struct cs_slot *s = &t->slots[i];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == 0) {
            uint64_t expect = 0;
            if (atomic_compare_exchange_strong_explicit(&s->key, &expect, h, memory_order_acq_rel,
                                                        memory_order_acquire)) {
                uint64_t *dst = t->ips + (size_t)i * t->depth;
                for (int j = 0; j < n; j++)
                    dst[j] = (uint64_t)(uintptr_t)ips[j];
                s->n = (uint32_t)n;
                atomic_store_explicit(&s->ready, 1, memory_order_release);
                atomic_fetch_add_explicit(&t->count, 1, memory_order_relaxed);
                return i + 1;
            }
            k = expect;
        }
        if (k != h)
            continue;
        /* Same hash: another vCPU may be publishing it right now (a few stores away). */
        while (!atomic_load_explicit(&s->ready, memory_order_acquire))
            ;
        if (chain_equal(t, i, ips, n))
            return i + 1;
    }
    *overflow = 1;
    return 0;
}

/* Names the function around return address IP into F. dladdr only knows exported dynamic
 * symbols, so a static function (most of a hypervisor) would get no name or the name of a
 * farther exported one; the module's own symbol table names it when dladdr cannot. */
static void symbolize_frame(struct cs_table *t, uint64_t ip, struct hvt_frame *f)
{
    /* Look up ip - 1 so a call that ends a function (noreturn, tail position) is attributed
     * to the function that made it. */
    void *addr = (void *)(uintptr_t)(ip - 1);
    struct link_map *lm = NULL;
    const char *name, *path;
    uintptr_t start = 0;
    Dl_info di;

    memset(f, 0, sizeof(*f));
    f->ip = ip;
    if (!ip || !dladdr1(addr, &di, (void **)&lm, RTLD_DL_LINKMAP))
        return;
    f->module = di.dli_fname;
    if (di.dli_sname && di.dli_saddr) {
        f->function = di.dli_sname;
        f->offset = ip - (uint64_t)(uintptr_t)di.dli_saddr;
    }
    /* The main program's link map has an empty name; its file is /proc/self/exe. */
    path = lm && lm->l_name && !lm->l_name[0] ? "/proc/self/exe" : di.dli_fname;
    name = hvt_rec_symtab_lookup(t->syms, path, (uintptr_t)di.dli_fbase, (uintptr_t)addr, &start);
    if (name && (!f->function || start >= (uintptr_t)di.dli_saddr)) {
        f->function = name;
        f->offset = ip - (uint64_t)start;
    }
}

uint32_t cs_symbolize(struct cs_table *t, uint32_t id, struct hvt_frame *frames)
{
    const struct cs_slot *s;
    const uint64_t *ips;

    if (id == 0 || id > CS_TABLE_SLOTS)
        return 0;
    s = &t->slots[id - 1];
    if (!atomic_load_explicit(&((struct cs_slot *)s)->ready, memory_order_acquire))
        return 0;
    ips = t->ips + (size_t)(id - 1) * t->depth;
    for (uint32_t i = 0; i < s->n; i++)
        symbolize_frame(t, ips[i], &frames[i]);
    return s->n;
}
