/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: helpers shared by the command files. */
#include "util.h"

#include "hvtrace/error.h"
#include "hvtrace/format.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


void hvt_tool_err(const char *fmt, ...)
{
    va_list ap;
    fputs("hvtrace: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int hvt_tool_parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    if (hex && !isxdigit((unsigned char)s[2]))
        return -1;
    errno = 0;
    v = strtoull(hex ? s + 2 : s, &end, hex ? 16 : 10);
    if (errno || !end || *end || end == s)
        return -1;
    *out = v;
    return 0;
}

int hvt_tool_opt_u64(const char *cmd, const char *opt, const char *val, uint64_t lo,
                     uint64_t hi, uint64_t *out)
{
    uint64_t n;
    if (hvt_tool_parse_u64(val, &n) || n < lo || n > hi) {
        hvt_tool_err("%s: %s '%s': must be %llu..%llu", cmd, opt, val, (unsigned long long)lo,
                     (unsigned long long)hi);
        return -1;
    }
    *out = n;
    return 0;
}

int hvt_tool_parse_range(const char *s, uint64_t *a, uint64_t *b)
{
    const char *dots;
    char buf[64];
    if (!s)
        return -1;
    dots = strstr(s, "..");
    if (!dots) {
        if (hvt_tool_parse_u64(s, a))
            return -1;
        *b = *a;
        return 0;
    }
    if ((size_t)(dots - s) >= sizeof(buf))
        return -1;
    memcpy(buf, s, (size_t)(dots - s));
    buf[dots - s] = 0;
    *a = 0;
    *b = UINT64_MAX;
    if (buf[0] && hvt_tool_parse_u64(buf, a))
        return -1;
    if (dots[2] && hvt_tool_parse_u64(dots + 2, b))
        return -1;
    return *a <= *b ? 0 : -1;
}

int hvt_tool_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    }
    return 0;
}

int hvt_tool_check_path(const char *cmd, const char *what, const char *path)
{
    if (path && *path)
        return 0;
    hvt_tool_err("%s: empty %s path", cmd, what);
    return -1;
}

int hvt_tool_write_exit(int rc)
{
    if (rc == -HVT_E_EXISTS || rc == -HVT_E_SAME_FILE || rc == -HVT_E_INVALID)
        return HVT_EXIT_USAGE;
    return HVT_EXIT_WRITE;
}

/* Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
 * neighbours ("dmup" is one edit from "dump"). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), d[64][64];
    if (la >= 63 || lb >= 63)
        return SIZE_MAX;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

const char *hvt_tool_nearest(const char *s, const char *const *names)
{
    const char *best = NULL;
    size_t bd = SIZE_MAX, len = s ? strlen(s) : 0;
    /* a typo is at most a third of the word, and at least one edit is allowed */
    size_t limit = len / 3 > 1 ? len / 3 : 1;
    for (size_t i = 0; s && names && names[i]; i++) {
        size_t d = edit_distance(s, names[i]);
        /* "--evnts" and "--events", but also a unique prefix: "--analysis" */
        if (d > 1 && !strncmp(names[i], s, len) && len >= 4)
            d = 1;
        if (d < bd) {
            bd = d;
            best = names[i];
        }
    }
    return bd <= limit ? best : NULL;
}

int hvt_tool_bad_arg(const char *cmd, const char *arg, const char *const *known)
{
    const char *near;
    if (arg[0] != '-') {
        hvt_tool_err("%s: unexpected argument '%s' (try --help)", cmd, arg);
        return HVT_EXIT_USAGE;
    }
    near = hvt_tool_nearest(arg, known);
    if (near)
        hvt_tool_err("%s: unknown option '%s' (did you mean '%s'? try --help)", cmd, arg, near);
    else
        hvt_tool_err("%s: unknown option '%s' (try --help)", cmd, arg);
    return HVT_EXIT_USAGE;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void hvt_progress_init(struct hvt_progress *p, const char *cmd)
{
    const char *env = getenv("HVT_PROGRESS");
    memset(p, 0, sizeof(*p));
    p->cmd = cmd;
    p->on = env && *env ? strcmp(env, "0") != 0 : isatty(2);
}

void hvt_progress_update(struct hvt_progress *p, const char *what, uint64_t done, uint64_t total)
{
    uint64_t now;
    if (!p->on)
        return;
    now = mono_ns();
    if (p->shown && now - p->last_ns < 100000000ull && done != total)
        return;
    p->last_ns = now;
    /* a line of its own: the cursor goes back to its start, and the rest of it is erased */
    if (total)
        fprintf(stderr, "\r%s: %s %llu/%llu (%u%%)\033[K", p->cmd, what,
                (unsigned long long)done, (unsigned long long)total,
                (unsigned)(done >= total ? 100 : done * 100 / total));
    else
        fprintf(stderr, "\r%s: %s %llu\033[K", p->cmd, what, (unsigned long long)done);
    fflush(stderr);
    p->shown = 1;
}

void hvt_progress_clear(struct hvt_progress *p)
{
    if (!p->on || !p->shown)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->shown = 0;
}

struct ticker_impl {
    pthread_t th;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* stop: the thread leaves at once, not at its next redraw */
    atomic_int stop;
    uint64_t t0;
};

static void ticker_draw(struct hvt_ticker *t, struct ticker_impl *im)
{
    char part[4096];
    struct stat sb;
    double secs = (double)(mono_ns() - im->t0) / 1e9;
    snprintf(part, sizeof(part), "%s.part", t->watch ? t->watch : "");
    if (t->watch && (stat(part, &sb) == 0 || stat(t->watch, &sb) == 0))
        fprintf(stderr, "\r%s: %s, %.1f MiB written, %.0f s\033[K", t->p.cmd, t->what,
                (double)sb.st_size / 1048576.0, secs);
    else
        fprintf(stderr, "\r%s: %s, %.0f s\033[K", t->p.cmd, t->what, secs);
    fflush(stderr);
    t->p.shown = 1;
}

static void *ticker_main(void *arg)
{
    struct hvt_ticker *t = arg;
    struct ticker_impl *im = t->impl;
    pthread_mutex_lock(&im->lock);
    while (!atomic_load(&im->stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&im->wake, &im->lock, &ts);
        if (!atomic_load(&im->stop))
            ticker_draw(t, im);
    }
    pthread_mutex_unlock(&im->lock);
    return NULL;
}

void hvt_ticker_start(struct hvt_ticker *t, const char *cmd, const char *what, const char *watch)
{
    struct ticker_impl *im;
    memset(t, 0, sizeof(*t));
    hvt_progress_init(&t->p, cmd);
    t->what = what;
    t->watch = watch;
    if (!t->p.on || !(im = calloc(1, sizeof(*im))))
        return;
    pthread_mutex_init(&im->lock, NULL);
    pthread_cond_init(&im->wake, NULL);
    im->t0 = mono_ns();
    t->impl = im;
    ticker_draw(t, im); /* at once, then five times a second */
    if (pthread_create(&im->th, NULL, ticker_main, t)) {
        pthread_cond_destroy(&im->wake);
        pthread_mutex_destroy(&im->lock);
        free(im);
        t->impl = NULL;
        hvt_progress_clear(&t->p);
        return;
    }
    t->running = 1;
}

void hvt_ticker_hold(struct hvt_ticker *t)
{
    struct ticker_impl *im = t->impl;
    if (!t->running)
        return;
    pthread_mutex_lock(&im->lock);
    hvt_progress_clear(&t->p);
}

void hvt_ticker_release(struct hvt_ticker *t)
{
    struct ticker_impl *im = t->impl;
    if (t->running)
        pthread_mutex_unlock(&im->lock);
}

void hvt_ticker_stop(struct hvt_ticker *t)
{
    struct ticker_impl *im = t->impl;
    if (!t->running)
        return;
    pthread_mutex_lock(&im->lock);
    atomic_store(&im->stop, 1);
    pthread_cond_signal(&im->wake);
    pthread_mutex_unlock(&im->lock);
    pthread_join(im->th, NULL);
    pthread_cond_destroy(&im->wake);
    pthread_mutex_destroy(&im->lock);
    free(im);
    t->impl = NULL;
    t->running = 0;
    hvt_progress_clear(&t->p);
}

int hvt_tool_core_option(const char *cmd, char *arg, struct hvt_kv *kv, size_t *n, size_t max)
{
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg || *n >= max) {
        hvt_tool_err("%s: --core-option wants KEY=VALUE (at most %zu)", cmd, max);
        return -1;
    }
    *eq = 0;
    kv[*n].key = arg;
    kv[*n].value = eq + 1;
    (*n)++;
    return 0;
}
