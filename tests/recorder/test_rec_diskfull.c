/* SPDX-License-Identifier: MIT */
/* Recorder write errors: a child records under RLIMIT_FSIZE (SIGXFSZ ignored, so write()
 * fails with EFBIG). The recording must stop with -HVT_E_NOSPACE, the host must keep running
 * at full speed, and the file must be valid up to its last complete chunk. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hvt_test.h"
#include "rec_check.h"

#define PER_PASS 6
#define LIMIT (192 * 1024)

/* Child exit codes: 0 = all as expected; others say what went wrong. */
enum { C_OK = 0, C_OPEN = 10, C_NO_ERROR, C_WRONG_ERROR, C_CALL_FAILED, C_CLOSE, C_SLOW };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int child(const char *path)
{
    struct rlimit rl = {LIMIT, LIMIT};
    struct hvt_rec_options o;
    struct hvt_rec *rec = NULL;
    struct hvt_rec_stats st = {.size = sizeof(st)};
    uint64_t e = 0;
    double t0, t;
    int err;

    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl))
        return C_OPEN;
    hvt_rec_options_init(&o);
    o.chunk_bytes = 16 * 1024;
    o.level = 1;
    o.ring_bytes = 16384; /* block mode with small rings: vCPUs must be released on error */
    o.flags = HVT_REC_OVERWRITE | HVT_REC_NO_TIME;
    if (hvt_rec_open(&rec, path, NULL, &o))
        return C_OPEN;
    /* Record until the recorder reports the error (bounded: 20 s). */
    t0 = now_s();
    while (!hvt_rec_error(rec)) {
        gen_record(rec, 0, e, PER_PASS);
        e++;
        if (now_s() - t0 > 20)
            return C_NO_ERROR;
    }
    if (hvt_rec_error(rec) != -HVT_E_NOSPACE)
        return C_WRONG_ERROR;
    fprintf(stderr, "child: stopped after %llu events: %s\n", (unsigned long long)e,
            hvt_rec_error_message(rec));
    /* The host keeps running: 100,000 more events, each call succeeds, quickly. */
    t = now_s();
    for (uint64_t k = 0; k < 100000; k++, e++) {
        struct hvt_vcpu_state s;
        struct hvt_access a;
        struct hvt_pass_outcome out = {0};
        gen_state(&s, 0, e, 0);
        gen_access(&a, 0, e, 0, 0);
        if (hvt_rec_event_begin(rec, 0, &s, NULL, 0) || hvt_rec_pass_begin(rec, 0) ||
            hvt_rec_access(rec, 0, &a) || hvt_rec_pass_end(rec, 0, &out, &s) ||
            hvt_rec_event_end(rec, 0))
            return C_CALL_FAILED;
    }
    t = now_s() - t;
    err = hvt_rec_close(rec, &st);
    fprintf(stderr, "child: 100000 events after the error in %.3f s; close: %s; dropped %llu\n", t,
            hvt_strerror(err), (unsigned long long)st.dropped);
    if (err != -HVT_E_NOSPACE)
        return C_CLOSE;
    if (st.dropped < 100000 * 4)
        return C_CLOSE;
    if (t > 5.0)
        return C_SLOW;
    return C_OK;
}

static void test_diskfull(void)
{
    char path[] = "/tmp/hvt-rec-full-XXXXXX";
    char out[64];
    int fd = mkstemp(path);
    pid_t pid;
    int status = 0;
    struct hvt_fmt_verify_report rep;
    struct readback rb;
    int64_t n;

    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd);
    snprintf(out, sizeof(out), "%s.salvaged", path);
    pid = fork();
    if (pid == 0)
        _exit(child(path));
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), C_OK);

    /* The file: good chunks up to the limit, no index (the footer could not be written). */
    memset(&rep, 0, sizeof(rep));
    hvt_fmt_verify(path, &rep, NULL, NULL);
    CHECK(rep.chunks_good > 0);
    CHECK(rep.good_bytes <= LIMIT);
    fprintf(stderr, "verify: %llu good chunks, %llu bad, %llu events, truncated tail %d\n",
            (unsigned long long)rep.chunks_good, (unsigned long long)rep.chunks_bad,
            (unsigned long long)rep.events, rep.truncated_tail);
    unlink(out);
    n = hvt_fmt_salvage(path, out, NULL, NULL, NULL);
    CHECK(n > 0);
    readback(out, PER_PASS, &rb);
    CHECK_EQ(rb.err, 0);
    CHECK_U64(rb.bad_events, 0);
    CHECK(rb.ids_dense);
    CHECK_U64(rb.events, (uint64_t)n);
    CHECK_U64(rb.events, rep.events);
    unlink(path);
    unlink(out);
}

int main(void)
{
    RUN(test_diskfull);
    TEST_DONE();
}
