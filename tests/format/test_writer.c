/* SPDX-License-Identifier: MIT */
/* hvtrace format tests: writer file handling (0600, EXCL, overwrite, ENOSPC), event checks,
 * bad arguments, and the CRC32C implementations. */
#include "gen.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "crc32c.h"

static char path[512];

static void test_crc32c(void)
{
    CHECK_U64(hvt_crc32c(0, "123456789", 9), 0xe3069283);
    CHECK_U64(hvt_crc32c_sw(0, "123456789", 9), 0xe3069283);
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (uint8_t)rnd();
    for (int off = 0; off < 9; off++)
        for (int len = 0; len < 200; len += 13) {
            uint32_t a = hvt_crc32c(0, buf + off, (size_t)len);
            CHECK_U64(a, hvt_crc32c_sw(0, buf + off, (size_t)len));
            /* incremental */
            CHECK_U64(hvt_crc32c(hvt_crc32c(0, buf + off, 5), buf + off + 5, (size_t)len),
                      hvt_crc32c(0, buf + off, (size_t)len + 5));
        }
}

static void test_modes(void)
{
    unlink(path);
    mode_t old = umask(0);
    struct hvt_fmt_writer *w;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, NULL), 0);
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    umask(old);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    /* exists: refused, file untouched */
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, NULL), -HVT_E_EXISTS);
    CHECK(w == NULL);
    struct stat st2;
    CHECK_EQ(stat(path, &st2), 0);
    CHECK_EQ(st2.st_size, st.st_size);
    /* overwrite: replaced, and made 0600 even if it was not */
    chmod(path, 0644);
    struct hvt_fmt_writer_options o;
    hvt_fmt_writer_options_init(&o);
    o.flags = HVT_FMT_W_OVERWRITE;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, &o), 0);
    struct hvt_event *ev = gen_event(5, NULL, 0);
    CHECK_EQ(hvt_fmt_writer_append(w, ev), 0);
    struct hvt_fmt_writer_stats s;
    CHECK_EQ(hvt_fmt_writer_close(w, &s), 0);
    CHECK_EQ(s.events, 1);
    CHECK_EQ(s.chunks, 1);
    CHECK_EQ(stat(path, &st2), 0);
    CHECK_EQ(st2.st_mode & 0777, 0600);
    CHECK_U64((uint64_t)st2.st_size, s.file_bytes);
    /* an empty trace (no chunk) reads fine */
    unlink(path);
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, NULL), 0);
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    struct hvt_fmt_reader *r;
    CHECK_EQ(hvt_fmt_reader_open(&r, path, NULL), 0);
    CHECK_EQ(hvt_fmt_reader_has_index(r), 1);
    CHECK_EQ(hvt_fmt_reader_chunk_count(r), 0);
    struct hvt_record rec;
    CHECK_EQ(hvt_fmt_reader_next(r, &rec), 0);
    CHECK_EQ(hvt_fmt_reader_seek_event(r, 0), -HVT_E_NOT_FOUND);
    hvt_fmt_reader_close(r);
    CHECK_EQ(hvt_fmt_verify(path, NULL, NULL, NULL), 0);
    /* writer on a file descriptor */
    int fd = open(path, O_WRONLY | O_TRUNC);
    CHECK_EQ(hvt_fmt_writer_open_fd(&w, fd, NULL, NULL), 0);
    CHECK_EQ(hvt_fmt_writer_append(w, ev), 0);
    CHECK_EQ(hvt_fmt_writer_flush(w), 0);
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    CHECK_EQ(fcntl(fd, F_GETFD), 0); /* not closed by the writer */
    close(fd);
    CHECK_EQ(hvt_fmt_verify(path, NULL, NULL, NULL), 0);
    gen_free(ev);
}

static void test_event_checks(void)
{
    struct hvt_fmt_writer_options o;
    hvt_fmt_writer_options_init(&o);
    o.flags = HVT_FMT_W_OVERWRITE;
    struct hvt_fmt_writer *w;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, &o), 0);
    struct hvt_event *ev = gen_event(10, NULL, 0);
    CHECK_EQ(hvt_fmt_writer_append(w, ev), 0);
    CHECK_EQ(hvt_fmt_writer_append(w, ev), -HVT_E_INVALID); /* same id */
    CHECK(strstr(hvt_fmt_writer_error(w)->message, "not above") != NULL);
    ev->id = 9;
    CHECK_EQ(hvt_fmt_writer_append(w, ev), -HVT_E_INVALID);
    ev->id = 11;
    ev->insn_len = 16;
    CHECK_EQ(hvt_fmt_writer_append(w, ev), -HVT_E_INVALID);
    ev->insn_len = 1;
    struct hvt_access acc;
    gen_access(&acc);
    struct hvt_pass ps = {.n_accesses = 1, .accesses = &acc};
    struct hvt_event e2 = *ev;
    e2.n_passes = 1;
    e2.passes = &ps;
    acc.size = 0;
    CHECK_EQ(hvt_fmt_writer_append(w, &e2), -HVT_E_INVALID);
    acc.size = 33;
    CHECK_EQ(hvt_fmt_writer_append(w, &e2), -HVT_E_INVALID);
    acc.size = 4;
    acc.kind = HVT_ACC__COUNT;
    CHECK_EQ(hvt_fmt_writer_append(w, &e2), -HVT_E_INVALID);
    acc.kind = 0;
    acc.seg = 12;
    CHECK_EQ(hvt_fmt_writer_append(w, &e2), -HVT_E_INVALID);
    acc.seg = HVT_SEG_NONE;
    ps.out.kind = HVT_OUT__COUNT;
    CHECK_EQ(hvt_fmt_writer_append(w, &e2), -HVT_E_INVALID);
    ps.out.kind = 0;
    e2.n_passes = HVT_FMT_MAX_PASSES + 1;
    CHECK_EQ(hvt_fmt_writer_append(w, &e2), -HVT_E_INVALID);
    e2.n_passes = 1;
    e2.id = HVT_NO_EVENT;
    CHECK_EQ(hvt_fmt_writer_append(w, &e2), -HVT_E_INVALID);
    e2.id = 11;
    CHECK_EQ(hvt_fmt_writer_append(w, &e2), 0); /* the writer is still usable */
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    CHECK_EQ(hvt_fmt_verify(path, NULL, NULL, NULL), 0);
    gen_free(ev);
}

/* Each access field's range, one value at a time, wherever the access sits in the event; a
 * refused event leaves no trace in the file (the same bytes as a trace without it). */
static void test_access_ranges(void)
{
    char path2[4096];
    snprintf(path2, sizeof(path2), "%s.2", path);
    struct hvt_fmt_writer_options o;
    hvt_fmt_writer_options_init(&o);
    o.flags = HVT_FMT_W_OVERWRITE;
    struct hvt_fmt_header h = {.producer = "test", .start_time_ns = 1};
    memset(h.uuid, 7, sizeof(h.uuid));
    struct hvt_fmt_writer *w, *w2;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, &h, &o), 0);
    CHECK_EQ(hvt_fmt_writer_open(&w2, path2, &h, &o), 0);
    struct hvt_event *ev = gen_event(1, NULL, 0);
    uint64_t id = 1;
    int refused = 0;
    for (unsigned field = 0; field < 2; field++)
        for (unsigned v = 0; v < 256; v++) {
            /* the field in an access of the last pass, not its first */
            struct hvt_event *e = gen_event(++id, ev, 0);
            while (!e->n_passes || e->passes[e->n_passes - 1].n_accesses < 2) {
                gen_free(e);
                e = gen_event(id, ev, 0);
            }
            uint32_t p = e->n_passes - 1, i = e->passes[p].n_accesses - 1;
            struct hvt_access *a = &e->passes[p].accesses[i];
            int ok;
            if (field == 0) {
                a->seg = (uint8_t)v;
                ok = v <= HVT_SEG_IDTR || v == HVT_SEG_NONE;
            } else {
                a->size = v < 128 ? v : 0xffffff00u + v;
                ok = a->size >= 1 && a->size <= HVT_DATA_MAX;
            }
            int rc = hvt_fmt_writer_append(w, e);
            CHECK_EQ(rc, ok ? 0 : -HVT_E_INVALID);
            if (ok) {
                CHECK_EQ(hvt_fmt_writer_append(w2, e), 0);
            } else {
                char want[64];
                snprintf(want, sizeof(want), "pass %u access %u: field out of range", p, i);
                CHECK(strstr(hvt_fmt_writer_error(w)->message, want) != NULL);
                refused++;
            }
            gen_free(ev);
            ev = e;
        }
    CHECK_EQ(refused, (256 - 11) + (256 - 32));
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    CHECK_EQ(hvt_fmt_writer_close(w2, NULL), 0);
    FILE *f1 = fopen(path, "rb"), *f2 = fopen(path2, "rb");
    CHECK(f1 && f2);
    int c1, c2;
    long n = 0;
    do {
        c1 = fgetc(f1);
        c2 = fgetc(f2);
        n++;
    } while (c1 == c2 && c1 != EOF);
    CHECK_EQ(c1, c2); /* byte for byte */
    CHECK(n > 1000);
    fclose(f1);
    fclose(f2);
    unlink(path2);
    gen_free(ev);
}

/* A chunk whose first event has passes but no access: the encoder formed its access columns'
 * write pointers from buffers never allocated (NULL + 0, caught by UBSan). */
static void test_first_event_without_accesses(void)
{
    struct hvt_fmt_writer_options o;
    struct hvt_fmt_writer *w = NULL;
    struct hvt_pass ps[2];
    struct hvt_event ev;
    hvt_fmt_writer_options_init(&o);
    o.flags = HVT_FMT_W_OVERWRITE;
    memset(&ev, 0, sizeof(ev));
    memset(ps, 0, sizeof(ps));
    ps[0].out.kind = HVT_OUT_RETRY;
    ps[1].index = 1;
    ev.n_passes = 2;
    ev.passes = ps;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, &o), 0);
    CHECK_EQ(hvt_fmt_writer_append(w, &ev), 0);
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    CHECK_EQ(hvt_fmt_verify(path, NULL, NULL, NULL), 0);
}

static void test_bad_args(void)
{
    struct hvt_fmt_writer *w = (struct hvt_fmt_writer *)1;
    struct hvt_event *ev = gen_event(1, NULL, 0);
    CHECK_EQ(hvt_fmt_writer_open(NULL, path, NULL, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_writer_open(&w, NULL, NULL, NULL), -HVT_E_INVALID);
    CHECK(w == NULL);
    CHECK_EQ(hvt_fmt_writer_open(&w, "", NULL, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_writer_open(&w, "/nonexistent/dir/x.hvt", NULL, NULL), -HVT_E_IO);
    CHECK_EQ(hvt_fmt_writer_open_fd(NULL, 1, NULL, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_writer_open_fd(&w, -1, NULL, NULL), -HVT_E_INVALID);
    struct hvt_fmt_writer_options o;
    hvt_fmt_writer_options_init(&o);
    hvt_fmt_writer_options_init(NULL);
    CHECK_EQ(o.level, 3);
    CHECK_EQ(o.chunk_bytes, 1u << 18);
    o.level = 100;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, &o), -HVT_E_INVALID);
    hvt_fmt_writer_options_init(&o);
    o.chunk_bytes = HVT_FMT_MAX_CHUNK_BYTES + 1;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, &o), -HVT_E_INVALID);
    hvt_fmt_writer_options_init(&o);
    o.flags = 0x100;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, &o), -HVT_E_INVALID);
    hvt_fmt_writer_options_init(&o);
    o.size = 3;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, &o), -HVT_E_INVALID);
    char big[HVT_FMT_MAX_STRING + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    struct hvt_fmt_header h = {.producer = big};
    hvt_fmt_writer_options_init(&o);
    o.flags = HVT_FMT_W_OVERWRITE;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, &h, &o), -HVT_E_INVALID);

    CHECK_EQ(hvt_fmt_writer_append(NULL, ev), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_writer_append_lost(NULL, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_writer_add_callsite(NULL, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_writer_flush(NULL), -HVT_E_INVALID);
    struct hvt_fmt_writer_stats ws;
    CHECK_EQ(hvt_fmt_writer_get_stats(NULL, &ws), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_writer_close(NULL, NULL), 0);
    CHECK(hvt_fmt_writer_error(NULL) != NULL);
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, &o), 0);
    CHECK_EQ(hvt_fmt_writer_append(w, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_writer_append_lost(w, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_writer_add_callsite(w, NULL), -HVT_E_INVALID);
    struct hvt_callsite cs = {0, 0, NULL};
    CHECK_EQ(hvt_fmt_writer_add_callsite(w, &cs), -HVT_E_INVALID);
    cs.id = 4;
    cs.n_frames = HVT_FMT_MAX_FRAMES + 1;
    CHECK_EQ(hvt_fmt_writer_add_callsite(w, &cs), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_writer_get_stats(w, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_fmt_writer_append(w, ev), 0);
    CHECK_EQ(hvt_fmt_writer_get_stats(w, &ws), 0);
    CHECK_EQ(ws.events, 1);
    CHECK_EQ(ws.chunks, 0); /* still buffered */
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    gen_free(ev);
}

/* In a child with RLIMIT_FSIZE: the writer reports NOSPACE, stops, and the file stays valid up
 * to the last complete chunk. */
static void test_nospace(void)
{
    unlink(path);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {100000, 100000};
        setrlimit(RLIMIT_FSIZE, &rl);
        struct hvt_fmt_writer_options o;
        hvt_fmt_writer_options_init(&o);
        o.chunk_bytes = 16384;
        o.level = 1;
        struct hvt_fmt_writer *w;
        if (hvt_fmt_writer_open(&w, path, NULL, &o))
            _exit(10);
        int rc = 0;
        uint64_t id = 0;
        struct hvt_event *prev = NULL;
        while (rc == 0 && id < 100000) {
            struct hvt_event *ev = gen_event(id++, prev, 0);
            rc = hvt_fmt_writer_append(w, ev);
            gen_free(prev);
            prev = ev;
        }
        gen_free(prev);
        if (rc != -HVT_E_NOSPACE)
            _exit(11);
        if (!strstr(hvt_fmt_writer_error(w)->message, "chunk"))
            _exit(12);
        if (hvt_fmt_writer_append(w, prev) != -HVT_E_CLOSED)
            _exit(13);
        if (hvt_fmt_writer_close(w, NULL) != -HVT_E_NOSPACE)
            _exit(14);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    /* valid up to the last chunk: no partial chunk left, no index */
    struct hvt_fmt_verify_report rep;
    CHECK_EQ(hvt_fmt_verify(path, &rep, NULL, NULL), -HVT_E_NO_INDEX);
    CHECK(rep.chunks_good > 2);
    CHECK_EQ(rep.chunks_bad, 0);
    CHECK(!rep.truncated_tail);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_U64((uint64_t)st.st_size, rep.good_bytes);
    CHECK(st.st_size <= 100000);
}

int main(void)
{
    tmp_path(path, sizeof(path), "writer");
    RUN(test_crc32c);
    RUN(test_modes);
    RUN(test_event_checks);
    RUN(test_access_ranges);
    RUN(test_first_event_without_accesses);
    RUN(test_bad_args);
    RUN(test_nospace);
    unlink(path);
    TEST_DONE();
}
