/* SPDX-License-Identifier: MIT */
/* Recorder: call-site capture (unw_backtrace), lock-free interning, dladdr + ELF symbolization. */
#define UNW_LOCAL_ONLY
#include "rec_internal.h" /* callsite.h, rec_count */

#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hvtrace/error.h"
#include "hvtrace/recorder.h"
#include "symtab.h"

/* Frames between unw_backtrace's first entry and the caller of hvt_cs_capture: hvt_cs_capture
 * itself. */
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

int hvt_cs_table_new(struct cs_table **out, unsigned depth)
{
    struct cs_table *t = calloc(1, sizeof(*t));
    if (!t)
        return -HVT_E_NOMEM;
    t->depth = depth;
    t->slots = calloc(CS_TABLE_SLOTS, sizeof(*t->slots));
    t->ips = calloc((size_t)CS_TABLE_SLOTS * depth, sizeof(*t->ips));
    t->syms = hvt_rec_symtab_new();
    if (!t->slots || !t->ips) {
        hvt_cs_table_free(t);
        return -HVT_E_NOMEM;
    }
    *out = t;
    return 0;
}

void hvt_cs_table_free(struct cs_table *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->ips);
    hvt_rec_symtab_free(t->syms);
    free(t);
}

uint64_t hvt_cs_count(const struct cs_table *t)
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

/* Interns chain IPS[0..N-1]: its id, or 0 with *OVERFLOW set when the table is full. */
static uint32_t intern(struct cs_table *t, void *const *ips, int n, int *overflow)
{
    uint64_t h = chain_hash(ips, n);

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

/* ---- the memo ----------------------------------------------------------------------------- */

/* Each anchor lists the chains seen through it, most used first: a core has tens of access
 * sites (anchors), and up to a dozen paths reach one of them (the reference core under the
 * host's mixed scenario: 6 anchors and 37 chains at depth 8, 13 through one anchor). Entries
 * are never evicted: once the pool is full, new chains are unwound every time. */
#define CS_MEMO_ANCHORS 64u
#define CS_MEMO_PER_ANCHOR 32u
#define CS_MEMO_ENTRIES 512u

struct cs_memo_anchor {
    uintptr_t ip; /* 0: free */
    uint32_t n;   /* chains in idx */
    uint16_t idx[CS_MEMO_PER_ANCHOR];
};

struct cs_memo_entry {
    uint32_t id; /* interned chain */
    uint32_t n;  /* frames past the anchor in off[] and ip[] */
    /* then intptr_t off[frames] (the slot of each return address, from the anchor's CFA) and
     * uintptr_t ip[frames] */
};

struct cs_memo {
    unsigned frames; /* most frames an entry holds: skip + depth */
    size_t stride;   /* bytes per entry */
    uint32_t used;   /* entries taken from the pool */
    /* The thread the memo reads stacks on, and the top of its stack: a slot read is never
     * above it, whatever frame sizes the chain turns out to have (hvt_cs_memo_bind). */
    int bound;
    pthread_t owner;
    uintptr_t stack_hi;
    _Atomic uint64_t hits, misses;
    struct cs_memo_anchor anchors[CS_MEMO_ANCHORS];
    unsigned char *ents;
};

static struct cs_memo_entry *memo_entry(const struct cs_memo *m, uint32_t i)
{
    return (struct cs_memo_entry *)(void *)(m->ents + (size_t)i * m->stride);
}

static intptr_t *memo_off(struct cs_memo_entry *e)
{
    return (intptr_t *)(void *)(e + 1);
}

static uintptr_t *memo_ip(const struct cs_memo *m, struct cs_memo_entry *e)
{
    return (uintptr_t *)(void *)(memo_off(e) + m->frames);
}

int hvt_cs_memo_new(struct cs_memo **out, unsigned depth, unsigned skip)
{
    struct cs_memo *m = calloc(1, sizeof(*m));
    if (!m)
        return -HVT_E_NOMEM;
    m->frames = depth + skip;
    m->stride = sizeof(struct cs_memo_entry) + m->frames * (sizeof(intptr_t) + sizeof(uintptr_t));
    m->ents = calloc(CS_MEMO_ENTRIES, m->stride);
    if (!m->ents) {
        free(m);
        return -HVT_E_NOMEM;
    }
    *out = m;
    return 0;
}

void hvt_cs_memo_free(struct cs_memo *m)
{
    if (!m)
        return;
    free(m->ents);
    free(m);
}

void hvt_cs_memo_bind(struct cs_memo *m)
{
    pthread_attr_t attr;
    void *lo = NULL;
    size_t size = 0;

    if (!m || (m->bound && pthread_equal(m->owner, pthread_self())))
        return;
    m->bound = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return; /* no bounds: every capture on this thread unwinds */
    if (pthread_attr_getstack(&attr, &lo, &size) == 0 && lo && size) {
        m->owner = pthread_self();
        m->stack_hi = (uintptr_t)lo + size;
        m->bound = 1;
    }
    pthread_attr_destroy(&attr);
}

void hvt_cs_memo_counts(const struct cs_memo *m, uint64_t *hits, uint64_t *misses)
{
    struct cs_memo *mm = (struct cs_memo *)m;
    *hits = m ? atomic_load_explicit(&mm->hits, memory_order_relaxed) : 0;
    *misses = m ? atomic_load_explicit(&mm->misses, memory_order_relaxed) : 0;
}

/* The anchor's entry: the one holding IP, else (CREATE) a free one, else NULL. */
static struct cs_memo_anchor *memo_anchor(struct cs_memo *m, uintptr_t ip, int create)
{
    uint32_t h = (uint32_t)(((uint64_t)ip * 0x9e3779b97f4a7c15ull) >> 58);
    _Static_assert(CS_MEMO_ANCHORS == 64, "memo_anchor takes 6 bits");
    for (uint32_t i = 0; i < CS_MEMO_ANCHORS; i++) {
        struct cs_memo_anchor *a = &m->anchors[(h + i) % CS_MEMO_ANCHORS];
        if (a->ip == ip)
            return a;
        if (!a->ip)
            return create ? a : NULL;
    }
    return NULL;
}

/* Whether entry E is the chain of the stack this capture runs on. Why reading its slots is
 * enough, and safe: the anchor fixes the function the anchor returns into and the instruction
 * it returns to, so (its frame having a fixed size at that instruction) the slot of the next
 * return address, relative to the anchor's CFA, is fixed; finding the remembered return
 * address there fixes the next function and instruction, and so on up the chain. Each slot
 * read lies inside a frame already shown to be live on this stack. A function whose frame size
 * varies at the same instruction (alloca, a variable-length array) breaks the argument: then
 * a check reads some word of its frame, which holds the remembered address by chance only. */
/* A word of this thread's stack. In the one case the argument fails it is a word of some frame
 * (a local, padding, or a sanitizer's redzone), so it is read without address sanitizing. */
__attribute__((no_sanitize_address)) static uintptr_t stack_word(uintptr_t addr)
{
    return *(const volatile uintptr_t *)addr;
}

static int memo_match(const struct cs_memo *m, struct cs_memo_entry *e, uintptr_t cfa)
{
    const intptr_t *off = memo_off(e);
    const uintptr_t *ip = memo_ip(m, e);
    for (uint32_t i = 0; i < e->n; i++) {
        uintptr_t addr = cfa + (uintptr_t)off[i];
        if (addr < cfa || addr > m->stack_hi - sizeof(uintptr_t) || stack_word(addr) != ip[i])
            return 0;
    }
    return 1;
}

/* The chain remembered for this stack through anchor A, or 0. A hit moves one place towards
 * the front of the anchor's list, so the paths used most are tried first. */
static uint32_t memo_lookup(struct cs_memo *m, struct cs_memo_anchor *a, uintptr_t cfa)
{
    for (uint32_t j = 0; j < a->n; j++) {
        struct cs_memo_entry *e = memo_entry(m, a->idx[j]);
        if (memo_match(m, e, cfa)) {
            if (j) {
                uint16_t t = a->idx[j - 1];
                a->idx[j - 1] = a->idx[j];
                a->idx[j] = t;
            }
            return e->id;
        }
    }
    return 0;
}

/* Remembers chain ID through ANCHOR: K return addresses IPV found at slots OFF. */
static void memo_add(struct cs_memo *m, uintptr_t anchor, uint32_t id, const intptr_t *off,
                     const uintptr_t *ipv, uint32_t k)
{
    struct cs_memo_anchor *a = memo_anchor(m, anchor, 1);
    struct cs_memo_entry *e;
    if (!a || a->n >= CS_MEMO_PER_ANCHOR || m->used >= CS_MEMO_ENTRIES || k > m->frames)
        return; /* full: this chain will be unwound each time */
    e = memo_entry(m, m->used);
    memcpy(memo_off(e), off, k * sizeof(*off));
    memcpy(memo_ip(m, e), ipv, k * sizeof(*ipv));
    e->id = id;
    e->n = k;
    a->ip = anchor;
    a->idx[a->n++] = (uint16_t)m->used++;
}

/* ---- capture ------------------------------------------------------------------------------ */

__attribute__((noinline)) uint32_t hvt_cs_capture(struct cs_table *t, unsigned own, unsigned user,
                                              int *overflow, struct cs_memo *m, uintptr_t anchor_ip,
                                              uintptr_t anchor_cfa)
{
    enum { MAXF = HVT_REC_MAX_DEPTH + 16 + 8 };
    void *ips[MAXF];
    uintptr_t sps[MAXF];
    unsigned want = t->depth + own + user + CS_OWN_FRAMES, a = own + CS_OWN_FRAMES;
    int got = 0, n, memo = 0;
    uint32_t id;

#if defined(__x86_64__)
    if (m && anchor_ip && anchor_cfa && m->bound && pthread_equal(m->owner, pthread_self()) &&
        anchor_cfa < m->stack_hi) {
        struct cs_memo_anchor *an = memo_anchor(m, anchor_ip, 0);
        if (an && (id = memo_lookup(m, an, anchor_cfa)) != 0) {
            rec_count(&m->hits);
            return id;
        }
        rec_count(&m->misses);
        memo = 1;
    }
#else
    (void)anchor_ip;
    (void)anchor_cfa;
#endif
    if (want > MAXF)
        want = MAXF;
    if (!memo) {
        got = unw_backtrace(ips, (int)want);
    } else {
        /* The slow way, which also gives each frame's stack pointer (the CFA of the frame it
         * called): the return address into a frame lies just below its stack pointer. */
        unw_context_t uc;
        unw_cursor_t c;
        if (unw_getcontext(&uc) == 0 && unw_init_local(&c, &uc) == 0) {
            do {
                unw_word_t ip = 0, sp = 0;
                if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || unw_get_reg(&c, UNW_REG_SP, &sp) < 0)
                    break;
                if (got > (int)a && unw_is_signal_frame(&c) > 0)
                    memo = 0; /* a signal frame's return address is not on the stack */
                ips[got] = (void *)(uintptr_t)ip;
                sps[got] = (uintptr_t)sp;
                got++;
            } while (got < (int)want && unw_step(&c) > 0);
        }
    }
    if (got <= (int)(a + user))
        return 0;
    n = got - (int)(a + user);
    if (n > (int)t->depth)
        n = (int)t->depth;
    id = intern(t, ips + a + user, n, overflow);

    /* Remember the chain when the unwinder's anchor is the caller's and every return address
     * is in the slot the model says (just below the stack pointer of the frame it returns
     * into). */
    if (memo && id && (uintptr_t)ips[a] == anchor_ip && sps[a] == anchor_cfa) {
        intptr_t off[MAXF];
        uintptr_t ipv[MAXF];
        uint32_t k = 0;
        for (int i = (int)a + 1; i < (int)a + (int)user + n; i++) {
            uintptr_t slot = sps[i] - sizeof(uintptr_t), v;
            memcpy(&v, (const void *)slot, sizeof(v));
            if (v != (uintptr_t)ips[i])
                return id;
            off[k] = (intptr_t)(slot - anchor_cfa);
            ipv[k] = v;
            k++;
        }
        memo_add(m, anchor_ip, id, off, ipv, k);
    }
    return id;
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

uint32_t hvt_cs_symbolize(struct cs_table *t, uint32_t id, struct hvt_frame *frames)
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
