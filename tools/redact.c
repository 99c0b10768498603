/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: removing guest data from events while keeping what replay finds. */
#include "redact.h"

#include <string.h>

#include "common/print.h"

/* ---- keyed hash: SipHash-2-4 (Aumasson and Bernstein), written from the paper ----------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL(v[1], 13) ^ v[0];
    v[0] = ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = ROTL(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = ROTL(v[1], 17) ^ v[2];
    v[2] = ROTL(v[2], 32);
}

static uint64_t siphash(const uint8_t key[16], const uint8_t *m, size_t n)
{
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
                     k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};
    uint8_t last[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = le64(m + i);
        v[3] ^= w;
        sip_round(v);
        sip_round(v);
        v[0] ^= w;
    }
    memcpy(last, m + i, n - i);
    last[7] = (uint8_t)n;
    uint64_t w = le64(last);
    v[3] ^= w;
    sip_round(v);
    sip_round(v);
    v[0] ^= w;
    v[2] ^= 0xff;
    for (int r = 0; r < 4; r++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* The replacement of N value bytes: the keyed hash of (counter, size, value), as many 8-byte
 * blocks as needed. The size is part of the input, so one value at two widths hashes apart. */
static void replace(const struct hvt_redact *r, uint8_t *p, size_t n)
{
    uint8_t in[2 + HVT_DATA_MAX];
    if (r->mode == HVT_REDACT_ZERO) {
        memset(p, 0, n);
        return;
    }
    in[1] = (uint8_t)n;
    memcpy(in + 2, p, n);
    for (size_t off = 0; off < n; off += 8) {
        in[0] = (uint8_t)(off / 8);
        uint64_t h = siphash(r->key, in, 2 + n);
        for (size_t k = 0; k < 8 && off + k < n; k++)
            p[off + k] = (uint8_t)(h >> (8 * k));
    }
}

/* ---- what replay finds ------------------------------------------------------------------ */

#define MAX_SIG 64

struct sig {
    int status;
    size_t n;
    struct {
        uint32_t cls, pass_a, pass_b;
        int32_t idx_a, idx_b;
    } f[MAX_SIG];
};

static int findings(struct hvt_redact *r, const struct hvt_event *ev, struct sig *s)
{
    struct hvt_rpl_event_report rep;
    int rc = hvt_rpl_engine_event(r->e, ev, NULL, &rep);
    r->replays++;
    if (rc < 0)
        return rc;
    memset(s, 0, sizeof(*s));
    s->status = rep.status;
    s->n = rep.n_findings;
    for (size_t i = 0; i < rep.n_findings && i < MAX_SIG; i++) {
        const struct hvt_rpl_finding *x = &rep.findings[i];
        s->f[i].cls = x->cls;
        s->f[i].pass_a = x->pass_a;
        s->f[i].pass_b = x->pass_b;
        s->f[i].idx_a = x->idx_a;
        s->f[i].idx_b = x->idx_b;
    }
    return 0;
}

static int same(const struct sig *a, const struct sig *b)
{
    size_t n = a->n < MAX_SIG ? a->n : MAX_SIG;
    return a->status == b->status && a->n == b->n && !memcmp(a->f, b->f, n * sizeof(a->f[0]));
}

/* ---- redaction -------------------------------------------------------------------------- */

static const char *const why_names[HVT_KEPT__COUNT] = {
    "page-walk entry (the translation the analysis compares)",
    "A/D update of a paging entry",
    "instruction bytes (the core decodes them)",
    "decides the outcome (redacting it changes what replay finds)",
    "no data (the access did not complete)",
    "too many accesses in the event to check one by one",
};
static const char *const why_keys[HVT_KEPT__COUNT] = {"walk",    "ad",      "fetch",
                                                      "outcome", "no_data", "limit"};

const char *hvt_redact_why_name(unsigned why)
{
    return why < HVT_KEPT__COUNT ? why_names[why] : "?";
}

const char *hvt_redact_why_key(unsigned why)
{
    return why < HVT_KEPT__COUNT ? why_keys[why] : "?";
}

int hvt_redact_init(struct hvt_redact *r, int mode, const uint8_t key[16],
                    const struct hvt_fmt_header *hdr, char *err, size_t len)
{
    struct hvt_rpl_options opt;
    memset(r, 0, sizeof(*r));
    r->mode = mode;
    memcpy(r->key, key, 16);
    hvt_rpl_options_init(&opt);
    return hvt_rpl_engine_new(&r->e, &opt, hdr, err, len);
}

void hvt_redact_free(struct hvt_redact *r)
{
    hvt_rpl_engine_free(r->e);
    r->e = NULL;
}

/* The accesses whose data may go: operands, stack, descriptors, I/O. -1 for a kept class
 * (with its reason in *WHY), 0 for a candidate without a value, 1 for a candidate. */
static int candidate(const struct hvt_access *a, unsigned *why)
{
    switch (a->tag.cls) {
    case HVT_TAG_WALK:
        *why = HVT_KEPT_WALK;
        return -1;
    case HVT_TAG_AD:
        *why = HVT_KEPT_AD;
        return -1;
    case HVT_TAG_FETCH:
        *why = HVT_KEPT_FETCH;
        return -1;
    default:
        *why = HVT_KEPT_NO_DATA;
        return hvt_access_data_valid(a) && a->size > 0 && a->size <= HVT_DATA_MAX;
    }
}

static void redact_access(const struct hvt_redact *r, struct hvt_access *a)
{
    replace(r, a->data, a->size);
    if (a->kind == HVT_ACC_CMPXCHG) {
        replace(r, a->old, a->size);
        replace(r, a->cur, a->size);
    }
}

/* The candidates are tried one by one past this many only up to it. */
#define MAX_TRY 256

int hvt_redact_event(struct hvt_redact *r, const struct hvt_event *ev, struct hvt_event **out)
{
    struct hvt_event *w = NULL;
    struct sig want, got;
    uint32_t n_cand = 0;
    int rc;

    *out = NULL;
    rc = findings(r, ev, &want);
    if (rc < 0)
        return rc;
    rc = hvt_event_clone(&w, ev);
    if (rc < 0)
        return rc;
    r->events++;
    /* first everything at once: the common case costs one more replay */
    for (uint32_t p = 0; p < w->n_passes; p++)
        for (uint32_t i = 0; i < w->passes[p].n_accesses; i++) {
            struct hvt_access *a = &w->passes[p].accesses[i];
            unsigned why;
            r->accesses++;
            if (candidate(a, &why) == 1) {
                redact_access(r, a);
                n_cand++;
            } else {
                r->kept[why]++;
            }
        }
    rc = findings(r, w, &got);
    if (rc < 0)
        goto fail;
    if (same(&want, &got)) {
        r->events_all_redacted++;
        for (uint32_t p = 0; p < w->n_passes; p++)
            for (uint32_t i = 0; i < w->passes[p].n_accesses; i++) {
                struct hvt_access *a = &w->passes[p].accesses[i];
                unsigned why;
                if (candidate(&ev->passes[p].accesses[i], &why) == 1) {
                    r->redacted++;
                    r->redacted_bytes += a->size;
                    r->redacted_by_class[a->tag.cls < HVT_TAG__COUNT ? a->tag.cls
                                                                     : HVT_TAG__COUNT]++;
                }
            }
        *out = w;
        return 0;
    }
    /* Then one at a time from the original: an access stays redacted when the findings do. */
    hvt_event_free(w);
    rc = hvt_event_clone(&w, ev);
    if (rc < 0)
        return rc;
    uint32_t tried = 0;
    for (uint32_t p = 0; p < w->n_passes; p++)
        for (uint32_t i = 0; i < w->passes[p].n_accesses; i++) {
            struct hvt_access *a = &w->passes[p].accesses[i], saved;
            unsigned why;
            if (candidate(a, &why) != 1)
                continue;
            if (n_cand > MAX_TRY && tried >= MAX_TRY) {
                r->kept[HVT_KEPT_LIMIT]++;
                continue;
            }
            tried++;
            saved = *a;
            redact_access(r, a);
            rc = findings(r, w, &got);
            if (rc < 0)
                goto fail;
            if (same(&want, &got)) {
                r->redacted++;
                r->redacted_bytes += a->size;
                r->redacted_by_class[a->tag.cls < HVT_TAG__COUNT ? a->tag.cls : HVT_TAG__COUNT]++;
            } else {
                *a = saved;
                r->kept[HVT_KEPT_OUTCOME]++;
            }
        }
    *out = w;
    return 0;
fail:
    hvt_event_free(w);
    return rc;
}
