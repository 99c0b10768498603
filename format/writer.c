/* SPDX-License-Identifier: MIT */
/* hvtrace format: the trace writer: records -> column buffers -> protobuf -> zstd -> chunk. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "crc32c.h"
#include "internal.h"
#include "layout.h"
#include "state.h"
#include "trace.pb-c.h"

/* ---- growable columns ------------------------------------------------------------------- */

struct v32 {
    uint32_t *p;
    size_t n, cap;
};
struct v64 {
    uint64_t *p;
    size_t n, cap;
};
struct vb {
    uint8_t *p;
    size_t n, cap;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 256;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np)
        return -HVT_E_NOMEM;
    *p = np;
    *cap = nc;
    return 0;
}
#define RESERVE(v, extra) grow((void **)&(v).p, &(v).cap, (v).n + (extra), sizeof(*(v).p))

/* States column: see FORMAT.md "States". */
struct vstates {
    struct v32 count, gap;
    struct v64 value;
};

/* One column per repeated field of message Chunk. */
struct cols {
    struct v32 lost_at;
    struct v64 ev_id_delta;
    struct v32 ev_vcpu, ev_flags;
    struct v64 ev_time_delta;
    struct v32 ev_insn_len;
    struct vb ev_insn;
    struct v32 ev_init_base;
    struct vstates ev_init;
    struct v32 ev_passes;
    struct v32 pass_index, pass_lost, pass_kind, pass_retry_cause, pass_vector, pass_flags,
        pass_error_code;
    struct v64 pass_cr2;
    struct v32 pass_iterations;
    struct vstates pass_end;
    struct v32 pass_accesses;
    struct v32 acc_kind, acc_space, acc_seg, acc_outcome, acc_tag_class, acc_tag_operand,
        acc_tag_level, acc_tag_element, acc_size, acc_flags;
    struct v64 acc_linear_delta, acc_phys_delta;
    struct v32 acc_callsite;
    struct vb acc_data, acc_cmpxchg;
    struct v32 lost_vcpu;
    struct v64 lost_count, lost_event_id;
    struct v32 lost_pass, lost_access;
};

#define NCTX (HVT_TAG__COUNT * 8) /* address delta contexts: tag class x level */

/* An interned call site: deep copy, plus the chunk that last referenced it. */
struct cs_entry {
    uint32_t id; /* 0 = empty slot */
    uint32_t n_frames;
    struct hvt_frame *frames;
    char *strings;
    uint64_t stamp; /* chunk sequence number + 1 of the last chunk that used it */
};

struct index_entry {
    uint64_t offset;
    uint32_t compressed_size, raw_size;
    uint64_t first_event_id, last_event_id;
    uint32_t n_events, n_records;
};

struct hvt_fmt_writer {
    int fd;
    int own_fd;
    int closed;   /* 0, or the error that stopped the writer */
    int regular;  /* fd is a regular file (ftruncate/fdatasync work) */
    uint64_t off; /* bytes written so far */
    struct hvt_fmt_writer_options opt;
    struct hvt_fmt_error_info err;
    struct hvt_fmt_writer_stats stats;
    ZSTD_CCtx *cctx;
    int have_last_id;
    uint64_t last_id; /* last event id appended in the trace */

    /* the chunk being built */
    struct cols c;
    size_t est_raw;
    uint32_t n_events, n_records;
    uint64_t first_id, prev_id;
    int64_t prev_time;
    uint32_t vcpu_ids[HVT_MAX_VCPU_SLOTS];
    uint64_t vcpu_slots[HVT_MAX_VCPU_SLOTS][HVT_NSLOTS];
    unsigned n_vcpus;
    uint64_t lin_ctx[NCTX], phys_ctx[NCTX];
    struct v32 cs_used; /* call-site ids referenced by the chunk */

    /* call sites: open addressing on id */
    struct cs_entry *cs;
    size_t cs_cap, cs_n;

    /* output buffers, reused */
    uint8_t *raw;
    size_t raw_cap;
    uint8_t *out;
    size_t out_cap;

    struct index_entry *index;
    size_t n_index, index_cap;
};

static int werr(struct hvt_fmt_writer *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int werr(struct hvt_fmt_writer *w, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    w->err.code = code;
    w->err.offset = w->off;
    w->err.chunk = (int64_t)w->n_index;
    w->err.record = -1;
    vsnprintf(w->err.message, sizeof(w->err.message), fmt, ap);
    va_end(ap);
    return code;
}

void hvt_fmt_writer_options_init(struct hvt_fmt_writer_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof(*opt));
    opt->size = sizeof(*opt);
    opt->level = 3;
    opt->chunk_bytes = 1u << 20;
}

/* ---- file output ------------------------------------------------------------------------ */

/* Writes everything or nothing: on failure the file is cut back to where this write began, so
 * a reader never sees a partial chunk (a crash in the middle is caught by the CRCs instead). */
static int write_all(struct hvt_fmt_writer *w, const uint8_t *p, size_t len, const char *what)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(w->fd, p + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        int e = n < 0 ? errno : ENOSPC;
        if (w->regular && ftruncate(w->fd, (off_t)w->off) == 0)
            (void)lseek(w->fd, (off_t)w->off, SEEK_SET);
        int code = (e == ENOSPC || e == EFBIG || e == EDQUOT) ? -HVT_E_NOSPACE : -HVT_E_IO;
        werr(w, code, "writing %s (%zu bytes): %s", what, len, strerror(e));
        w->closed = code;
        return code;
    }
    w->off += len;
    w->stats.file_bytes = w->off;
    return 0;
}

/* ---- header ----------------------------------------------------------------------------- */

static char *nz(const char *s)
{
    return (char *)(s ? s : "");
}

static int write_header(struct hvt_fmt_writer *w, const struct hvt_fmt_header *h)
{
    static const struct hvt_fmt_header empty;
    if (!h)
        h = &empty;
    const char *strs[] = {h->producer,   h->producer_version,   h->cpu_vendor,
                          h->cpu_features, h->hypervisor,     h->hypervisor_version,
                          h->core_name,  h->core_version,       h->core_build_id};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strs[i] && strlen(strs[i]) > HVT_FMT_MAX_STRING)
            return werr(w, -HVT_E_INVALID, "header string %zu longer than %u bytes", i,
                        HVT_FMT_MAX_STRING);
    if (h->n_options > HVT_FMT_MAX_OPTIONS || (h->n_options && !h->options))
        return werr(w, -HVT_E_INVALID, "bad header options (%zu)", h->n_options);

    Hvtrace__V1__Header m = HVTRACE__V1__HEADER__INIT;
    m.producer = nz(h->producer);
    m.producer_version = nz(h->producer_version);
    m.cpu_vendor = nz(h->cpu_vendor);
    m.cpu_family = h->cpu_family;
    m.cpu_model = h->cpu_model;
    m.cpu_stepping = h->cpu_stepping;
    m.cpu_features = nz(h->cpu_features);
    m.hypervisor = nz(h->hypervisor);
    m.hypervisor_version = nz(h->hypervisor_version);
    m.core_name = nz(h->core_name);
    m.core_version = nz(h->core_version);
    m.core_build_id = nz(h->core_build_id);

    uint8_t uuid[16];
    memcpy(uuid, h->uuid, 16);
    static const uint8_t zero[16];
    if (!memcmp(uuid, zero, 16)) {
        size_t got = 0;
        while (got < 16) {
            ssize_t n = getrandom(uuid + got, 16 - got, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return werr(w, -HVT_E_IO, "getrandom: %s", strerror(errno));
            got += (size_t)n;
        }
        uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* RFC 4122 version 4 */
        uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
    }
    m.uuid.data = uuid;
    m.uuid.len = 16;
    m.start_time_ns = h->start_time_ns;
    if (!m.start_time_ns) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        m.start_time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }

    Hvtrace__V1__KeyValue *kv = NULL, **kvp = NULL;
    if (h->n_options) {
        kv = calloc(h->n_options, sizeof(*kv));
        kvp = calloc(h->n_options, sizeof(*kvp));
        if (!kv || !kvp) {
            free(kv);
            free(kvp);
            return werr(w, -HVT_E_NOMEM, "header options");
        }
        for (size_t i = 0; i < h->n_options; i++) {
            hvtrace__v1__key_value__init(&kv[i]);
            kv[i].key = nz(h->options[i].key);
            kv[i].value = nz(h->options[i].value);
            kvp[i] = &kv[i];
        }
        m.n_options = h->n_options;
        m.options = kvp;
    }
    size_t len = hvtrace__v1__header__get_packed_size(&m);
    int rc = 0;
    uint8_t *buf = len <= HVT_MAX_HEADER_MSG ? malloc(HVT_FILE_HDR_SIZE + len) : NULL;
    if (!buf) {
        rc = len > HVT_MAX_HEADER_MSG
                 ? werr(w, -HVT_E_INVALID, "header message %zu bytes > %u", len, HVT_MAX_HEADER_MSG)
                 : werr(w, -HVT_E_NOMEM, "header");
    } else {
        hvtrace__v1__header__pack(&m, buf + HVT_FILE_HDR_SIZE);
        struct hvt_file_hdr fh = {
            .major = HVT_FMT_VERSION_MAJOR,
            .minor = HVT_FMT_VERSION_MINOR,
            .min_reader_major = HVT_FMT_VERSION_MAJOR,
            .msg_len = (uint32_t)len,
            .msg_crc = hvt_crc32c(0, buf + HVT_FILE_HDR_SIZE, len),
        };
        hvt_file_hdr_encode(buf, &fh);
        rc = write_all(w, buf, HVT_FILE_HDR_SIZE + len, "the file header");
    }
    free(buf);
    free(kv);
    free(kvp);
    return rc;
}

/* ---- open ------------------------------------------------------------------------------- */

static int check_options(const struct hvt_fmt_writer_options *opt, struct hvt_fmt_writer_options *o)
{
    hvt_fmt_writer_options_init(o);
    if (!opt)
        return 0;
    if (opt->size < offsetof(struct hvt_fmt_writer_options, flags) + sizeof(unsigned))
        return -HVT_E_INVALID;
    o->level = opt->level;
    o->chunk_bytes = opt->chunk_bytes;
    o->flags = opt->flags;
    if (o->level < ZSTD_minCLevel() || o->level > ZSTD_maxCLevel())
        return -HVT_E_INVALID;
    if (o->chunk_bytes == 0)
        o->chunk_bytes = 1u << 20;
    if (o->chunk_bytes > HVT_FMT_MAX_CHUNK_BYTES || (o->flags & ~HVT_FMT_W_OVERWRITE))
        return -HVT_E_INVALID;
    return 0;
}

static void writer_free(struct hvt_fmt_writer *w);

int hvt_fmt_writer_open_fd(struct hvt_fmt_writer **out, int fd, const struct hvt_fmt_header *hdr,
                           const struct hvt_fmt_writer_options *opt)
{
    if (!out)
        return -HVT_E_INVALID;
    *out = NULL;
    struct hvt_fmt_writer_options o;
    if (fd < 0 || check_options(opt, &o))
        return -HVT_E_INVALID;
    struct hvt_fmt_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -HVT_E_NOMEM;
    w->fd = fd;
    w->opt = o;
    w->err.chunk = w->err.record = -1;
    struct stat st;
    w->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    w->cctx = ZSTD_createCCtx();
    if (!w->cctx) {
        free(w);
        return -HVT_E_NOMEM;
    }
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, o.level);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 0); /* CRC32C covers it */
    int rc = write_header(w, hdr);
    if (rc < 0) {
        writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int hvt_fmt_writer_open(struct hvt_fmt_writer **out, const char *path,
                        const struct hvt_fmt_header *hdr, const struct hvt_fmt_writer_options *opt)
{
    if (!out)
        return -HVT_E_INVALID;
    *out = NULL;
    struct hvt_fmt_writer_options o;
    if (!path || !*path || check_options(opt, &o))
        return -HVT_E_INVALID;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
    flags |= (o.flags & HVT_FMT_W_OVERWRITE) ? O_TRUNC : O_EXCL;
    int fd = open(path, flags, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return -HVT_E_EXISTS;
        return (errno == ENOSPC || errno == EDQUOT) ? -HVT_E_NOSPACE : -HVT_E_IO;
    }
    /* O_TRUNC keeps an existing file's mode; the trace may hold guest data, so make it 0600. */
    if (o.flags & HVT_FMT_W_OVERWRITE)
        (void)fchmod(fd, 0600);
    int rc = hvt_fmt_writer_open_fd(out, fd, hdr, &o);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    (*out)->own_fd = 1;
    return 0;
}

/* ---- call sites ------------------------------------------------------------------------- */

static struct cs_entry *cs_find(struct hvt_fmt_writer *w, uint32_t id)
{
    if (!w->cs_cap)
        return NULL;
    size_t mask = w->cs_cap - 1;
    for (size_t i = (id * 2654435761u) & mask;; i = (i + 1) & mask) {
        if (w->cs[i].id == id)
            return &w->cs[i];
        if (!w->cs[i].id)
            return NULL;
    }
}

static int cs_same(const struct cs_entry *e, const struct hvt_callsite *cs)
{
    if (e->n_frames != cs->n_frames)
        return 0;
    for (uint32_t i = 0; i < cs->n_frames; i++) {
        const struct hvt_frame *a = &e->frames[i], *b = &cs->frames[i];
        if (a->ip != b->ip || a->offset != b->offset || strcmp(a->function, nz(b->function)) ||
            strcmp(a->module, nz(b->module)))
            return 0;
    }
    return 1;
}

static int cs_insert(struct hvt_fmt_writer *w, struct cs_entry *e)
{
    if ((w->cs_n + 1) * 2 > w->cs_cap) {
        size_t nc = w->cs_cap ? w->cs_cap * 2 : 64;
        struct cs_entry *n = calloc(nc, sizeof(*n));
        if (!n)
            return -HVT_E_NOMEM;
        for (size_t i = 0; i < w->cs_cap; i++) {
            if (!w->cs[i].id)
                continue;
            size_t j = (w->cs[i].id * 2654435761u) & (nc - 1);
            while (n[j].id)
                j = (j + 1) & (nc - 1);
            n[j] = w->cs[i];
        }
        free(w->cs);
        w->cs = n;
        w->cs_cap = nc;
    }
    size_t j = (e->id * 2654435761u) & (w->cs_cap - 1);
    while (w->cs[j].id)
        j = (j + 1) & (w->cs_cap - 1);
    w->cs[j] = *e;
    w->cs_n++;
    return 0;
}

int hvt_fmt_writer_add_callsite(struct hvt_fmt_writer *w, const struct hvt_callsite *cs)
{
    if (!w || !cs)
        return -HVT_E_INVALID;
    if (w->closed)
        return -HVT_E_CLOSED;
    if (!cs->id)
        return werr(w, -HVT_E_INVALID, "call site id 0");
    if (cs->n_frames > HVT_FMT_MAX_FRAMES || (cs->n_frames && !cs->frames))
        return werr(w, -HVT_E_INVALID, "call site %u: %u frames (max %u)", cs->id, cs->n_frames,
                    HVT_FMT_MAX_FRAMES);
    size_t slen = 0;
    for (uint32_t i = 0; i < cs->n_frames; i++) {
        size_t a = strlen(nz(cs->frames[i].function)), b = strlen(nz(cs->frames[i].module));
        if (a > HVT_FMT_MAX_STRING || b > HVT_FMT_MAX_STRING)
            return werr(w, -HVT_E_INVALID, "call site %u frame %u: name too long", cs->id, i);
        slen += a + b + 2;
    }
    struct cs_entry *old = cs_find(w, cs->id);
    if (old) {
        if (cs_same(old, cs))
            return 0;
        return werr(w, -HVT_E_INVALID, "call site %u redefined differently", cs->id);
    }
    struct cs_entry e = {.id = cs->id, .n_frames = cs->n_frames};
    e.frames = calloc(cs->n_frames ? cs->n_frames : 1, sizeof(*e.frames));
    e.strings = malloc(slen + 1);
    if (!e.frames || !e.strings) {
        free(e.frames);
        free(e.strings);
        return werr(w, -HVT_E_NOMEM, "call site %u", cs->id);
    }
    char *s = e.strings;
    for (uint32_t i = 0; i < cs->n_frames; i++) {
        e.frames[i].ip = cs->frames[i].ip;
        e.frames[i].offset = cs->frames[i].offset;
        size_t a = strlen(nz(cs->frames[i].function)) + 1;
        memcpy(s, nz(cs->frames[i].function), a);
        e.frames[i].function = s;
        s += a;
        size_t b = strlen(nz(cs->frames[i].module)) + 1;
        memcpy(s, nz(cs->frames[i].module), b);
        e.frames[i].module = s;
        s += b;
    }
    int rc = cs_insert(w, &e);
    if (rc < 0) {
        free(e.frames);
        free(e.strings);
        return werr(w, rc, "call site table");
    }
    return 0;
}

/* ---- encoding --------------------------------------------------------------------------- */

static inline void put32(struct v32 *v, uint32_t x, size_t *est)
{
    v->p[v->n++] = x;
    *est += hvt_varint_len(x);
}
static inline void put64(struct v64 *v, uint64_t x, size_t *est)
{
    v->p[v->n++] = x;
    *est += hvt_varint_len(x);
}
static inline void puts64(struct v64 *v, int64_t x, size_t *est)
{
    v->p[v->n++] = (uint64_t)x;
    *est += hvt_varint_len(hvt_zigzag(x));
}
static inline void putb(struct vb *v, const uint8_t *p, size_t n, size_t *est)
{
    memcpy(v->p + v->n, p, n);
    v->n += n;
    *est += n;
}

static int states_reserve(struct vstates *s, size_t n_states, size_t max_slots)
{
    if (RESERVE(s->count, n_states) || RESERVE(s->gap, max_slots) || RESERVE(s->value, max_slots))
        return -HVT_E_NOMEM;
    return 0;
}

/* Appends TARGET as a delta against BASE (both canonical slot arrays). */
static void states_put(struct vstates *s, const uint64_t *base, const uint64_t *target,
                       size_t *est)
{
    int used = hvt_slots_used(target);
    uint32_t n = 0;
    int prev = -1;
    for (int i = 0; i < used; i++) {
        if (target[i] == base[i])
            continue;
        put32(&s->gap, (uint32_t)(i - prev), est);
        puts64(&s->value, (int64_t)(target[i] - base[i]), est);
        prev = i;
        n++;
    }
    put32(&s->count, n, est);
}

static const uint64_t zero_slots[HVT_NSLOTS];

/* Reserves room for everything EV can add, so that the encoding below cannot fail halfway. */
static int reserve_event(struct hvt_fmt_writer *w, const struct hvt_event *ev, size_t n_acc,
                         size_t n_data, size_t n_cx)
{
    struct cols *c = &w->c;
    size_t np = ev->n_passes;
    if (RESERVE(c->ev_id_delta, 1) || RESERVE(c->ev_vcpu, 1) || RESERVE(c->ev_flags, 1) ||
        RESERVE(c->ev_time_delta, 1) || RESERVE(c->ev_insn_len, 1) ||
        RESERVE(c->ev_insn, HVT_INSN_MAX) || RESERVE(c->ev_init_base, 1) ||
        RESERVE(c->ev_passes, 1) || states_reserve(&c->ev_init, 1, HVT_NSLOTS))
        return -HVT_E_NOMEM;
    if (RESERVE(c->pass_index, np) || RESERVE(c->pass_lost, np) || RESERVE(c->pass_kind, np) ||
        RESERVE(c->pass_retry_cause, np) || RESERVE(c->pass_vector, np) ||
        RESERVE(c->pass_flags, np) || RESERVE(c->pass_error_code, np) ||
        RESERVE(c->pass_cr2, np) || RESERVE(c->pass_iterations, np) ||
        RESERVE(c->pass_accesses, np) || states_reserve(&c->pass_end, np, np * HVT_NSLOTS))
        return -HVT_E_NOMEM;
    if (RESERVE(c->acc_kind, n_acc) || RESERVE(c->acc_space, n_acc) ||
        RESERVE(c->acc_seg, n_acc) || RESERVE(c->acc_outcome, n_acc) ||
        RESERVE(c->acc_tag_class, n_acc) || RESERVE(c->acc_tag_operand, n_acc) ||
        RESERVE(c->acc_tag_level, n_acc) || RESERVE(c->acc_tag_element, n_acc) ||
        RESERVE(c->acc_size, n_acc) || RESERVE(c->acc_flags, n_acc) ||
        RESERVE(c->acc_linear_delta, n_acc) || RESERVE(c->acc_phys_delta, n_acc) ||
        RESERVE(c->acc_callsite, n_acc) || RESERVE(c->acc_data, n_data) ||
        RESERVE(c->acc_cmpxchg, n_cx) || RESERVE(w->cs_used, n_acc))
        return -HVT_E_NOMEM;
    return 0;
}

static void encode_access(struct hvt_fmt_writer *w, const struct hvt_access *a)
{
    struct cols *c = &w->c;
    size_t *est = &w->est_raw;
    put32(&c->acc_kind, a->kind, est);
    put32(&c->acc_space, a->space, est);
    put32(&c->acc_seg, a->seg, est);
    put32(&c->acc_outcome, a->outcome, est);
    put32(&c->acc_tag_class, a->tag.cls, est);
    put32(&c->acc_tag_operand, a->tag.operand, est);
    put32(&c->acc_tag_level, a->tag.level, est);
    put32(&c->acc_tag_element, a->tag.element, est);
    put32(&c->acc_size, a->size, est);
    put32(&c->acc_flags, a->flags, est);
    unsigned ctx = a->tag.cls * 8u + a->tag.level;
    puts64(&c->acc_linear_delta, (int64_t)(a->linear - w->lin_ctx[ctx]), est);
    puts64(&c->acc_phys_delta, (int64_t)(a->phys - w->phys_ctx[ctx]), est);
    w->lin_ctx[ctx] = a->linear;
    w->phys_ctx[ctx] = a->phys;
    put32(&c->acc_callsite, a->callsite, est);
    putb(&c->acc_data, a->data, a->size, est);
    if (a->kind == HVT_ACC_CMPXCHG) {
        putb(&c->acc_cmpxchg, a->old, a->size, est);
        putb(&c->acc_cmpxchg, a->cur, a->size, est);
    }
    if (a->callsite) {
        struct cs_entry *e = cs_find(w, a->callsite);
        /* undefined ids are written as they are; the reader resolves them to NULL */
        if (e && e->stamp != w->n_index + 1) {
            e->stamp = w->n_index + 1;
            w->cs_used.p[w->cs_used.n++] = e->id;
        }
    }
}

int hvt_fmt_check_event(const struct hvt_event *ev, char *msg, size_t msg_size)
{
#define BAD(...) (snprintf(msg, msg_size, __VA_ARGS__), -HVT_E_INVALID)
    if (ev->insn_len > HVT_INSN_MAX)
        return BAD("event %" PRIu64 ": insn_len %u > %u", ev->id, ev->insn_len, HVT_INSN_MAX);
    if (ev->n_passes > HVT_FMT_MAX_PASSES || (ev->n_passes && !ev->passes))
        return BAD("event %" PRIu64 ": %u passes (max %u)", ev->id, ev->n_passes,
                   HVT_FMT_MAX_PASSES);
    size_t total = 0;
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        const struct hvt_pass *ps = &ev->passes[p];
        if (ps->n_accesses > HVT_FMT_MAX_ACCESSES || (ps->n_accesses && !ps->accesses))
            return BAD("event %" PRIu64 " pass %u: %u accesses (max %u)", ev->id, p,
                       ps->n_accesses, HVT_FMT_MAX_ACCESSES);
        total += ps->n_accesses;
        if (ps->out.kind >= HVT_OUT__COUNT || ps->out.retry_cause >= HVT_RETRY__COUNT)
            return BAD("event %" PRIu64 " pass %u: bad outcome %u/%u", ev->id, p, ps->out.kind,
                       ps->out.retry_cause);
        for (uint32_t i = 0; i < ps->n_accesses; i++) {
            const struct hvt_access *a = &ps->accesses[i];
            if (a->kind >= HVT_ACC__COUNT || a->space >= HVT_SPACE__COUNT ||
                (a->seg > HVT_SEG_IDTR && a->seg != HVT_SEG_NONE) || a->outcome >= HVT_OP__COUNT ||
                a->tag.cls >= HVT_TAG__COUNT || a->tag.level > HVT_WALK_PAE_PDPTE ||
                a->size < 1 || a->size > HVT_DATA_MAX)
                return BAD("event %" PRIu64 " pass %u access %u: field out of range (kind %u "
                           "space %u seg %u outcome %u class %u level %u size %u)",
                           ev->id, p, i, a->kind, a->space, a->seg, a->outcome, a->tag.cls,
                           a->tag.level, a->size);
        }
    }
    if (total > HVT_FMT_MAX_EVENT_ACCESSES)
        return BAD("event %" PRIu64 ": %zu accesses (max %u)", ev->id, total,
                   HVT_FMT_MAX_EVENT_ACCESSES);
    return 0;
#undef BAD
}

static int write_chunk(struct hvt_fmt_writer *w);

int hvt_fmt_writer_append(struct hvt_fmt_writer *w, const struct hvt_event *ev)
{
    if (!w || !ev)
        return -HVT_E_INVALID;
    if (w->closed)
        return -HVT_E_CLOSED;
    char msg[200];
    if (hvt_fmt_check_event(ev, msg, sizeof(msg)))
        return werr(w, -HVT_E_INVALID, "%s", msg);
    if (w->have_last_id && ev->id <= w->last_id)
        return werr(w, -HVT_E_INVALID, "event id %" PRIu64 " not above the previous %" PRIu64,
                    ev->id, w->last_id);
    if (ev->id == HVT_NO_EVENT)
        return werr(w, -HVT_E_INVALID, "event id %" PRIu64 " is reserved", ev->id);
    size_t n_acc = 0, n_data = 0, n_cx = 0;
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        n_acc += ev->passes[p].n_accesses;
        for (uint32_t i = 0; i < ev->passes[p].n_accesses; i++) {
            const struct hvt_access *a = &ev->passes[p].accesses[i];
            n_data += a->size;
            if (a->kind == HVT_ACC_CMPXCHG)
                n_cx += 2 * (size_t)a->size;
        }
    }
    if (reserve_event(w, ev, n_acc, n_data, n_cx))
        return werr(w, -HVT_E_NOMEM, "column buffers");

    struct cols *c = &w->c;
    size_t *est = &w->est_raw;
    if (!w->n_events) {
        w->first_id = ev->id;
        w->prev_id = ev->id;
    }
    put64(&c->ev_id_delta, ev->id - w->prev_id, est);
    w->prev_id = ev->id;
    put32(&c->ev_vcpu, ev->vcpu, est);
    put32(&c->ev_flags, ev->flags, est);
    puts64(&c->ev_time_delta, (int64_t)(ev->time_ns - (uint64_t)w->prev_time), est);
    w->prev_time = (int64_t)ev->time_ns;
    put32(&c->ev_insn_len, ev->insn_len, est);
    putb(&c->ev_insn, ev->insn, ev->insn_len, est);

    /* init state: a delta against this vCPU's previous init state in the chunk, when the vCPU
     * is one of the first HVT_MAX_VCPU_SLOTS seen in the chunk; else against zero */
    uint64_t init[HVT_NSLOTS];
    hvt_state_to_slots(&ev->init, init);
    int slot = -1;
    for (unsigned i = 0; i < w->n_vcpus; i++)
        if (w->vcpu_ids[i] == ev->vcpu) {
            slot = (int)i;
            break;
        }
    if (slot >= 0) {
        put32(&c->ev_init_base, 1, est);
        states_put(&c->ev_init, w->vcpu_slots[slot], init, est);
    } else {
        put32(&c->ev_init_base, 0, est);
        states_put(&c->ev_init, zero_slots, init, est);
        if (w->n_vcpus < HVT_MAX_VCPU_SLOTS) {
            slot = (int)w->n_vcpus++;
            w->vcpu_ids[slot] = ev->vcpu;
        }
    }
    if (slot >= 0)
        memcpy(w->vcpu_slots[slot], init, sizeof(init));

    put32(&c->ev_passes, ev->n_passes, est);
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        const struct hvt_pass *ps = &ev->passes[p];
        put32(&c->pass_index, ps->index, est);
        put32(&c->pass_lost, ps->lost, est);
        put32(&c->pass_kind, ps->out.kind, est);
        put32(&c->pass_retry_cause, ps->out.retry_cause, est);
        put32(&c->pass_vector, ps->out.vector, est);
        put32(&c->pass_flags, ps->out.flags, est);
        put32(&c->pass_error_code, ps->out.error_code, est);
        put64(&c->pass_cr2, ps->out.cr2, est);
        put32(&c->pass_iterations, ps->out.iterations, est);
        uint64_t end[HVT_NSLOTS];
        hvt_state_to_slots(&ps->end, end);
        states_put(&c->pass_end, init, end, est);
        put32(&c->pass_accesses, ps->n_accesses, est);
        for (uint32_t i = 0; i < ps->n_accesses; i++)
            encode_access(w, &ps->accesses[i]);
        w->stats.accesses += ps->n_accesses;
    }
    w->stats.passes += ev->n_passes;
    w->stats.events++;
    w->n_events++;
    w->n_records++;
    w->have_last_id = 1;
    w->last_id = ev->id;
    if (w->est_raw >= w->opt.chunk_bytes)
        return write_chunk(w);
    return 0;
}

int hvt_fmt_writer_append_lost(struct hvt_fmt_writer *w, const struct hvt_lost *lost)
{
    if (!w || !lost)
        return -HVT_E_INVALID;
    if (w->closed)
        return -HVT_E_CLOSED;
    struct cols *c = &w->c;
    if (RESERVE(c->lost_at, 1) || RESERVE(c->lost_vcpu, 1) || RESERVE(c->lost_count, 1) ||
        RESERVE(c->lost_event_id, 1) || RESERVE(c->lost_pass, 1) || RESERVE(c->lost_access, 1))
        return werr(w, -HVT_E_NOMEM, "column buffers");
    size_t *est = &w->est_raw;
    put32(&c->lost_at, w->n_records, est);
    put32(&c->lost_vcpu, lost->vcpu, est);
    put64(&c->lost_count, lost->count, est);
    put64(&c->lost_event_id, lost->event_id, est);
    put32(&c->lost_pass, lost->pass, est);
    put32(&c->lost_access, lost->access, est);
    w->n_records++;
    w->stats.lost_records += lost->count;
    if (w->est_raw >= w->opt.chunk_bytes)
        return write_chunk(w);
    return 0;
}

/* ---- chunk output ----------------------------------------------------------------------- */

#define SET32(m, f, col) ((m).n_##f = (col).n, (m).f = (col).p)
#define SET64(m, f, col) ((m).n_##f = (col).n, (m).f = (col).p)
#define SETS64(m, f, col) ((m).n_##f = (col).n, (m).f = (int64_t *)(col).p)

static void set_states(Hvtrace__V1__States *m, struct vstates *s)
{
    SET32(*m, count, s->count);
    SET32(*m, slot_gap, s->gap);
    SETS64(*m, value, s->value);
}

static void reset_chunk(struct hvt_fmt_writer *w)
{
    struct v32 *v32s[] = {
        &w->c.lost_at, &w->c.ev_vcpu, &w->c.ev_flags, &w->c.ev_insn_len, &w->c.ev_init_base,
        &w->c.ev_init.count, &w->c.ev_init.gap, &w->c.ev_passes, &w->c.pass_index,
        &w->c.pass_lost, &w->c.pass_kind, &w->c.pass_retry_cause, &w->c.pass_vector,
        &w->c.pass_flags, &w->c.pass_error_code, &w->c.pass_iterations, &w->c.pass_end.count,
        &w->c.pass_end.gap, &w->c.pass_accesses, &w->c.acc_kind, &w->c.acc_space, &w->c.acc_seg,
        &w->c.acc_outcome, &w->c.acc_tag_class, &w->c.acc_tag_operand, &w->c.acc_tag_level,
        &w->c.acc_tag_element, &w->c.acc_size, &w->c.acc_flags, &w->c.acc_callsite,
        &w->c.lost_vcpu, &w->c.lost_pass, &w->c.lost_access, &w->cs_used,
    };
    struct v64 *v64s[] = {
        &w->c.ev_id_delta, &w->c.ev_time_delta, &w->c.ev_init.value, &w->c.pass_cr2,
        &w->c.pass_end.value, &w->c.acc_linear_delta, &w->c.acc_phys_delta, &w->c.lost_count,
        &w->c.lost_event_id,
    };
    for (size_t i = 0; i < sizeof(v32s) / sizeof(v32s[0]); i++)
        v32s[i]->n = 0;
    for (size_t i = 0; i < sizeof(v64s) / sizeof(v64s[0]); i++)
        v64s[i]->n = 0;
    w->c.ev_insn.n = w->c.acc_data.n = w->c.acc_cmpxchg.n = 0;
    w->est_raw = 0;
    w->n_events = w->n_records = 0;
    w->first_id = w->prev_id = 0;
    w->prev_time = 0;
    w->n_vcpus = 0;
    memset(w->lin_ctx, 0, sizeof(w->lin_ctx));
    memset(w->phys_ctx, 0, sizeof(w->phys_ctx));
}

/* Packs MSG (a Chunk or an Index) and writes it as one block: header + zstd frame, with a
 * single write so that a crash leaves either the whole block or a torn one the CRCs reject. */
static int write_block(struct hvt_fmt_writer *w, const ProtobufCMessage *msg, const char *magic,
                       struct hvt_chunk_hdr *h, const char *what)
{
    size_t raw = protobuf_c_message_get_packed_size(msg);
    if (raw > UINT32_MAX / 2)
        return werr(w, -HVT_E_INTERNAL, "%s of %zu bytes", what, raw);
    if (grow((void **)&w->raw, &w->raw_cap, raw ? raw : 1, 1))
        return werr(w, -HVT_E_NOMEM, "raw buffer");
    protobuf_c_message_pack(msg, w->raw);
    size_t bound = ZSTD_compressBound(raw);
    if (grow((void **)&w->out, &w->out_cap, HVT_CHUNK_HDR_SIZE + bound, 1))
        return werr(w, -HVT_E_NOMEM, "output buffer");
    size_t clen = ZSTD_compress2(w->cctx, w->out + HVT_CHUNK_HDR_SIZE, bound, w->raw, raw);
    if (ZSTD_isError(clen))
        return werr(w, -HVT_E_INTERNAL, "zstd: %s", ZSTD_getErrorName(clen));
    memcpy(h->magic, magic, 4);
    h->compressed_size = (uint32_t)clen;
    h->raw_size = (uint32_t)raw;
    h->payload_crc = hvt_crc32c(0, w->out + HVT_CHUNK_HDR_SIZE, clen);
    hvt_chunk_hdr_encode(w->out, h);
    return write_all(w, w->out, HVT_CHUNK_HDR_SIZE + clen, what);
}

static int write_chunk(struct hvt_fmt_writer *w)
{
    if (!w->n_records)
        return 0;
    struct cols *c = &w->c;
    Hvtrace__V1__Chunk m = HVTRACE__V1__CHUNK__INIT;
    Hvtrace__V1__States si = HVTRACE__V1__STATES__INIT, se = HVTRACE__V1__STATES__INIT;
    m.first_event_id = w->n_events ? w->first_id : 0;
    SET32(m, lost_at, c->lost_at);
    SET64(m, ev_id_delta, c->ev_id_delta);
    SET32(m, ev_vcpu, c->ev_vcpu);
    SET32(m, ev_flags, c->ev_flags);
    SETS64(m, ev_time_delta, c->ev_time_delta);
    SET32(m, ev_insn_len, c->ev_insn_len);
    m.ev_insn.data = c->ev_insn.p;
    m.ev_insn.len = c->ev_insn.n;
    SET32(m, ev_init_base, c->ev_init_base);
    set_states(&si, &c->ev_init);
    m.ev_init = &si;
    SET32(m, ev_passes, c->ev_passes);
    SET32(m, pass_index, c->pass_index);
    SET32(m, pass_lost, c->pass_lost);
    SET32(m, pass_kind, c->pass_kind);
    SET32(m, pass_retry_cause, c->pass_retry_cause);
    SET32(m, pass_vector, c->pass_vector);
    SET32(m, pass_flags, c->pass_flags);
    SET32(m, pass_error_code, c->pass_error_code);
    SET64(m, pass_cr2, c->pass_cr2);
    SET32(m, pass_iterations, c->pass_iterations);
    set_states(&se, &c->pass_end);
    m.pass_end = &se;
    SET32(m, pass_accesses, c->pass_accesses);
    SET32(m, acc_kind, c->acc_kind);
    SET32(m, acc_space, c->acc_space);
    SET32(m, acc_seg, c->acc_seg);
    SET32(m, acc_outcome, c->acc_outcome);
    SET32(m, acc_tag_class, c->acc_tag_class);
    SET32(m, acc_tag_operand, c->acc_tag_operand);
    SET32(m, acc_tag_level, c->acc_tag_level);
    SET32(m, acc_tag_element, c->acc_tag_element);
    SET32(m, acc_size, c->acc_size);
    SET32(m, acc_flags, c->acc_flags);
    SETS64(m, acc_linear_delta, c->acc_linear_delta);
    SETS64(m, acc_phys_delta, c->acc_phys_delta);
    SET32(m, acc_callsite, c->acc_callsite);
    m.acc_data.data = c->acc_data.p;
    m.acc_data.len = c->acc_data.n;
    m.acc_cmpxchg.data = c->acc_cmpxchg.p;
    m.acc_cmpxchg.len = c->acc_cmpxchg.n;
    SET32(m, lost_vcpu, c->lost_vcpu);
    SET64(m, lost_count, c->lost_count);
    SET64(m, lost_event_id, c->lost_event_id);
    SET32(m, lost_pass, c->lost_pass);
    SET32(m, lost_access, c->lost_access);

    /* call sites used by this chunk, defined again here so the chunk stands alone */
    size_t ncs = w->cs_used.n, nfr = 0;
    for (size_t i = 0; i < ncs; i++)
        nfr += cs_find(w, w->cs_used.p[i])->n_frames;
    Hvtrace__V1__CallSite *csm = calloc(ncs ? ncs : 1, sizeof(*csm));
    Hvtrace__V1__CallSite **csp = calloc(ncs ? ncs : 1, sizeof(*csp));
    Hvtrace__V1__Frame *frm = calloc(nfr ? nfr : 1, sizeof(*frm));
    Hvtrace__V1__Frame **frp = calloc(nfr ? nfr : 1, sizeof(*frp));
    int rc;
    if (!csm || !csp || !frm || !frp) {
        rc = werr(w, -HVT_E_NOMEM, "call-site messages");
        goto out;
    }
    size_t f = 0;
    for (size_t i = 0; i < ncs; i++) {
        const struct cs_entry *e = cs_find(w, w->cs_used.p[i]);
        hvtrace__v1__call_site__init(&csm[i]);
        csm[i].id = e->id;
        csm[i].n_frames = e->n_frames;
        csm[i].frames = frp + f;
        for (uint32_t k = 0; k < e->n_frames; k++, f++) {
            hvtrace__v1__frame__init(&frm[f]);
            frm[f].ip = e->frames[k].ip;
            frm[f].offset = e->frames[k].offset;
            frm[f].function = (char *)e->frames[k].function;
            frm[f].module = (char *)e->frames[k].module;
            frp[f] = &frm[f];
        }
        csp[i] = &csm[i];
    }
    m.n_callsites = ncs;
    m.callsites = csp;

    struct hvt_chunk_hdr h = {
        .first_event_id = w->n_events ? w->first_id : HVT_NO_EVENT,
        .last_event_id = w->n_events ? w->prev_id : HVT_NO_EVENT,
        .n_events = w->n_events,
        .n_records = w->n_records,
    };
    uint64_t at = w->off;
    rc = write_block(w, &m.base, HVT_CHUNK_MAGIC, &h, "a chunk");
    if (rc < 0) {
        w->closed = rc;
        goto out;
    }
    if (grow((void **)&w->index, &w->index_cap, w->n_index + 1, sizeof(*w->index))) {
        rc = werr(w, -HVT_E_NOMEM, "index");
        w->closed = rc;
        goto out;
    }
    w->index[w->n_index++] = (struct index_entry){
        .offset = at,
        .compressed_size = h.compressed_size,
        .raw_size = h.raw_size,
        .first_event_id = h.first_event_id,
        .last_event_id = h.last_event_id,
        .n_events = h.n_events,
        .n_records = h.n_records,
    };
    w->stats.chunks++;
    w->stats.raw_bytes += h.raw_size;
    reset_chunk(w);
out:
    free(csm);
    free(csp);
    free(frm);
    free(frp);
    return rc;
}

int hvt_fmt_writer_flush(struct hvt_fmt_writer *w)
{
    if (!w)
        return -HVT_E_INVALID;
    if (w->closed)
        return -HVT_E_CLOSED;
    int rc = write_chunk(w);
    if (rc < 0)
        return rc;
    if (w->regular && fdatasync(w->fd) < 0)
        return werr(w, -HVT_E_IO, "fdatasync: %s", strerror(errno));
    return 0;
}

static int write_index(struct hvt_fmt_writer *w)
{
    size_t n = w->n_index;
    uint64_t *off = calloc(n + 1, 8), *first = calloc(n + 1, 8), *last = calloc(n + 1, 8);
    uint32_t *cs = calloc(n + 1, 4), *rs = calloc(n + 1, 4), *ne = calloc(n + 1, 4),
             *nr = calloc(n + 1, 4);
    int rc;
    if (!off || !first || !last || !cs || !rs || !ne || !nr) {
        rc = werr(w, -HVT_E_NOMEM, "index");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        off[i] = w->index[i].offset;
        cs[i] = w->index[i].compressed_size;
        rs[i] = w->index[i].raw_size;
        first[i] = w->index[i].first_event_id;
        last[i] = w->index[i].last_event_id;
        ne[i] = w->index[i].n_events;
        nr[i] = w->index[i].n_records;
    }
    Hvtrace__V1__Index m = HVTRACE__V1__INDEX__INIT;
    m.n_offset = m.n_compressed_size = m.n_raw_size = m.n_first_event_id = n;
    m.n_last_event_id = m.n_n_events = m.n_n_records = n;
    m.offset = off;
    m.compressed_size = cs;
    m.raw_size = rs;
    m.first_event_id = first;
    m.last_event_id = last;
    m.n_events = ne;
    m.n_records = nr;
    struct hvt_chunk_hdr h = {.first_event_id = HVT_NO_EVENT, .last_event_id = HVT_NO_EVENT,
                              .n_records = (uint32_t)n};
    uint64_t at = w->off;
    rc = write_block(w, &m.base, HVT_INDEX_MAGIC, &h, "the index");
    if (rc < 0)
        goto out;
    uint8_t foot[HVT_FOOTER_SIZE];
    struct hvt_footer ft = {.index_offset = at,
                            .index_size = (uint32_t)(w->off - at),
                            .n_chunks = (uint32_t)n};
    hvt_footer_encode(foot, &ft);
    rc = write_all(w, foot, sizeof(foot), "the footer");
out:
    free(off);
    free(first);
    free(last);
    free(cs);
    free(rs);
    free(ne);
    free(nr);
    return rc;
}

static void writer_free(struct hvt_fmt_writer *w)
{
    struct v32 *v32s[] = {
        &w->c.lost_at, &w->c.ev_vcpu, &w->c.ev_flags, &w->c.ev_insn_len, &w->c.ev_init_base,
        &w->c.ev_init.count, &w->c.ev_init.gap, &w->c.ev_passes, &w->c.pass_index,
        &w->c.pass_lost, &w->c.pass_kind, &w->c.pass_retry_cause, &w->c.pass_vector,
        &w->c.pass_flags, &w->c.pass_error_code, &w->c.pass_iterations, &w->c.pass_end.count,
        &w->c.pass_end.gap, &w->c.pass_accesses, &w->c.acc_kind, &w->c.acc_space, &w->c.acc_seg,
        &w->c.acc_outcome, &w->c.acc_tag_class, &w->c.acc_tag_operand, &w->c.acc_tag_level,
        &w->c.acc_tag_element, &w->c.acc_size, &w->c.acc_flags, &w->c.acc_callsite,
        &w->c.lost_vcpu, &w->c.lost_pass, &w->c.lost_access, &w->cs_used,
    };
    struct v64 *v64s[] = {
        &w->c.ev_id_delta, &w->c.ev_time_delta, &w->c.ev_init.value, &w->c.pass_cr2,
        &w->c.pass_end.value, &w->c.acc_linear_delta, &w->c.acc_phys_delta, &w->c.lost_count,
        &w->c.lost_event_id,
    };
    for (size_t i = 0; i < sizeof(v32s) / sizeof(v32s[0]); i++)
        free(v32s[i]->p);
    for (size_t i = 0; i < sizeof(v64s) / sizeof(v64s[0]); i++)
        free(v64s[i]->p);
    free(w->c.ev_insn.p);
    free(w->c.acc_data.p);
    free(w->c.acc_cmpxchg.p);
    for (size_t i = 0; i < w->cs_cap; i++) {
        free(w->cs[i].frames);
        free(w->cs[i].strings);
    }
    free(w->cs);
    free(w->raw);
    free(w->out);
    free(w->index);
    ZSTD_freeCCtx(w->cctx);
    if (w->own_fd)
        close(w->fd);
    free(w);
}

int hvt_fmt_writer_close(struct hvt_fmt_writer *w, struct hvt_fmt_writer_stats *stats)
{
    if (!w)
        return 0;
    int rc = w->closed;
    if (!rc)
        rc = write_chunk(w);
    if (!rc)
        rc = write_index(w);
    if (!rc && w->regular && fdatasync(w->fd) < 0)
        rc = werr(w, -HVT_E_IO, "fdatasync: %s", strerror(errno));
    if (w->own_fd && close(w->fd) < 0 && !rc)
        rc = -HVT_E_IO;
    w->own_fd = 0;
    if (stats)
        *stats = w->stats;
    writer_free(w);
    return rc;
}

const struct hvt_fmt_error_info *hvt_fmt_writer_error(const struct hvt_fmt_writer *w)
{
    static const struct hvt_fmt_error_info none = {.chunk = -1, .record = -1,
                                                   .message = "no writer"};
    return w ? &w->err : &none;
}
