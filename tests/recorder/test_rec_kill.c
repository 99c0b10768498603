/* SPDX-License-Identifier: MIT */
/* Recorder crash safety: a child records and is SIGKILLed at a random moment, many times;
 * every file (PATH.part, which the writer renames to PATH on close) must salvage to an exact
 * prefix of what was recorded (the events are generated deterministically, so "prefix" is
 * checked event by event). HVT_REC_KILL_ITERS sets the
 * number of kills (default 12). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hvt_test.h"
#include "rec_check.h"

#define PER_PASS 6

/* The child: two vCPUs driven alternately from one thread, so ids are deterministic too. */
static void child(const char *path, int ready_fd)
{
    struct hvt_rec_options o;
    struct hvt_rec *rec = NULL;
    char c = 'r';

    hvt_rec_options_init(&o);
    o.chunk_bytes = 16 * 1024;
    o.flush_ms = 5;
    o.level = 1;
    o.flags = HVT_REC_OVERWRITE | HVT_REC_NO_TIME;
    if (hvt_rec_open(&rec, path, NULL, &o))
        _exit(3);
    if (write(ready_fd, &c, 1) != 1)
        _exit(4);
    for (uint64_t e = 0;; e++) {
        gen_record(rec, 0, e, PER_PASS);
        gen_record(rec, 1, e, PER_PASS);
        if (e % 64 == 0) {
            struct timespec ts = {0, 200 * 1000};
            nanosleep(&ts, NULL); /* let some chunks reach the disk between kills */
        }
    }
}

static void one_kill(const char *path, const char *out, unsigned delay_us, uint64_t *total)
{
    int pfd[2];
    pid_t pid;
    char c;
    int status = 0;
    int64_t n;
    struct readback rb;

    CHECK_EQ(pipe(pfd), 0);
    pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        child(path, pfd[1]);
        _exit(0);
    }
    close(pfd[1]);
    CHECK_EQ(read(pfd[0], &c, 1), 1);
    close(pfd[0]);
    usleep(delay_us);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* a killed writer leaves PATH.part (PATH only appears once the trace is closed) */
    char part[80];
    snprintf(part, sizeof(part), "%s.part", path);
    unlink(out);
    n = hvt_fmt_salvage(part, out, NULL, NULL, NULL);
    CHECK(n >= 0);
    if (n < 0) {
        fprintf(stderr, "salvage after %u us: %s\n", delay_us, hvt_strerror((int)n));
        return;
    }
    readback(out, PER_PASS, &rb);
    CHECK_EQ(rb.err, 0);
    CHECK_U64(rb.bad_events, 0);
    CHECK(rb.ids_dense);
    CHECK_U64(rb.events, (uint64_t)n);
    /* alternating vCPUs, ids in call order: the prefix is vCPU 0, 1, 0, 1, ... */
    CHECK(rb.per_vcpu[0] == rb.per_vcpu[1] || rb.per_vcpu[0] == rb.per_vcpu[1] + 1);
    CHECK_U64(rb.markers, 0);
    if (rb.first_problem[0])
        fprintf(stderr, "after %u us: %s\n", delay_us, rb.first_problem);
    *total += rb.events;
}

static void test_kill(void)
{
    char path[] = "/tmp/hvt-rec-kill-XXXXXX";
    char out[64];
    int fd = mkstemp(path);
    const char *it = getenv("HVT_REC_KILL_ITERS");
    int iters = it ? atoi(it) : 12;
    uint64_t total = 0;
    unsigned seed = (unsigned)time(NULL);

    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd);
    snprintf(out, sizeof(out), "%s.salvaged", path);
    fprintf(stderr, "kill test: %d kills, seed %u\n", iters, seed);
    srand(seed);
    for (int i = 0; i < iters; i++) {
        /* mostly short runs; every fourth one long enough for many chunks */
        unsigned delay = (unsigned)(rand() % (i % 4 == 3 ? 300000 : 40000));
        one_kill(path, out, delay, &total);
    }
    fprintf(stderr, "kill test: %llu events salvaged in total\n", (unsigned long long)total);
    CHECK(total > 0);
    unlink(path);
    unlink(out);
    snprintf(out, sizeof(out), "%s.part", path);
    unlink(out);
}

int main(void)
{
    RUN(test_kill);
    TEST_DONE();
}
