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

#include "common/syserr.h"
#include "chunkenc.h"
#include "common/sized.h"
#include "crc32c.h"
#include "decode.h"
#include "internal.h"
#include "layout.h"
#include "state.h"
#include "trace.pb-c.h"

/* ---- growable columns ------------------------------------------------------------------- */

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
/* An interned call site: deep copy, plus the chunk that last referenced it. */
struct cs_entry {
    uint32_t id; /* 0 = empty slot */
    uint32_t n_frames;
    struct hvt_frame *frames;
    char *strings;
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
    char *path, *part; /* opened by path: the final path, and the file written (NULL: PATH) */
    ZSTD_CCtx *cctx;
    int have_last_id;
    uint64_t last_id; /* last event id appended in the trace */

    /* the chunk being built */
    struct hvt_chunkenc enc;

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
    opt->chunk_bytes = 1u << 18;
}

static int chunk_full(const struct hvt_fmt_writer *w);

/* Detail of the last failed open or close of this thread (there is no writer to hold it). */
static _Thread_local struct hvt_fmt_error_info open_err;

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
        char eb[128];
        werr(w, code, "writing %s (%zu bytes): %s", what, len, hvt_syserr(e, eb, sizeof(eb)));
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
    const char *strs[] = {h->producer,     h->producer_version, h->cpu_vendor,
                          h->cpu_features, h->hypervisor,       h->hypervisor_version,
                          h->core_name,    h->core_version,     h->core_build_id,
                          h->cpu_profile};
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
    m.cpu_profile = nz(h->cpu_profile);

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
    if (hvt_sized_in(o, sizeof(*o), opt, opt->size, HVT_FMT_WRITER_OPTIONS_SIZE_V1))
        return -HVT_E_INVALID;
    o->size = sizeof(*o);
    if (o->level < ZSTD_minCLevel() || o->level > ZSTD_maxCLevel())
        return -HVT_E_INVALID;
    if (o->chunk_bytes == 0)
        o->chunk_bytes = 1u << 18;
    if (o->chunk_bytes > HVT_FMT_MAX_CHUNK_BYTES || (o->flags & ~(HVT_FMT_W_OVERWRITE | HVT_FMT_W_FOLLOW)))
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
        open_err = w->err;
        writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}


static int open_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int open_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    open_err.code = code;
    vsnprintf(open_err.message, sizeof(open_err.message), fmt, ap);
    va_end(ap);
    return code;
}

static int errno_code(int e)
{
    return (e == ENOSPC || e == EDQUOT || e == EFBIG) ? -HVT_E_NOSPACE : -HVT_E_IO;
}

const struct hvt_fmt_error_info *hvt_fmt_writer_last_error(void)
{
    return &open_err;
}

/* Opens the file the writer writes: PATH itself when it is a character device (/dev/null),
 * otherwise PATH.part next to it (created exclusively, never through a symbolic link), which
 * close renames over PATH. A symbolic link at PATH is refused unless HVT_FMT_W_FOLLOW is given,
 * then its target is written. Sets *TARGET (the final path) and *PART (NULL when direct). */
static int open_output(const char *path, unsigned flags, char **target, char **part)
{
    char eb[128];
    struct stat st;
    *target = *part = NULL;
    int exists = lstat(path, &st) == 0;
    if (!exists && errno != ENOENT)
        return open_fail(-HVT_E_IO, "cannot create %s: %s", path, hvt_syserr(errno, eb, sizeof(eb)));
    char *t = NULL;
    if (exists && S_ISLNK(st.st_mode)) {
        if (!(flags & HVT_FMT_W_FOLLOW))
            return open_fail(-HVT_E_IO, "%s is a symbolic link, not followed for an output: %s",
                             path, hvt_syserr(ELOOP, eb, sizeof(eb)));
        t = realpath(path, NULL);
        if (!t)
            return open_fail(-HVT_E_IO, "%s: following the symbolic link: %s", path,
                             hvt_syserr(errno, eb, sizeof(eb)));
        exists = stat(t, &st) == 0;
    } else {
        t = strdup(path);
    }
    if (!t)
        return open_fail(-HVT_E_NOMEM, "out of memory");
    int fd = -1;
    if (exists) {
        if (!(flags & HVT_FMT_W_OVERWRITE)) {
            free(t);
            return open_fail(-HVT_E_EXISTS, "%s exists (overwrite not requested)", path);
        }
        if (S_ISDIR(st.st_mode)) {
            free(t);
            return open_fail(-HVT_E_IO, "%s: %s", path, hvt_syserr(EISDIR, eb, sizeof(eb)));
        }
        if (S_ISCHR(st.st_mode)) {
            fd = open(t, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                int e = errno;
                free(t);
                return open_fail(errno_code(e), "cannot open %s: %s", path,
                                 hvt_syserr(e, eb, sizeof(eb)));
            }
            *target = t;
            return fd;
        }
        if (!S_ISREG(st.st_mode)) {
            free(t);
            return open_fail(-HVT_E_IO, "%s is not a regular file or a character device", path);
        }
    }
    size_t n = strlen(t) + sizeof(".part");
    char *p = malloc(n);
    if (!p) {
        free(t);
        return open_fail(-HVT_E_NOMEM, "out of memory");
    }
    snprintf(p, n, "%s.part", t);
    for (int tries = 0; tries < 2 && fd < 0; tries++) {
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        /* a partial file left by a killed writer: replaced only when overwriting */
        if (fd < 0 && errno == EEXIST && (flags & HVT_FMT_W_OVERWRITE) && !tries &&
            lstat(p, &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
            (void)unlink(p);
        else if (fd < 0)
            break;
    }
    if (fd < 0) {
        int e = errno;
        int code = e == EEXIST ? -HVT_E_EXISTS : errno_code(e);
        open_fail(code, "cannot create %s: %s%s", p, hvt_syserr(e, eb, sizeof(eb)),
                  e == EEXIST ? " (another writer, or a killed one: salvage it or overwrite)"
                              : "");
        free(p);
        free(t);
        return code;
    }
    *target = t;
    *part = p;
    return fd;
}

int hvt_fmt_writer_open(struct hvt_fmt_writer **out, const char *path,
                        const struct hvt_fmt_header *hdr, const struct hvt_fmt_writer_options *opt)
{
    memset(&open_err, 0, sizeof(open_err));
    open_err.chunk = open_err.record = -1;
    if (!out)
        return open_fail(-HVT_E_INVALID, "no output pointer");
    *out = NULL;
    struct hvt_fmt_writer_options o;
    if (!path || !*path)
        return open_fail(-HVT_E_INVALID, "empty output path");
    if (check_options(opt, &o))
        return open_fail(-HVT_E_INVALID, "bad writer options");
    char *target, *part;
    int fd = open_output(path, o.flags, &target, &part);
    if (fd < 0)
        return fd;
    int rc = hvt_fmt_writer_open_fd(out, fd, hdr, &o);
    if (rc < 0) {
        if (part)
            (void)unlink(part);
        close(fd);
        free(target);
        free(part);
        char what[sizeof(open_err.message)];
        snprintf(what, sizeof(what), "%s", open_err.message[0] ? open_err.message : hvt_strerror(rc));
        return open_fail(rc, "%s: %s", path, what);
    }
    (*out)->own_fd = 1;
    (*out)->path = target;
    (*out)->part = part;
    return 0;
}

/* Makes a closed writer's file appear at its path: PATH.part renamed over PATH (without
 * overwrite, only if PATH still does not exist). A file that failed part way is published
 * too: it holds every complete chunk, which is what a recording must not lose. RC is the
 * close status so far; returns the final one. */
static int publish(struct hvt_fmt_writer *w, int rc)
{
    char eb[128];
    if (!w->part)
        return rc;
    if (w->off == 0) { /* not even the file header: nothing worth keeping */
        (void)unlink(w->part);
        return rc;
    }
    int r;
    if (w->opt.flags & HVT_FMT_W_OVERWRITE) {
        r = rename(w->part, w->path);
    } else {
        r = renameat2(AT_FDCWD, w->part, AT_FDCWD, w->path, RENAME_NOREPLACE);
        if (r < 0 && (errno == EINVAL || errno == ENOSYS)) {
            r = link(w->part, w->path);
            if (r == 0)
                (void)unlink(w->part);
        }
    }
    if (r < 0) {
        int e = errno;
        int code = e == EEXIST ? -HVT_E_EXISTS : errno_code(e);
        werr(w, code, "renaming %s to %s: %s (the trace stays in %s)", w->part, w->path,
             hvt_syserr(e, eb, sizeof(eb)), w->part);
        return rc ? rc : code;
    }
    /* the rename is durable once the directory is */
    char *slash = strrchr(w->path, '/');
    char *dir = slash ? strndup(w->path, (size_t)(slash - w->path) + 1) : strdup(".");
    int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(dir);
    return rc;
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

/* ---- appending ------------------------------------------------------------------------ */

static int write_chunk(struct hvt_fmt_writer *w);

int hvt_fmt_writer_append(struct hvt_fmt_writer *w, const struct hvt_event *ev)
{
    if (!w || !ev)
        return -HVT_E_INVALID;
    if (w->closed)
        return -HVT_E_CLOSED;
    if (w->have_last_id && ev->id <= w->last_id)
        return werr(w, -HVT_E_INVALID, "event id %" PRIu64 " not above the previous %" PRIu64,
                    ev->id, w->last_id);
    if (ev->id == HVT_NO_EVENT)
        return werr(w, -HVT_E_INVALID, "event id %" PRIu64 " is reserved", ev->id);
    char msg[200];
    int rc = hvt_chunkenc_event(&w->enc, ev, msg, sizeof(msg));
    if (rc == -HVT_E_INVALID)
        return werr(w, rc, "%s", msg);
    if (rc < 0)
        return werr(w, rc, "column buffers");
    w->stats.events++;
    w->stats.passes += ev->n_passes;
    for (uint32_t p = 0; p < ev->n_passes; p++)
        w->stats.accesses += ev->passes[p].n_accesses;
    w->have_last_id = 1;
    w->last_id = ev->id;
    if (chunk_full(w))
        return write_chunk(w);
    return 0;
}

/* A chunk is closed at chunk_bytes raw bytes, or before its decode memory could exceed a
 * reader's default budget (half of it, so that one more event of any size still fits). */
static int chunk_full(const struct hvt_fmt_writer *w)
{
    const struct hvt_chunkenc *c = &w->enc;
    size_t raw = hvt_chunkenc_size(c);
    if (raw >= w->opt.chunk_bytes)
        return 1;
    return hvt_chunk_mem_bound(raw, c->n_events, c->n_records - c->n_events, c->n_passes,
                               c->n_accesses, c->cs_n) >= HVT_FMT_MAX_CHUNK_MEM / 2;
}

int hvt_fmt_writer_append_lost(struct hvt_fmt_writer *w, const struct hvt_lost *lost)
{
    if (!w || !lost)
        return -HVT_E_INVALID;
    if (w->closed)
        return -HVT_E_CLOSED;
    if (hvt_chunkenc_lost(&w->enc, lost) < 0)
        return werr(w, -HVT_E_NOMEM, "column buffers");
    w->stats.lost_records += lost->count;
    if (chunk_full(w))
        return write_chunk(w);
    return 0;
}

/* ---- chunk output ----------------------------------------------------------------------- */

/* Packs MSG (the index) and writes it as one block. */
static int write_raw_block(struct hvt_fmt_writer *w, size_t raw, const char *magic,
                           struct hvt_chunk_hdr *h, const char *what);
static int write_block(struct hvt_fmt_writer *w, const ProtobufCMessage *msg, const char *magic,
                       struct hvt_chunk_hdr *h, const char *what)
{
    size_t raw = protobuf_c_message_get_packed_size(msg);
    if (raw > UINT32_MAX / 2)
        return werr(w, -HVT_E_INTERNAL, "%s of %zu bytes", what, raw);
    if (grow((void **)&w->raw, &w->raw_cap, raw ? raw : 1, 1))
        return werr(w, -HVT_E_NOMEM, "raw buffer");
    protobuf_c_message_pack(msg, w->raw);
    return write_raw_block(w, raw, magic, h, what);
}

/* Compresses RAW_LEN bytes in w->raw and writes header + frame with a single write, so that a
 * crash leaves either the whole block or a torn one that the CRCs reject. */
static int write_raw_block(struct hvt_fmt_writer *w, size_t raw, const char *magic,
                           struct hvt_chunk_hdr *h, const char *what)
{
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

/* The definitions of the call sites the chunk uses, as encoded field 43 entries. */
static int encode_callsites(struct hvt_fmt_writer *w, uint8_t **buf, size_t *len)
{
    size_t cap = 0, n = 0;
    uint8_t *b = NULL;
    *buf = NULL;
    *len = 0;
    for (size_t i = 0; i < w->enc.cs_n; i++) {
        const struct cs_entry *e = cs_find(w, w->enc.cs_list[i]);
        if (!e)
            continue; /* used but never defined */
        Hvtrace__V1__Frame frm[HVT_FMT_MAX_FRAMES], *frp[HVT_FMT_MAX_FRAMES];
        Hvtrace__V1__CallSite cs = HVTRACE__V1__CALL_SITE__INIT;
        cs.id = e->id;
        cs.n_frames = e->n_frames;
        cs.frames = frp;
        for (uint32_t k = 0; k < e->n_frames; k++) {
            hvtrace__v1__frame__init(&frm[k]);
            frm[k].ip = e->frames[k].ip;
            frm[k].offset = e->frames[k].offset;
            frm[k].function = (char *)e->frames[k].function;
            frm[k].module = (char *)e->frames[k].module;
            frp[k] = &frm[k];
        }
        size_t sz = hvtrace__v1__call_site__get_packed_size(&cs);
        if (n + sz + 12 > cap) {
            size_t nc = (n + sz + 12) * 2;
            uint8_t *p = realloc(b, nc);
            if (!p) {
                free(b);
                return -HVT_E_NOMEM;
            }
            b = p;
            cap = nc;
        }
        uint8_t *p = hvt_pb_varint(b + n, (uint64_t)F_CALLSITES << 3 | 2);
        p = hvt_pb_varint(p, sz);
        hvtrace__v1__call_site__pack(&cs, p);
        n = (size_t)(p + sz - b);
    }
    *buf = b;
    *len = n;
    return 0;
}

static int write_chunk(struct hvt_fmt_writer *w)
{
    struct hvt_chunkenc *c = &w->enc;
    if (!c->n_records)
        return 0;
    uint8_t *cs;
    size_t cs_len;
    if (encode_callsites(w, &cs, &cs_len) < 0)
        return werr(w, -HVT_E_NOMEM, "call-site definitions");
    int64_t raw = hvt_chunkenc_finish(c, cs, cs_len, &w->raw, &w->raw_cap);
    free(cs);
    if (raw < 0)
        return werr(w, -HVT_E_NOMEM, "chunk payload");
    if (raw > (int64_t)(UINT32_MAX / 2))
        return werr(w, -HVT_E_INTERNAL, "chunk of %" PRId64 " bytes", raw);
    struct hvt_chunk_hdr h = {
        .first_event_id = c->n_events ? c->first_id : HVT_NO_EVENT,
        .last_event_id = c->n_events ? c->prev_id : HVT_NO_EVENT,
        .n_events = c->n_events,
        .n_records = c->n_records,
        .version = HVT_CHUNK_ENC_2,
    };
    uint64_t at = w->off;
    int rc = write_raw_block(w, (size_t)raw, HVT_CHUNK_MAGIC, &h, "a chunk");
    if (rc < 0) {
        w->closed = rc;
        return rc;
    }
    if (grow((void **)&w->index, &w->index_cap, w->n_index + 1, sizeof(*w->index))) {
        w->closed = werr(w, -HVT_E_NOMEM, "index");
        return w->closed;
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
    hvt_chunkenc_reset(c);
    return 0;
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
    struct hvt_chunk_hdr h = {
        .first_event_id = HVT_NO_EVENT, .last_event_id = HVT_NO_EVENT, .n_records = (uint32_t)n};
    uint64_t at = w->off;
    rc = write_block(w, &m.base, HVT_INDEX_MAGIC, &h, "the index");
    if (rc < 0)
        goto out;
    uint8_t foot[HVT_FOOTER_SIZE];
    struct hvt_footer ft = {
        .index_offset = at, .index_size = (uint32_t)(w->off - at), .n_chunks = (uint32_t)n};
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
    hvt_chunkenc_free(&w->enc);
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
    free(w->path);
    free(w->part);
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
        rc = werr(w, -HVT_E_IO, "close: %s", strerror(errno));
    w->own_fd = 0;
    rc = publish(w, rc);
    if (rc < 0)
        open_err = w->err;
    if (stats)
        *stats = w->stats;
    writer_free(w);
    return rc;
}

int hvt_fmt_writer_get_stats(const struct hvt_fmt_writer *w, struct hvt_fmt_writer_stats *stats)
{
    if (!w || !stats)
        return -HVT_E_INVALID;
    *stats = w->stats;
    return 0;
}

const struct hvt_fmt_error_info *hvt_fmt_writer_error(const struct hvt_fmt_writer *w)
{
    static const struct hvt_fmt_error_info none = {
        .chunk = -1, .record = -1, .message = "no writer"};
    return w ? &w->err : &none;
}
